//! The compile stage: a decoded `Playbook` checked against the action registry
//! and resolved (vars, env, secrets) into a `Plan` the engine runs without
//! re-checking anything.

mod check;
mod check_freeze;
mod check_go_back;
mod compile;
mod estimate;
mod model;
mod rollback_map;
mod values;
pub mod window;

pub use check::check;
pub use compile::{compile, validate, CompileError, EnvMode};
pub use model::{
    CanarySpec, EstimateSource, OnSlow, Plan, PlanItem, PlannedCall, PlannedCheck, PlannedStep,
    RollbackOrigin, Webhook,
};
pub use rollback_map::{compensations, FailurePlan};
pub use values::Values;
