//! What moves a stage forward after any outcome — interrupted, failed, refused, locked, rolled
//! back — as one action: the commands a user runs on the command line, in order, and the keys
//! that do it in the TUI. Every command is complete (flags a protected target needs included)
//! so that running it as printed is accepted.

use super::plan::{StageState, Step, StepState};

/// What the stage's situation needs to know beyond the stage itself.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The target is protected: its writes need `--confirm TARGET`.
    pub protected: bool,
    /// The configured principals, by their config names (the privileges step checks each).
    pub principals: Vec<String>,
    /// The stage before this one, when this one is locked behind it: its name, and the flags
    /// a write to its target needs (`--yes`, `--confirm TARGET`).
    pub locked_behind: Option<(String, String)>,
    /// The user asked for this stage just now (a refused step, the stage selected): a lock is
    /// worth a word even before the stage has started.
    pub asked: bool,
}

impl Context {
    /// The context of stage `index` among `stages`: locked behind the stage before it when
    /// that one has not validated and no override lifts the lock.
    /// `protected` says whether a node is protected.
    pub fn of(
        stages: &[StageState],
        index: usize,
        protected: &dyn Fn(&str) -> bool,
        principals: &[String],
    ) -> Context {
        Context {
            protected: protected(&stages[index].target),
            principals: principals.to_vec(),
            locked_behind: super::plan::locked(stages, index).map(|_| {
                let prev = &stages[index - 1];
                let flags = if protected(&prev.target) {
                    format!("--yes --confirm {}", prev.target)
                } else {
                    "--yes".to_string()
                };
                (prev.name.clone(), flags)
            }),
            asked: false,
        }
    }
}

/// One way forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Next {
    /// Why, in words.
    pub why: String,
    /// The command lines to run, in order (none: wait).
    pub commands: Vec<String>,
    /// Another way, when there is one (`or roll back: …`).
    pub instead: Option<String>,
    /// The same in the TUI's keys.
    pub keys: String,
}

impl Next {
    /// For the command line: `why: run `a`, then `b``.
    pub fn cli(&self) -> String {
        let mut s = self.why.clone();
        if !self.commands.is_empty() {
            let list: Vec<String> = self.commands.iter().map(|c| format!("`{c}`")).collect();
            s.push_str(": run ");
            s.push_str(&list.join(", then "));
        }
        if let Some(other) = &self.instead {
            s.push_str(&format!("; or `{other}`"));
        }
        s
    }

    /// For the TUI: `why: keys`.
    pub fn tui(&self) -> String {
        format!("{}: {}", self.why, self.keys)
    }
}

/// Flags a write to the target needs: `--yes`, and `--confirm TARGET` when it is protected.
fn write_flags(stage: &StageState, ctx: &Context) -> String {
    if ctx.protected {
        format!("--yes --confirm {}", stage.target)
    } else {
        "--yes".into()
    }
}

fn copy_command(stage: &StageState, ctx: &Context) -> String {
    format!(
        "tpdb migrate run {} --step copy {}",
        stage.name,
        write_flags(stage, ctx)
    )
}

fn rollback_command(stage: &StageState, ctx: &Context) -> String {
    format!(
        "tpdb migrate rollback {} {}",
        stage.name,
        write_flags(stage, ctx)
    )
}

fn step_command(stage: &StageState, step: Step, ctx: &Context) -> String {
    match step {
        Step::Copy => copy_command(stage, ctx),
        Step::Rollback => rollback_command(stage, ctx),
        s => format!("tpdb migrate run {} --step {s}", stage.name),
    }
}

/// The file a principal's fix for a target is written to.
pub fn fix_file(principal: &str, target: &str) -> String {
    let safe: String = principal
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("fix-{safe}-{target}.sql")
}

