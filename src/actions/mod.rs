//! Actions: what a step does. The engine sees each through the `Action` trait
//! and hands it a `StepContext`; the registry lists every action's descriptor.
//! An action `family.verb` lives in `<family>/<verb>.rs`; only plumbing is here.

mod action;
mod context;
mod outcome;
mod registry;

pub mod builtin;
pub mod cloudwatch;
pub mod elbv2;
pub mod haproxy;
pub mod http;
pub mod maintenance;
pub mod mysql;
pub mod nginx;
pub mod pgbouncer;
pub mod postgres;
pub mod rds;
pub mod route53;
pub mod shared;
pub mod sql;
pub mod tcp;

pub(crate) use action::descriptor;
pub use action::{decode_action, decode_params, Action, ActionRef, Descriptor, Gate, ParamsError};
pub use context::{Approval, ApprovalFuture, Input, Progress, StepContext};
pub use outcome::{ActionFailure, Applied};
pub use registry::{lookup, ACTIONS};
