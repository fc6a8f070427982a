//! `ActionSpec`: a typed, resolved action call, dispatched by `match` to the
//! action's own file.

use super::{ActionFailure, Applied, Approve, MaintenanceFile, Shell, StepContext, Wait};

#[derive(Debug, Clone, PartialEq)]
pub enum ActionSpec {
    Shell(Shell),
    Wait(Wait),
    Approve(Approve),
    MaintenanceFile(MaintenanceFile),
}

impl ActionSpec {
    /// The name a playbook uses for this action.
    pub fn name(&self) -> &'static str {
        match self {
            ActionSpec::Shell(_) => "shell",
            ActionSpec::Wait(_) => "wait",
            ActionSpec::Approve(_) => "approve",
            ActionSpec::MaintenanceFile(_) => "maintenance.file",
        }
    }

    /// One imperative line, used by `plan`, the progress display and the journal.
    pub fn describe(&self) -> String {
        match self {
            ActionSpec::Shell(a) => a.describe(),
            ActionSpec::Wait(a) => a.describe(),
            ActionSpec::Approve(a) => a.describe(),
            ActionSpec::MaintenanceFile(a) => a.describe(),
        }
    }

    /// Read-only checks run before `apply`.
    pub async fn preflight(&self, cx: &StepContext<'_>) -> Result<(), ActionFailure> {
        match self {
            ActionSpec::MaintenanceFile(a) => a.preflight(cx),
            ActionSpec::Shell(_) | ActionSpec::Wait(_) | ActionSpec::Approve(_) => Ok(()),
        }
    }

    /// Does the work.
    pub async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        match self {
            ActionSpec::Shell(a) => a.apply(cx).await,
            ActionSpec::Wait(a) => a.apply(cx).await,
            ActionSpec::Approve(a) => a.apply(cx).await,
            ActionSpec::MaintenanceFile(a) => a.apply(cx),
        }
    }

    /// The natural inverse, used as the rollback when a step gives none.
    pub fn inverse(&self) -> Option<ActionSpec> {
        match self {
            ActionSpec::MaintenanceFile(a) => Some(ActionSpec::MaintenanceFile(a.inverse())),
            ActionSpec::Shell(_) | ActionSpec::Wait(_) | ActionSpec::Approve(_) => None,
        }
    }

    /// Safe to run again after a crash left its outcome unknown.
    pub fn idempotent(&self) -> bool {
        match self {
            ActionSpec::Shell(_) => false,
            ActionSpec::Wait(_) | ActionSpec::Approve(_) | ActionSpec::MaintenanceFile(_) => true,
        }
    }
}
