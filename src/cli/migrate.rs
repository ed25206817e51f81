//! `tpdb migrate status|run|rollback`: the staged migration without the TUI.

use clap::Subcommand;

use super::output::{Format, csv, table};
use crate::config::Config;
use crate::domain::plan::{ALL_STEPS, Step, StepState};
use crate::error::{EXIT_FINDINGS, EXIT_OK, Error};
use crate::flows::Progress;
use crate::flows::gate::{self, Consent, Write};
use crate::flows::migration::{self, StepReport};

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Every stage's steps and their states.
    Status {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Run a stage's next steps in order (stopping at the first failure), or one step.
    Run {
        stage: String,
        #[arg(long, value_parser = parse_step)]
        step: Option<Step>,
        /// Let copy write to the target (without it, copy only says what it would do).
        #[arg(long)]
        yes: bool,
        /// The target's name, when it is protected.
        #[arg(long, value_name = "NODE")]
        confirm: Option<String>,
        /// Unlock the stage although the previous one has not validated; journaled.
        #[arg(long = "override", value_name = "REASON")]
        override_reason: Option<String>,
    },
    /// Restore the stage's target to its pre-stage state and prove it by checksum.
    Rollback {
        stage: String,
        #[arg(long)]
        yes: bool,
        #[arg(long, value_name = "NODE")]
        confirm: Option<String>,
    },
}

fn parse_step(s: &str) -> Result<Step, String> {
    s.parse()
}

fn print_report(r: &StepReport) {
    let reason = match &r.state {
        StepState::Failed(w) | StepState::Skipped(w) => format!(": {w}"),
        _ => String::new(),
    };
    outln!(
        "{} {} · {} {}{} ({} ms)",
        r.state.icon(),
        r.stage,
        r.step,
        r.state.label(),
        reason,
        r.millis
    );
    for f in &r.findings {
        outln!("    {f}");
    }
    if !r.tables.is_empty() {
        let rows: Vec<Vec<String>> = r
            .tables
            .iter()
            .map(|(n, c, note)| vec![format!("    {n}"), c.to_string(), note.clone()])
            .collect();
        out!("{}", table(&["    table", "rows", ""], &rows));
    }
}

/// Progress on stderr: every new phase, but a running count at most once a second.
fn progress(p: Progress) {
    static LAST: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);
    if p.fraction.is_some_and(|f| f < 1.0) {
        let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(1)) {
            return;
        }
        *last = Some(std::time::Instant::now());
    }
    eprintln!("  {}", p.message);
}

pub async fn run(config: &Config, cmd: MigrateCommand) -> Result<i32, Error> {
    match cmd {
        MigrateCommand::Status { format } => {
            let stages = migration::status(config)?;
            let header = [
                "stage",
                "target",
                "assessment",
                "privileges",
                "copy",
                "validate",
                "rollback",
            ];
            match format {
                Format::Json => outln!(
                    "{}",
                    serde_json::to_string_pretty(&stages).unwrap_or_default()
                ),
                Format::Csv => {
                    // One row per stage; each step's state word, then its reason.
                    let rows: Vec<Vec<String>> = stages
                        .iter()
                        .enumerate()
                        .map(|(i, s)| {
                            let mut r = vec![s.name.clone(), s.target.clone()];
                            for step in ALL_STEPS {
                                r.push(s.get(step).label().to_string());
                            }
                            r.push(
                                migration::next_action(config, &stages, i, false)
                                    .map(|n| n.cli())
                                    .unwrap_or_default(),
                            );
                            r
                        })
                        .collect();
                    let mut h = header.to_vec();
                    h.push("next");
                    out!("{}", csv(&h, &rows));
                }
                Format::Table => {
                    let rows: Vec<Vec<String>> = stages
                        .iter()
                        .map(|s| {
                            let mut r = vec![s.name.clone(), s.target.clone()];
                            for step in ALL_STEPS {
                                let st = s.get(step);
                                r.push(format!("{} {}", st.icon(), st.headline()));
                            }
                            r
                        })
                        .collect();
                    out!("{}", table(&header, &rows));
                    for i in 0..stages.len() {
                        if let Some(next) = migration::next_action(config, &stages, i, false) {
                            outln!("{}", next.cli());
                        }
                    }
                }
            }
            Ok(EXIT_OK)
        }
        MigrateCommand::Run {
            stage,
            step,
            yes,
            confirm,
            override_reason,
        } => {
            let m = migration::migration(config)?;
            let i = migration::stage_index(m, &stage)?;
            let target = m.stages[i].target.clone();
            let consent = Consent::cli(yes, confirm.as_deref());
            if let Some(reason) = &override_reason {
                migration::override_stage(config, &stage, reason, &consent)?;
            }
            let steps = match step {
                Some(s) => vec![s],
                None => migration::status(config)?[i].remaining(),
            };
            run_steps(config, &stage, &target, &steps, &consent).await
        }
        MigrateCommand::Rollback {
            stage,
            yes,
            confirm,
        } => {
            let m = migration::migration(config)?;
            let i = migration::stage_index(m, &stage)?;
            let target = m.stages[i].target.clone();
            let consent = Consent::cli(yes, confirm.as_deref());
            run_steps(config, &stage, &target, &[Step::Rollback], &consent).await
        }
    }
}

