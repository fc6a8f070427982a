//! `Plan`: resolved, typed steps in order, with their rollbacks decided.

use std::path::PathBuf;
use std::time::Duration;

use crate::actions::ActionRef;
use crate::playbook::Retries;
use crate::redact::Redactor;

pub use crate::playbook::ROLLBACK_RETRIES as DEFAULT_ROLLBACK_RETRIES;

#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub description: Option<String>,
    pub source_path: PathBuf,
    /// Directory relative paths in actions are resolved against.
    pub base_dir: PathBuf,
    pub sha256: String,
    pub items: Vec<PlanItem>,
    /// `go_back:`: the way back past the point of no return, in order.
    pub go_back: Vec<PlannedStep>,
    pub redactor: Redactor,
    pub checklist: Vec<PlannedCheck>,
    pub window: Option<super::window::WindowSpec>,
    pub notify: Vec<Webhook>,
    pub canary: Option<CanarySpec>,
    /// `downtime_budget`: longest writes may stay stopped.
    pub downtime_budget: Option<Duration>,
}

/// The write canary, with its URLs resolved (they may hold secrets: shown
/// only through the redactor or as a label).
#[derive(Debug, Clone)]
pub struct CanarySpec {
    pub url: String,
    pub verify_url: String,
    pub every: Duration,
    pub table: String,
    pub keep: bool,
}

/// A checklist item, resolved.
#[derive(Debug, Clone)]
pub struct PlannedCheck {
    pub id: String,
    pub text: String,
    pub verify: Option<PlannedCall>,
}

/// A webhook with its templates resolved.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub url: String,
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub enum PlanItem {
    Step(Box<PlannedStep>),
    Checkpoint(String),
}

/// An action call ready to run.
#[derive(Debug, Clone)]
pub struct PlannedCall {
    pub action: ActionRef,
    pub timeout: Option<Duration>,
    pub retries: Retries,
}

/// Where a step's rollback comes from, as `plan` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackOrigin {
    /// Written in the playbook.
    Explicit,
    /// The action's natural inverse.
    Implied,
    /// `rollback: none`.
    OptedOut,
    /// The action has no inverse and the playbook gives none.
    NoInverse,
}

/// Where a step's estimate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "from")]
pub enum EstimateSource {
    /// Measured: the median of this many earlier runs.
    History { runs: usize },
    /// The playbook's `estimate`.
    Playbook,
    /// Nothing known.
    #[default]
    Unknown,
}

#[derive(Debug, Clone)]
pub struct PlannedStep {
    pub id: String,
    pub name: Option<String>,
    pub call: PlannedCall,
    /// Median of earlier runs, else the playbook's `estimate`.
    pub estimate: Option<Duration>,
    /// 90th percentile of earlier runs, when measured.
    pub estimate_p90: Option<Duration>,
    pub estimate_source: EstimateSource,
    pub idempotent: bool,
    pub point_of_no_return: bool,
    pub rollback: Option<PlannedCall>,
    pub rollback_origin: RollbackOrigin,
    /// What running past `estimate_p90 × slow_factor` does, before the point of no return.
    pub on_slow: OnSlow,
    pub slow_factor: f64,
}

/// `on_slow`: what a step running past its rehearsed p90 × `slow_factor` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnSlow {
    /// Journal it (`step_slow`) and go on.
    #[default]
    Warn,
    /// Let it finish, then stop for an operator before the next step.
    Pause,
    /// End it there: it fails, and the run rolls back to its checkpoint.
    Rollback,
}

/// The least a step may run past its p90 before it counts as slow.
pub const SLOW_SLACK: Duration = Duration::from_secs(1);

/// `slow_factor` when the playbook gives none.
pub const DEFAULT_SLOW_FACTOR: f64 = 1.5;

impl PlannedStep {
    /// How long the step may run before `on_slow`: p90 × factor, once
    /// rehearsals measured it — and at least a second past the p90, so the
    /// jitter of a step that takes milliseconds is never "slow".
    pub fn slow_after(&self) -> Option<Duration> {
        self.estimate_p90
            .filter(|_| self.estimate_source != EstimateSource::Playbook)
            .map(|p90| p90.mul_f64(self.slow_factor).max(p90 + SLOW_SLACK))
    }
}

impl PlannedStep {
    pub fn title(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
}

impl Plan {
    /// The steps alone, in order.
    pub fn steps(&self) -> impl Iterator<Item = &PlannedStep> {
        self.items.iter().filter_map(|item| match item {
            PlanItem::Step(step) => Some(step.as_ref()),
            PlanItem::Checkpoint(_) => None,
        })
    }

    /// A step of either list (forward or go-back): one journal keys both by id.
    pub fn step(&self, id: &str) -> Option<&PlannedStep> {
        self.steps().chain(&self.go_back).find(|step| step.id == id)
    }

    pub fn is_go_back_step(&self, id: &str) -> bool {
        self.go_back.iter().any(|step| step.id == id)
    }

    pub fn step_count(&self) -> usize {
        self.steps().count()
    }

    /// Sum of the known estimates, and how many steps have none.
    pub fn estimated_total(&self) -> (Duration, usize) {
        self.steps()
            .fold((Duration::ZERO, 0), |(sum, unknown), step| {
                match step.estimate {
                    Some(estimate) => (sum + estimate, unknown),
                    None => (sum, unknown + 1),
                }
            })
    }

    pub fn checkpoints(&self) -> impl Iterator<Item = &str> {
        self.items.iter().filter_map(|item| match item {
            PlanItem::Checkpoint(name) => Some(name.as_str()),
            PlanItem::Step(_) => None,
        })
    }
}
