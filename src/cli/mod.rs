//! The command line: parses arguments, dispatches to one file per subcommand,
//! and turns results into the documented exit codes.

mod approve;
mod args;
mod audit;
mod entry;
mod exit;
mod inputs;
mod measure;
mod plan;
mod plan_go_back;
mod resume;
mod run;
mod schema;
mod session;
mod state;
mod status;
mod terminal;
mod validate;

pub use args::Cli;
pub use entry::main;
pub use exit::{CliError, ExitCode};
