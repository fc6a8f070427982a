//! The command line: parses arguments, dispatches to one file per subcommand,
//! and turns results into the documented exit codes.

mod args;
mod audit;
mod exit;
mod inputs;
mod plan;
mod resume;
mod run;
mod schema;
mod session;
mod terminal;
mod validate;

pub use args::Cli;
pub use exit::{CliError, ExitCode};

use clap::Parser;

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    // Die quietly on a closed pipe (`cutover audit list | head`) like other
    // Unix tools, instead of panicking inside `println!`.
    // SAFETY: restoring the default disposition of one signal at start-up.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return match error.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => ExitCode::Usage as i32,
            };
        }
    };
    match dispatch(cli) {
        Ok(code) => code,
        Err(error) => {
            error.print();
            error.code as i32
        }
    }
}

fn dispatch(cli: Cli) -> Result<i32, CliError> {
    use args::Command;
    match cli.command {
        Command::Validate(args) => validate::validate(args),
        Command::Plan(args) => plan::plan(args),
        Command::Run(args) => run::run(args),
        Command::Resume(args) => resume::resume(args),
        Command::Rollback(args) => resume::rollback(args),
        Command::Audit(args) => audit::audit(args),
        Command::Schema => schema::schema(),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "cutover",
                &mut std::io::stdout(),
            );
            Ok(0)
        }
    }
}