/// Run `steps` of `stage` in order, stopping at the first failure. A step that writes the
/// target passes the gate: every such step is checked before the first step runs, so a
/// refusal comes before any work; without `--yes` the run stops, with nothing changed, at the
/// first step that writes and says what it would do.
async fn run_steps(
    config: &Config,
    stage: &str,
    target: &str,
    steps: &[Step],
    consent: &Consent,
) -> Result<i32, Error> {
    if consent.yes {
        for s in steps.iter().filter(|s| gate::step_writes(**s)) {
            let write = Write::MigrationStep {
                stage: stage.into(),
                step: *s,
            };
            gate::require(config, target, &write, consent)?;
        }
    }
    for (n, s) in steps.iter().enumerate() {
        if gate::step_writes(*s) && !consent.yes {
            // Said when the run gets here, not before: an earlier failure stops it first.
            let write = Write::MigrationStep {
                stage: stage.into(),
                step: *s,
            };
            let command = write.command(target);
            let confirm = if gate::protected(config, target)? {
                format!(" --confirm {target}")
            } else {
                String::new()
            };
            // A step that could not run now says why, not what it would change.
            let stages = migration::status(config)?;
            if let Some(i) = stages.iter().position(|x| x.name == stage)
                && let Err(why) = crate::domain::plan::may_run(&stages, i, *s)
            {
                return Err(Error::Refused(why));
            }
            // What it would change, table by table and object by object, before the command
            // that runs it.
            match migration::preview(config, stage, *s).await {
                Ok(lines) => {
                    outln!("{s} of stage {stage} would change on {target}:");
                    for l in lines {
                        outln!("  {l}");
                    }
                }
                Err(e) => eprintln!("what {s} would change cannot be read now: {e}"),
            }
            eprintln!("nothing was changed: run `{command} --yes{confirm}` to run it");
            break;
        }
        let r = match migration::run_step(config, stage, *s, consent, &progress).await {
            Ok(r) => r,
            Err(Error::Refused(why)) => {
                return Err(Error::Refused(match next_of(config, stage, true) {
                    Some(next) => format!("{why}\nnext: {next}"),
                    None => why,
                }));
            }
            Err(e) => return Err(e),
        };
        print_report(&r);
        if matches!(r.state, StepState::Failed(_)) {
            if steps.get(n + 1).is_some() {
                eprintln!("{s} failed, so the steps after it did not run");
            }
            // The way forward from the state the failure left, as status computes it.
            if let Some(next) = next_of(config, stage, false) {
                eprintln!("next: {next}");
            }
            return Ok(failure_code(&r));
        }
    }
    Ok(EXIT_OK)
}

/// The way forward for `stage` from its state now, for the command line; `refused`: a step
/// was refused (a lock is then what stands in the way first).
fn next_of(config: &Config, stage: &str, refused: bool) -> Option<String> {
    let stages = migration::status(config).ok()?;
    let i = stages.iter().position(|x| x.name == stage)?;
    migration::next_action(config, &stages, i, refused).map(|n| n.cli())
}

/// A failed step exits 1, or 3 when a node could not be reached or refused the login.
fn failure_code(r: &migration::StepReport) -> i32 {
    if r.unreachable {
        crate::error::EXIT_CONNECTION
    } else {
        EXIT_FINDINGS
    }
}
