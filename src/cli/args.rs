//! Command-line arguments (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0  done
  1  internal error (I/O), or `audit verify` found a line that does not verify
  2  invalid playbook or command line
  3  rolled back: a step failed, the run was interrupted, or `cutover rollback` ran
  4  an operator must decide: a failure past the point of no return, a rollback
     that failed, or a resume without a decision
  5  refused before starting: the playbook is locked by another run, or an
     approval was not given";

/// Runs database migration cutovers from YAML playbooks: rollback points,
/// dry runs, resumable runs and a hash-chained journal.
#[derive(Debug, Parser)]
#[command(name = "cutover", version, after_help = EXIT_CODES, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a playbook and list every problem as FILE:LINE:COL.
    Validate(ValidateArgs),
    /// Show what a run would do, its estimates and rollback map; connects to nothing.
    Plan(PlanArgs),
    /// Run a playbook (or rehearse it with --dry-run).
    #[command(after_help = EXIT_CODES)]
    Run(RunArgs),
    /// Continue a run stopped by a crash, a kill or an operator decision.
    #[command(after_help = EXIT_CODES)]
    Resume(ResumeArgs),
    /// Undo the completed steps of a stopped run, back to a checkpoint.
    #[command(after_help = EXIT_CODES)]
    Rollback(RollbackArgs),
    /// Inspect past runs: list, show, verify.
    Audit(AuditArgs),
    /// Print the JSON Schema of playbooks, for editors.
    Schema,
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Output {
    /// A live display on a terminal, plain lines otherwise.
    #[default]
    Auto,
    /// Plain timestamped lines.
    Text,
    /// JSON lines.
    Json,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    pub playbook: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    pub playbook: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// Options shared by commands that execute steps.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Where runs are journaled [default: for `run`, .cutover/ beside the
    /// playbook; for `resume` and `rollback`, ./.cutover]
    #[arg(long, env = "CUTOVER_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Who is running this, for the journal [default: $USER]
    #[arg(long)]
    pub operator: Option<String>,
    /// Approve this `approve` step ahead of time (repeatable).
    #[arg(long, value_name = "STEP")]
    pub approve: Vec<String>,
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    pub playbook: PathBuf,
    /// Walk every step with simulated actions: nothing runs, nothing connects.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: make this step fail, to rehearse the rollback.
    #[arg(long, value_name = "STEP", requires = "dry_run")]
    pub fail_at: Option<String>,
    #[command(flatten)]
    pub exec: ExecArgs,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The run's id (or a unique prefix or suffix of it).
    pub run_id: String,
    /// The step in flight at the crash had completed: go on after it.
    #[arg(long, value_name = "STEP")]
    pub assume_done: Vec<String>,
    /// Run the step in flight at the crash again.
    #[arg(long, value_name = "STEP")]
    pub rerun: Vec<String>,
    #[command(flatten)]
    pub exec: ExecArgs,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    pub run_id: String,
    /// Undo back to this checkpoint [default: the last one the run passed].
    #[arg(long, value_name = "CHECKPOINT")]
    pub to: Option<String>,
    #[command(flatten)]
    pub exec: ExecArgs,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
    /// Where runs are journaled [default: .cutover/ in the current directory]
    #[arg(long, env = "CUTOVER_STATE_DIR", global = true)]
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Runs: id, playbook, mode, operator, start, duration, outcome.
    List {
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// One run's timeline.
    Show { run_id: String },
    /// Check a run's hash chain; names the first bad line.
    Verify { run_id: String },
}
