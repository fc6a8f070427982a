//! `RunOptions`: how a run is asked to behave.

use std::collections::BTreeMap;

use crate::journal::Mode;

/// An operator's decision about a step whose outcome a crash left unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The step had completed: go on after it.
    AssumeDone,
    /// Run the step again.
    Rerun,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::AssumeDone => "assume_done",
            Decision::Rerun => "rerun",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub mode: Mode,
    pub operator: String,
    /// Dry runs only: this step fails, to rehearse the rollback path.
    pub fail_at: Option<String>,
    /// Resume decisions given on the command line.
    pub decisions: BTreeMap<String, Decision>,
    /// The time windows are checked against.
    pub clock: super::Clock,
    /// Checklist items confirmed ahead (`--confirm`, a checklist file): id → how.
    pub confirmations: BTreeMap<String, String>,
    /// `--override-window --reason`: run outside the window, journaled.
    pub override_window: Option<String>,
}
