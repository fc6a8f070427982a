//! Actions: what a step does. The engine sees them only through `ActionSpec`
//! (an enum dispatching to one file per action) and hands each a `StepContext`.

mod approve;
mod context;
mod haproxy;
mod http_check;
mod maintenance_command;
mod maintenance_file;
mod maintenance_http;
pub mod mysql;
mod nginx_swap;
mod outcome;
pub mod postgres;
mod process;
pub mod rds;
mod registry;
mod shell;
mod spec;
mod sql_check;
mod tcp_check;
mod wait;

pub use approve::Approve;
pub use context::{Approval, ApprovalFuture, Input, Progress, StepContext};
pub use haproxy::{HaproxySwap, HaproxyWeights, RuntimeApi};
pub use http_check::HttpCheck;
pub use maintenance_command::MaintenanceCommand;
pub use maintenance_file::MaintenanceFile;
pub use maintenance_http::MaintenanceHttp;
pub use nginx_swap::NginxSwap;
pub use outcome::{ActionFailure, Applied};
pub use process::{settle_process_group, ProcessRecord};
pub use registry::{lookup, ActionInfo, ACTIONS};
pub use shell::Shell;
pub use spec::ActionSpec;
pub use sql_check::SqlCheck;
pub use tcp_check::TcpCheck;
pub use wait::Wait;

/// An HTTP error with its causes ("error sending request: connection refused"),
/// without the URL, which may carry a token.
pub(crate) fn http_error(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
