//! Actions: what a step does. The engine sees them only through `ActionSpec`
//! (an enum dispatching to one file per action) and hands each a `StepContext`.

mod approve;
mod context;
mod maintenance_file;
mod outcome;
pub mod postgres;
mod process;
mod registry;
mod shell;
mod spec;
mod wait;

pub use approve::Approve;
pub use context::{Approval, ApprovalFuture, Input, Progress, StepContext};
pub use maintenance_file::MaintenanceFile;
pub use outcome::{ActionFailure, Applied};
pub use process::{settle_process_group, ProcessRecord};
pub use registry::{lookup, ActionInfo, ACTIONS};
pub use shell::Shell;
pub use spec::ActionSpec;
pub use wait::Wait;
