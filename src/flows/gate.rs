//! The one confirmation policy every write to a node passes, whatever its path — a CLI flag, a
//! TUI confirmation, a scheduled run: the user said yes (`--yes`, or Enter on a confirmation
//! that shows what runs) and, when the node is protected, typed its name (`--confirm NODE`).
//! Each writing flow calls [`require`] itself, so no caller can reach a write without it.

use crate::config::Config;
use crate::domain::plan::Step;
use crate::error::Error;

/// What a write is, for the policy and for the words of a refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// A migration step that writes the stage's target: copy or rollback.
    MigrationStep { stage: String, step: Step },
    /// Unlocking a stage whose predecessor has not validated (journaled; the copy it lets run
    /// writes the target).
    Override { stage: String },
    /// A security script run as the node's admin identity.
    SecurityScript,
    /// A probe's fix for a principal, run as the node's admin identity.
    ProbeFix { principal: String },
    /// Effective-dated site rates written.
    Rates,
    /// Site rates removed (written by mistake).
    RetireRates,
}

impl Write {
    /// The command that asks for this write on the command line, without its consent flags.
    pub fn command(&self, node: &str) -> String {
        match self {
            Write::MigrationStep {
                stage,
                step: Step::Rollback,
            } => format!("tpdb migrate rollback {stage}"),
            Write::MigrationStep { stage, step } => {
                format!("tpdb migrate run {stage} --step {step}")
            }
            Write::Override { stage } => {
                format!("tpdb migrate run {stage} --override \"REASON\"")
            }
            Write::SecurityScript => format!("tpdb privileges apply --node {node} --script FILE"),
            Write::ProbeFix { principal } => {
                format!("tpdb probe --principal {principal} --nodes {node} --fix")
            }
            Write::Rates => "tpdb rates apply …".into(),
            Write::RetireRates => "tpdb rates retire …".into(),
        }
    }

    fn what(&self) -> String {
        match self {
            Write::MigrationStep { stage, step } => format!("stage {stage}: {step}"),
            Write::Override { stage } => format!("the override of stage {stage}"),
            Write::SecurityScript => "the security script".into(),
            Write::ProbeFix { principal } => format!("the fix for {principal}"),
            Write::Rates => "the rate write".into(),
            Write::RetireRates => "retiring rates".into(),
        }
    }
}

/// Whether a migration step writes its stage's target (and so passes the gate).
pub fn step_writes(step: Step) -> bool {
    matches!(step, Step::Copy | Step::Rollback)
}

/// What the user gave: a yes, and the name they typed (if any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consent {
    pub yes: bool,
    pub typed: Option<String>,
}

impl Consent {
    /// No consent at all: a read, or a dry run.
    pub fn none() -> Self {
        Consent::default()
    }

    /// The command line's `--yes` and `--confirm NODE`.
    pub fn cli(yes: bool, confirm: Option<&str>) -> Self {
        Consent {
            yes,
            typed: confirm.map(str::to_string),
        }
    }

    /// A TUI confirmation answered with Enter, with what was typed in it (empty when the
    /// confirmation asked for nothing to be typed).
    pub fn confirmed(typed: &str) -> Self {
        Consent {
            yes: true,
            typed: (!typed.is_empty()).then(|| typed.to_string()),
        }
    }
}

/// Whether `node` is protected: its writes need its name typed.
pub fn protected(config: &Config, node: &str) -> Result<bool, Error> {
    Ok(config.node(node).map_err(Error::Usage)?.protected)
}

/// The policy: `write` on `node` may run with `consent`, or the refusal says what to add.
pub fn require(config: &Config, node: &str, write: &Write, consent: &Consent) -> Result<(), Error> {
    decide(node, protected(config, node)?, write, consent)
}

/// The policy itself, from the node's protection alone.
pub fn decide(node: &str, protected: bool, write: &Write, consent: &Consent) -> Result<(), Error> {
    let flags = if protected {
        format!("--yes --confirm {node}")
    } else {
        "--yes".to_string()
    };
    if !consent.yes {
        return Err(Error::Refused(format!(
            "{} writes to node {node} and was not confirmed; nothing was changed: run `{} {flags}`{}",
            write.what(),
            write.command(node),
            if protected {
                " (the node is protected: its name, typed, confirms)"
            } else {
                ""
            }
        )));
    }
    if protected && consent.typed.as_deref() != Some(node) {
        let given = match consent.typed.as_deref() {
            Some(t) => format!(" ('{t}' is not '{node}')"),
            None => String::new(),
        };
        return Err(Error::Refused(format!(
            "node '{node}' is protected: confirm {} by typing its name{given} (CLI: --confirm {node}); nothing was changed",
            write.what()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_needs_a_yes_and_on_a_protected_node_its_name() {
        let w = Write::MigrationStep {
            stage: "prod".into(),
            step: Step::Rollback,
        };
        let e = decide("prod", true, &w, &Consent::none())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("run `tpdb migrate rollback prod --yes --confirm prod`"),
            "{e}"
        );
        let e = decide("prod", true, &w, &Consent::cli(true, None))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--confirm prod"), "{e}");
        let e = decide("prod", true, &w, &Consent::confirmed("prd"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("'prd' is not 'prod'"), "{e}");
        assert!(decide("prod", true, &w, &Consent::cli(true, Some("prod"))).is_ok());
        assert!(decide("prod", true, &w, &Consent::confirmed("prod")).is_ok());
        // Not protected: a yes is enough, and still needed.
        assert!(decide("training", false, &w, &Consent::none()).is_err());
        assert!(decide("training", false, &w, &Consent::confirmed("")).is_ok());
    }

    #[test]
    fn only_copy_and_rollback_write_a_target() {
        let writing: Vec<Step> = crate::domain::plan::ALL_STEPS
            .into_iter()
            .filter(|s| step_writes(*s))
            .collect();
        assert_eq!(writing, [Step::Copy, Step::Rollback]);
    }
}
