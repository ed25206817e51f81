//! The migration plan: stages in order, each with the steps assessment → privileges → copy →
//! validate (and rollback once copy has written), as a state machine. A stage unlocks when the
//! previous one validated; an override needs a reason.

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
    Running,
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
            StepState::Passed => "✓",
            StepState::Failed(_) => "✗",
            StepState::Skipped(_) => "–",
            StepState::RolledBack => "↺",
        }
    }

    pub fn done(&self) -> bool {
        matches!(self, StepState::Passed | StepState::Skipped(_))
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
    /// True once copy has written anything to the target.
    pub written: bool,
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
        }
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

/// Whether `step` of stage `index` may run now, and if not, why and how to proceed.
pub fn may_run(stages: &[StageState], index: usize, step: Step) -> Result<(), String> {
    let stage = &stages[index];
    if index > 0 && stage.override_reason.is_none() && !stages[index - 1].validated() {
        return Err(format!(
            "stage '{}' is locked: the previous stage '{}' has not validated; run it first, or override with a reason (`o` in the TUI, `--override \"REASON\"` on the command line)",
            stage.name,
            stages[index - 1].name
        ));
    }
    match step {
        Step::Rollback if !stage.written => Err(format!(
            "stage '{}' has written nothing to roll back",
            stage.name
        )),
        Step::Validate if !stage.copy.done() && stage.copy != StepState::RolledBack => {
            Err(format!(
                "stage '{}' has not copied yet: run copy before validate",
                stage.name
            ))
        }
        Step::Copy if !stage.assessment.done() => {
            Err(format!("stage '{}' needs its assessment first", stage.name))
        }
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
        let e = may_run(&s, 1, Step::Assessment).unwrap_err();
        assert!(e.contains("stage 'devnode' is locked"), "{e}");
        s[0].validate = StepState::Passed;
        assert!(may_run(&s, 1, Step::Assessment).is_ok());
        let mut s = stages();
        s[1].override_reason = Some("training refresh is done by hand this week".into());
        assert!(may_run(&s, 1, Step::Assessment).is_ok());
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
