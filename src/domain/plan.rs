//! The migration plan: stages in order, each with the steps assessment → privileges → copy →
//! validate (and rollback once copy has written), as a state machine. A stage unlocks when the
//! previous one validated; an override needs a reason. A step whose run ended without an
//! outcome (killed, cancelled, its lease lost) is *interrupted*: resumed or rolled back.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    Assessment,
    Privileges,
    Copy,
    Validate,
    Rollback,
}

/// Every step, in the order the checklist shows them.
pub const ALL_STEPS: [Step; 5] = [
    Step::Assessment,
    Step::Privileges,
    Step::Copy,
    Step::Validate,
    Step::Rollback,
];

impl Step {
    /// The forward steps, in order (rollback is on demand).
    pub const FORWARD: [Step; 4] = [
        Step::Assessment,
        Step::Privileges,
        Step::Copy,
        Step::Validate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Assessment => "assessment",
            Step::Privileges => "privileges",
            Step::Copy => "copy",
            Step::Validate => "validate",
            Step::Rollback => "rollback",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Step {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "assessment" => Ok(Step::Assessment),
            "privileges" => Ok(Step::Privileges),
            "copy" => Ok(Step::Copy),
            "validate" => Ok(Step::Validate),
            "rollback" => Ok(Step::Rollback),
            other => Err(format!(
                "unknown step '{other}'; steps are assessment, privileges, copy, validate, rollback"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "reason", rename_all = "snake_case")]
pub enum StepState {
    Pending,
    /// A live run holds the stage's lease and runs this step.
    Running,
    /// The run ended without an outcome. The reason reads `WHERE: WHY`, e.g.
    /// `at 265000 rows: cancelled`.
    Interrupted(String),
    Passed,
    Failed(String),
    Skipped(String),
    RolledBack,
}

impl StepState {
    pub fn label(&self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Running => "running",
            StepState::Interrupted(_) => "interrupted",
            StepState::Passed => "passed",
            StepState::Failed(_) => "failed",
            StepState::Skipped(_) => "skipped",
            StepState::RolledBack => "rolled back",
        }
    }

    pub fn icon(&self) -> &'static str {
        match self {
            StepState::Pending => "·",
            StepState::Running => "⟳",
            StepState::Interrupted(_) => "⏸",
            StepState::Passed => "✓",
            StepState::Failed(_) => "✗",
            StepState::Skipped(_) => "–",
            StepState::RolledBack => "↺",
        }
    }

    pub fn done(&self) -> bool {
        matches!(self, StepState::Passed | StepState::Skipped(_))
    }

    /// The label with where an interruption stopped: `interrupted at 265000 rows`.
    pub fn headline(&self) -> String {
        match self {
            StepState::Interrupted(r) => match r.split_once(": ") {
                Some((at, _)) => format!("interrupted {at}"),
                None => "interrupted".into(),
            },
            other => other.label().into(),
        }
    }
}

/// Who holds a stage's lease: the run under way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseHolder {
    pub host: String,
    pub pid: u32,
    /// When the run started, as the reader's local time.
    pub since: String,
    pub step: Step,
}

impl fmt::Display for LeaseHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pid {} on host {} since {} ({})",
            self.pid, self.host, self.since, self.step
        )
    }
}

/// One stage's step states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageState {
    pub name: String,
    pub target: String,
    pub assessment: StepState,
    pub privileges: StepState,
    pub copy: StepState,
    pub validate: StepState,
    pub rollback: StepState,
    /// Why the stage was unlocked without its predecessor validating, if it was.
    pub override_reason: Option<String>,
    /// True while the journal holds a pre-stage record of any table: the copy has written, or
    /// committed its intent to write, so there is something to roll back. Read from the journal.
    pub written: bool,
    /// The run that holds the stage's lease now, if one does. Read from the lease.
    #[serde(default)]
    pub lease: Option<LeaseHolder>,
    /// A rollback that began and has not finished: how far it got. Read from the journal.
    #[serde(default)]
    pub rollback_unfinished: Option<String>,
    /// Every table the copy began has all its rows in (whatever became of its schema objects
    /// after them): the rows can be validated. Read from the journal.
    #[serde(default)]
    pub rows_copied: bool,
}

impl StageState {
    pub fn new(name: &str, target: &str) -> Self {
        StageState {
            name: name.into(),
            target: target.into(),
            assessment: StepState::Pending,
            privileges: StepState::Pending,
            copy: StepState::Pending,
            validate: StepState::Pending,
            rollback: StepState::Pending,
            override_reason: None,
            written: false,
            lease: None,
            rollback_unfinished: None,
            rows_copied: false,
        }
    }

    /// The steps journaled as running.
    pub fn running(&self) -> Vec<Step> {
        ALL_STEPS
            .into_iter()
            .filter(|s| *self.get(*s) == StepState::Running)
            .collect()
    }

