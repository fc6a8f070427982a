//! `main`: the command line parsed, dispatched to its subcommand, and the
//! `ExitCode` that comes back turned into the process's exit status.

use clap::Parser;

use super::args::{self, Cli};
use super::{
    approve, audit, plan, resume, run, schema, state, status, validate, CliError, ExitCode,
};

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    // Die quietly on a closed pipe (`cutover audit list | head`) like other
    // Unix tools, instead of panicking inside `println!`.
    // SAFETY: restoring the default disposition of one signal at start-up.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    exit_code().code()
}

fn exit_code() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            // clap's own help and version are answers, not errors.
            return match error.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::Done
                }
                _ => ExitCode::Usage,
            };
        }
    };
    dispatch(cli).unwrap_or_else(|error| {
        error.print();
        error.code
    })
}

fn dispatch(cli: Cli) -> Result<ExitCode, CliError> {
    use args::Command;
    match cli.command {
        Command::Validate(args) => validate::validate(args),
        Command::Plan(args) => plan::plan(args),
        Command::Run(args) => run::run(args),
        Command::Resume(args) => resume::resume(args),
        Command::Rollback(args) => resume::rollback(args),
        Command::Audit(args) => audit::audit(args),
        Command::Status(args) => status::status(args),
        Command::Approve(args) => approve::approve(args),
        Command::State(args) => state::state(args),
        Command::Schema => schema::schema(),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "cutover",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::Done)
        }
    }
}
