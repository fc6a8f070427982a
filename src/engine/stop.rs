//! `Finish` and `Stop`: how a run ended, and why its forward progress stopped.
//! Every part of the engine speaks them; they depend on nothing of it.

use crate::journal::Outcome;

/// How a run (or a resume, or a rollback) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    pub outcome: Outcome,
    pub message: String,
}

/// Why forward progress stopped at a step.
pub(super) enum Stop {
    Failed {
        step: String,
        error: String,
    },
    Interrupted {
        signal: String,
    },
    /// The rest of the run no longer fits the window (on_overrun: rollback).
    Overrun {
        step: String,
    },
    /// Before `step`, the downtime budget would be spent.
    OverBudget {
        step: String,
        used: std::time::Duration,
        estimate: std::time::Duration,
        budget: std::time::Duration,
    },
}