    pub fn get(&self, step: Step) -> &StepState {
        match step {
            Step::Assessment => &self.assessment,
            Step::Privileges => &self.privileges,
            Step::Copy => &self.copy,
            Step::Validate => &self.validate,
            Step::Rollback => &self.rollback,
        }
    }

    pub fn set(&mut self, step: Step, state: StepState) {
        match step {
            Step::Assessment => self.assessment = state,
            Step::Privileges => self.privileges = state,
            Step::Copy => self.copy = state,
            Step::Validate => self.validate = state,
            Step::Rollback => self.rollback = state,
        }
    }

    /// The forward steps not yet done, in order.
    pub fn remaining(&self) -> Vec<Step> {
        Step::FORWARD
            .into_iter()
            .filter(|s| !self.get(*s).done())
            .collect()
    }

    pub fn validated(&self) -> bool {
        self.validate == StepState::Passed
    }
}

/// Why stage `index` is locked (the previous stage has not validated and no override lifts
/// it), or None. A locked stage's read-only steps run; its copy waits.
pub fn locked(stages: &[StageState], index: usize) -> Option<String> {
    let stage = &stages[index];
    (index > 0 && stage.override_reason.is_none() && !stages[index - 1].validated()).then(|| {
        format!(
            "stage '{}' is locked: the previous stage '{}' has not validated; run it first, or override the lock with a reason",
            stage.name,
            stages[index - 1].name
        )
    })
}

/// The earlier steps of a stage that failed or were skipped, in words, for a confirmation of
/// `step` to name before the user says yes: `privileges failed: …`.
pub fn earlier_trouble(stage: &StageState, step: Step) -> Vec<String> {
    Step::FORWARD
        .into_iter()
        .take_while(|s| *s != step)
        .filter_map(|s| match stage.get(s) {
            StepState::Failed(why) => Some(format!("{s} failed: {why}")),
            StepState::Skipped(why) => Some(format!("{s} was skipped: {why}")),
            StepState::Interrupted(why) => Some(format!("{s} was interrupted: {why}")),
            _ => None,
        })
        .collect()
}

