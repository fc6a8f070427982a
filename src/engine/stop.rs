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

impl Stop {
    /// What happened, in full, for the run's message.
    pub(super) fn what(&self) -> String {
        match self {
            Stop::Failed { step, error } => format!("step `{step}` failed: {error}"),
            Stop::Interrupted { signal } => format!("interrupted by {signal}"),
            Stop::Overrun { step } => {
                format!("the rest of the run no longer fits the window before `{step}`")
            }
            Stop::OverBudget {
                step,
                used,
                estimate,
                budget,
            } => {
                let show = crate::duration::format_duration;
                format!(
                    "the downtime budget {} would be spent before `{step}` ends: {} used, `{step}` estimated at {}",
                    show(*budget),
                    show(*used),
                    show(*estimate)
                )
            }
        }
    }

    /// Why, in a few words: the reason a rollback journals.
    pub(super) fn reason(&self) -> String {
        match self {
            Stop::Failed { step, .. } => format!("step `{step}` failed"),
            Stop::Interrupted { signal } => format!("interrupted by {signal}"),
            Stop::Overrun { .. } => "the window would be overrun".to_string(),
            Stop::OverBudget { step, budget, .. } => format!(
                "the downtime budget {} would be spent before `{step}`",
                crate::duration::format_duration(*budget)
            ),
        }
    }
}