/// The way past the lock of a stage whose copy waits for the stage before it: run that stage,
/// or override the lock. None when it is not locked, or nobody asked for it and it has not
/// started (the stage before it comes first, and says so).
fn past_the_lock(stage: &StageState, ctx: &Context) -> Option<Next> {
    let name = &stage.name;
    if let Some((prev, flags)) = &ctx.locked_behind
        && !stage.copy.done()
        && (ctx.asked || stage.assessment != StepState::Pending)
    {
        return Some(Next {
            why: format!("{name} is locked until {prev} validates"),
            commands: vec![format!("tpdb migrate run {prev} {flags}")],
            instead: Some(format!(
                "tpdb migrate run {name} --override \"REASON\" {}",
                write_flags(stage, ctx)
            )),
            keys: format!(
                "run {prev} first, or o overrides with a reason (assessment and privileges run meanwhile)"
            ),
        });
    }
    None
}

/// The way forward from where `stage` stands, or None when its next step simply runs.
pub fn next_action(stage: &StageState, ctx: &Context) -> Option<Next> {
    let name = &stage.name;
    if let Some(h) = &stage.lease {
        return Some(Next {
            why: format!("{name} is being run by {h}"),
            commands: Vec::new(),
            instead: None,
            keys: "wait for it, or stop it where it runs".into(),
        });
    }
    if let Some(r) = &stage.rollback_unfinished {
        return Some(Next {
            why: format!("{name}: a rollback is unfinished ({r})"),
            commands: vec![rollback_command(stage, ctx)],
            instead: None,
            keys: "b finishes it".into(),
        });
    }
    for step in super::plan::ALL_STEPS {
        if let StepState::Interrupted(r) = stage.get(step) {
            let why = format!("{name} · {step} was interrupted ({r})");
            return Some(match step {
                Step::Copy => Next {
                    why,
                    commands: vec![copy_command(stage, ctx)],
                    instead: Some(rollback_command(stage, ctx)),
                    keys: "Enter on copy resumes it from its checkpoint; b undoes it".into(),
                },
                Step::Rollback => Next {
                    why,
                    commands: vec![rollback_command(stage, ctx)],
                    instead: None,
                    keys: "b finishes it".into(),
                },
                s => Next {
                    why,
                    commands: vec![step_command(stage, s, ctx)],
                    instead: None,
                    keys: format!("Enter on {s} runs it again"),
                },
            });
        }
    }
    // Asked for a stage that is locked, the lock is what stands in the way first.
    if ctx.asked
        && let Some(next) = past_the_lock(stage, ctx)
    {
        return Some(next);
    }
    for step in Step::FORWARD {
        let StepState::Failed(r) = stage.get(step) else {
            continue;
        };
        let why = format!("{name} · {step} failed ({r})");
        return Some(match step {
            Step::Assessment => Next {
                why: format!("{why}; fix what it found"),
                commands: vec![step_command(stage, step, ctx)],
                instead: None,
                keys: "Enter on assessment runs it again".into(),
            },
            Step::Privileges => {
                let target = &stage.target;
                let mut commands = Vec::new();
                for p in &ctx.principals {
                    let file = fix_file(p, target);
                    commands.push(format!(
                        "tpdb privileges check --principal {p} --node {target} --script {file}"
                    ));
                    commands.push(format!(
                        "tpdb privileges apply --node {target} --script {file} {}",
                        write_flags(stage, ctx)
                    ));
                }
                commands.push(step_command(stage, step, ctx));
                Next {
                    why: format!("{why}; each principal's fix is written to a file and applied"),
                    commands,
                    instead: None,
                    keys: format!(
                        "2 Privileges, principal vs {target}, a applies the fix; then Enter on privileges"
                    ),
                }
            }
            Step::Copy if stage.written => Next {
                why: format!("{why}; fix what it found and run it again (it resumes)"),
                commands: vec![copy_command(stage, ctx)],
                instead: Some(rollback_command(stage, ctx)),
                keys: "Enter on copy runs it again; b rolls the stage back".into(),
            },
            Step::Copy => Next {
                why: format!("{why}; fix what it found"),
                commands: vec![copy_command(stage, ctx)],
                instead: None,
                keys: "Enter on copy runs it again".into(),
            },
            _ => Next {
                why: format!("{why}; the target differs from the source"),
                commands: vec![
                    rollback_command(stage, ctx),
                    copy_command(stage, ctx),
                    step_command(stage, Step::Validate, ctx),
                ],
                instead: None,
                keys: "b rolls back, then Enter on copy, then v validates".into(),
            },
        });
    }
    if let Some(next) = past_the_lock(stage, ctx) {
        return Some(next);
    }
    if stage.copy == StepState::RolledBack {
        return Some(Next {
            why: format!("{name} was rolled back"),
            commands: vec![copy_command(stage, ctx)],
            instead: None,
            keys: "Enter on copy copies again".into(),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(protected: bool) -> Context {
        Context {
            protected,
            principals: vec!["sp-billing-dataflow".into()],
            locked_behind: None,
            asked: false,
        }
    }

    #[test]
    fn a_failed_validate_says_rollback_then_copy_then_validate() {
        let mut s = StageState::new("prod", "prod");
        s.assessment = StepState::Passed;
        s.copy = StepState::Passed;
        s.written = true;
        s.validate = StepState::Failed("dbo.Site differs".into());
        let n = next_action(&s, &ctx(true)).unwrap();
        assert_eq!(
            n.commands,
            [
                "tpdb migrate rollback prod --yes --confirm prod",
                "tpdb migrate run prod --step copy --yes --confirm prod",
                "tpdb migrate run prod --step validate"
            ]
        );
        assert!(!n.cli().contains("(b)"), "no TUI keys on the command line");
        assert!(n.tui().contains("b rolls back"));
    }

    #[test]
    fn a_locked_stage_names_the_stage_before_it_or_an_override() {
        let mut s = StageState::new("devnode", "devnode");
        let mut c = ctx(false);
        c.locked_behind = Some(("training".into(), "--yes".into()));
        assert_eq!(next_action(&s, &c), None, "not started: nothing to say");
        c.asked = true;
        assert!(next_action(&s, &c).is_some(), "unless asked for");
        c.asked = false;
        s.assessment = StepState::Passed;
        let n = next_action(&s, &c).unwrap();
        assert_eq!(n.commands, ["tpdb migrate run training --yes"]);
        assert_eq!(
            n.instead.as_deref(),
            Some("tpdb migrate run devnode --override \"REASON\" --yes")
        );
    }

    #[test]
    fn failed_privileges_write_each_fix_to_a_named_file_and_apply_it() {
        let mut s = StageState::new("uat", "uat");
        s.privileges = StepState::Failed("sp lacks EXECUTE".into());
        let n = next_action(&s, &ctx(false)).unwrap();
        assert_eq!(
            n.commands,
            [
                "tpdb privileges check --principal sp-billing-dataflow --node uat --script fix-sp-billing-dataflow-uat.sql",
                "tpdb privileges apply --node uat --script fix-sp-billing-dataflow-uat.sql --yes",
                "tpdb migrate run uat --step privileges"
            ]
        );
    }

    #[test]
    fn a_refused_copy_of_a_locked_stage_names_the_lock_a_failure_names_its_fix() {
        let mut s = StageState::new("devnode", "devnode");
        s.assessment = StepState::Passed;
        s.privileges = StepState::Failed("migration_user has no database user".into());
        let mut c = ctx(false);
        c.locked_behind = Some(("training".into(), "--yes".into()));
        let failure = next_action(&s, &c).unwrap();
        assert_eq!(
            failure.commands.last().map(String::as_str),
            Some("tpdb migrate run devnode --step privileges")
        );
        c.asked = true;
        let refusal = next_action(&s, &c).unwrap();
        assert_eq!(refusal.commands, ["tpdb migrate run training --yes"]);
    }
}