/// Whether `step` of stage `index` may run now, and if not, why and how to proceed.
pub fn may_run(stages: &[StageState], index: usize, step: Step) -> Result<(), String> {
    let stage = &stages[index];
    // The lock holds back the copy, the one forward step that writes; a DBA may assess a
    // later stage early, and validation and rollback only follow a copy.
    if step == Step::Copy
        && let Some(why) = locked(stages, index)
    {
        return Err(why);
    }
    let name = &stage.name;
    match step {
        Step::Rollback if !stage.written => Err(format!(
            "stage '{name}' has written nothing to roll back: no table has a pre-stage record"
        )),
        Step::Copy | Step::Validate if stage.rollback_unfinished.is_some() => Err(format!(
            "a rollback of stage '{name}' is unfinished ({}): finish the rollback first",
            stage.rollback_unfinished.as_deref().unwrap_or_default()
        )),
        Step::Validate => match &stage.copy {
            StepState::Passed | StepState::Skipped(_) => Ok(()),
            // The rows are in though something after them failed: they are proven all the same,
            // and validate reports the objects too.
            StepState::Failed(_) if stage.rows_copied => Ok(()),
            StepState::RolledBack => Err(format!(
                "stage '{name}' was rolled back: there is no copy to validate; run copy again first"
            )),
            StepState::Interrupted(r) => Err(format!(
                "the copy of stage '{name}' was interrupted ({r}): resume it (it continues from its checkpoint) before validate"
            )),
            _ => Err(format!(
                "stage '{name}' has not copied yet: run copy before validate"
            )),
        },
        Step::Copy if !stage.assessment.done() => Err(match &stage.assessment {
            StepState::Failed(why) => format!(
                "the assessment of stage '{name}' failed with {why}; fix what it found and assess again before the copy"
            ),
            _ => format!("stage '{name}' needs its assessment first"),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stages() -> Vec<StageState> {
        vec![
            StageState::new("training", "training"),
            StageState::new("devnode", "devnode"),
        ]
    }

    #[test]
    fn a_stage_unlocks_when_the_previous_one_validated_or_with_a_reason() {
        let mut s = stages();
        s[1].assessment = StepState::Passed;
        let e = may_run(&s, 1, Step::Copy).unwrap_err();
        assert!(e.contains("stage 'devnode' is locked"), "{e}");
        assert!(locked(&s, 1).is_some());
        // Locked, its read-only steps still run: a DBA assesses a later stage early.
        assert!(may_run(&s, 1, Step::Assessment).is_ok());
        assert!(may_run(&s, 1, Step::Privileges).is_ok());
        s[0].validate = StepState::Passed;
        assert!(may_run(&s, 1, Step::Copy).is_ok());
        assert!(locked(&s, 1).is_none());
        let mut s = stages();
        s[1].assessment = StepState::Passed;
        s[1].override_reason = Some("training refresh is done by hand this week".into());
        assert!(may_run(&s, 1, Step::Copy).is_ok());
    }

    #[test]
    fn validate_follows_a_copy_whose_rows_are_in_even_when_something_after_them_failed() {
        let mut s = stages();
        s[0].copy = StepState::Failed("the rows are copied, but 1 schema object is not".into());
        let e = may_run(&s, 0, Step::Validate).unwrap_err();
        assert!(e.contains("has not copied yet"), "{e}");
        s[0].rows_copied = true;
        assert!(may_run(&s, 0, Step::Validate).is_ok());
        // Rows still missing: nothing to prove yet.
        s[0].rows_copied = false;
        s[0].copy = StepState::Interrupted("at 10 rows: cancelled".into());
        assert!(may_run(&s, 0, Step::Validate).is_err());
    }

    #[test]
    fn a_confirmation_names_every_earlier_step_that_failed_or_was_skipped() {
        let mut s = stages();
        s[0].assessment = StepState::Passed;
        s[0].privileges = StepState::Failed("sp-billing-dataflow lacks EXECUTE".into());
        assert_eq!(
            earlier_trouble(&s[0], Step::Copy),
            ["privileges failed: sp-billing-dataflow lacks EXECUTE"]
        );
        assert!(earlier_trouble(&s[0], Step::Privileges).is_empty());
    }

    #[test]
    fn steps_go_in_order_and_rollback_needs_a_write() {
        let mut s = stages();
        assert!(
            may_run(&s, 0, Step::Copy)
                .unwrap_err()
                .contains("assessment first")
        );
        assert!(
            may_run(&s, 0, Step::Validate)
                .unwrap_err()
                .contains("run copy before validate")
        );
        assert!(
            may_run(&s, 0, Step::Rollback)
                .unwrap_err()
                .contains("nothing to roll back")
        );
        s[0].assessment = StepState::Passed;
        s[0].privileges = StepState::Skipped("no principals configured".into());
        assert_eq!(s[0].remaining(), vec![Step::Copy, Step::Validate]);
        assert!(may_run(&s, 0, Step::Copy).is_ok());
        s[0].written = true;
        assert!(may_run(&s, 0, Step::Rollback).is_ok());
    }

    #[test]
    fn an_interrupted_or_half_rolled_back_stage_says_what_comes_next() {
        let mut s = stages();
        s[0].assessment = StepState::Passed;
        s[0].written = true;
        s[0].copy = StepState::Interrupted("at 265000 rows: cancelled".into());
        assert_eq!(s[0].copy.headline(), "interrupted at 265000 rows");
        assert_eq!(s[0].copy.icon(), "⏸");
        let e = may_run(&s, 0, Step::Validate).unwrap_err();
        assert!(
            e.contains("was interrupted (at 265000 rows: cancelled): resume it"),
            "{e}"
        );
        assert!(may_run(&s, 0, Step::Copy).is_ok(), "a copy resumes");
        assert!(may_run(&s, 0, Step::Rollback).is_ok(), "or is rolled back");
        let next = crate::domain::next::next_action(&s[0], &Default::default()).unwrap();
        assert_eq!(
            next.cli(),
            "training · copy was interrupted (at 265000 rows: cancelled): run `tpdb migrate run training --step copy --yes`; or `tpdb migrate rollback training --yes`"
        );
        assert!(
            next.tui()
                .contains("Enter on copy resumes it from its checkpoint; b undoes it")
        );
        s[0].rollback_unfinished = Some("2 of 5 tables restored".into());
        for step in [Step::Copy, Step::Validate] {
            let e = may_run(&s, 0, step).unwrap_err();
            assert!(
                e.contains("a rollback of stage 'training' is unfinished (2 of 5 tables restored)"),
                "{e}"
            );
        }
        assert!(may_run(&s, 0, Step::Rollback).is_ok());
        s[0].lease = Some(LeaseHolder {
            host: "h".into(),
            pid: 4242,
            since: "10:41:07".into(),
            step: Step::Rollback,
        });
        assert_eq!(
            crate::domain::next::next_action(&s[0], &Default::default())
                .unwrap()
                .cli(),
            "training is being run by pid 4242 on host h since 10:41:07 (rollback)"
        );
        let mut s = stages();
        s[0].copy = StepState::RolledBack;
        assert!(
            may_run(&s, 0, Step::Validate)
                .unwrap_err()
                .contains("was rolled back")
        );
    }

    #[test]
    fn steps_parse_and_explain_the_choices() {
        assert_eq!("Copy".parse::<Step>().unwrap(), Step::Copy);
        assert!(
            "cpy"
                .parse::<Step>()
                .unwrap_err()
                .contains("steps are assessment, privileges")
        );
    }
}
