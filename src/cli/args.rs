//! Command-line arguments (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use super::ExitCode;

/// Runs database migration cutovers from YAML playbooks: rollback points,
/// dry runs, resumable runs and a hash-chained journal.
#[derive(Debug, Parser)]
#[command(name = "cutover", version, after_help = ExitCode::help(), propagate_version = true)]
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
    #[command(after_help = ExitCode::help())]
    Run(RunArgs),
    /// Continue a run stopped by a crash, a kill or an operator decision.
    #[command(after_help = ExitCode::help())]
    Resume(ResumeArgs),
    /// Undo the completed steps of a stopped run, back to a checkpoint.
    #[command(after_help = ExitCode::help())]
    Rollback(RollbackArgs),
    /// Inspect past runs: list, show, verify.
    Audit(AuditArgs),
    /// Approve a run's `approve` gate from any shell (a second operator, say).
    #[command(after_help = ExitCode::help())]
    Approve(ApproveArgs),
    /// The runs in progress (running, or stopped and waiting for resume or
    /// rollback): current step, operator, host, elapsed and predicted remaining time.
    Status(StatusArgs),
    /// Set up or migrate the shared state store (`--state postgres://…`).
    State(StateArgs),
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
pub struct ApproveArgs {
    /// The run's id (or a unique prefix or suffix of it).
    pub run_id: String,
    /// The `approve` step.
    pub step: String,
    #[command(flatten)]
    pub exec: ExecArgs,
}

#[derive(Debug, Args)]
pub struct StateArgs {
    #[command(subcommand)]
    pub command: StateCommand,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `--state`, in every command that reads or writes runs.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The shared state store, a PostgreSQL URL: runs, locks and approvals
    /// there, seen from every host (`cutover state init` sets it up)
    #[arg(
        long,
        global = true,
        env = "CUTOVER_STATE",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub state: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Create cutover's schema in the store (once per store).
    Init,
    /// Bring the store's schema up to this cutover's version.
    Migrate,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Where runs are journaled [default: .cutover/ in the current directory]
    #[arg(long, env = "CUTOVER_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
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
    /// Where earlier runs are journaled, for measured estimates [default: .cutover/ beside the playbook]
    #[arg(long, env = "CUTOVER_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// The moment to show the window fit for [default: now]
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Connect read-only to the servers the data-moving steps read, measure
    /// what they would move now, and scale their measured estimates to it
    #[arg(long)]
    pub measure: bool,
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
    #[command(flatten)]
    pub store: StoreArgs,
    /// Who is running this, for the journal [default: $USER]
    #[arg(long)]
    pub operator: Option<String>,
    /// Approve this `approve` step ahead of time (repeatable).
    #[arg(long, value_name = "STEP")]
    pub approve: Vec<String>,
    /// Run even outside the playbook's window; needs --reason, journaled.
    #[arg(long, requires = "reason")]
    pub override_window: bool,
    /// Why the window is overridden (journaled, shown in audit reports).
    #[arg(long, value_name = "TEXT", requires = "override_window")]
    pub reason: Option<String>,
    /// Confirm this checklist item ahead of time (repeatable).
    #[arg(long, value_name = "ID")]
    pub confirm: Vec<String>,
    /// A file of checklist ids confirmed ahead of time, one per line (`#` comments).
    #[arg(long, value_name = "FILE")]
    pub checklist_file: Option<PathBuf>,
    /// Fix the clock windows are checked against: RFC 3339 (`2026-12-05T22:30:00Z`)
    /// or `2026-12-05T22:30` in the window's time zone. For rehearsals and tests.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Sign the journal's head with this Ed25519 private key (PEM PKCS#8, as
    /// `openssl genpkey -algorithm ed25519` writes) into `head.sig`; checked
    /// by `audit verify --pubkey`. Keep the key off the state directory.
    #[arg(long, value_name = "FILE")]
    pub sign_key: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    pub playbook: PathBuf,
    /// Walk every step with simulated actions: nothing runs, nothing connects.
    #[arg(long)]
    pub dry_run: bool,
    /// Execute for real against rehearsal targets (see --vars): windows only
    /// warn, and the timings become the estimates of later runs.
    #[arg(long, conflicts_with = "dry_run")]
    pub rehearsal: bool,
    /// A YAML file of `name: value` that replaces the playbook's vars (e.g.
    /// staging hosts for a rehearsal).
    #[arg(long, value_name = "FILE")]
    pub vars: Option<PathBuf>,
    /// With --dry-run or --rehearsal: make this step fail, to rehearse the rollback.
    #[arg(long, value_name = "STEP")]
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
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Runs: id, playbook, mode, operator, start, duration, outcome.
    List {
        #[arg(long, value_enum, default_value_t)]
        output: Output,
        /// Only runs of this playbook (its `name`).
        #[arg(long)]
        playbook: Option<String>,
        /// Only runs in this mode: live, rehearsal, dry_run.
        #[arg(long)]
        mode: Option<String>,
        /// Only runs with this outcome: done, rolled_back, needs_operator, refused, stopped.
        #[arg(long)]
        outcome: Option<String>,
        /// Only runs started since: a date (`2026-11-01`), a time, or an age (`7d`, `12h`).
        #[arg(long)]
        since: Option<String>,
    },
    /// One run's timeline.
    Show { run_id: String },
    /// Check a run's hash chain; names the first bad line.
    Verify {
        run_id: String,
        /// Also check the head's signature (`head.sig`, written by `--sign-key`)
        /// with this Ed25519 public key (PEM, as `openssl pkey -pubout` writes):
        /// a missing or wrong signature fails (exit 1).
        #[arg(long, value_name = "FILE")]
        pubkey: Option<PathBuf>,
    },
    /// Write a self-contained report of a run (Markdown, or HTML with a timeline chart).
    Report {
        run_id: String,
        #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
        format: ReportFormat,
        /// Where to write it [default: cutover-RUN_ID.md or .html]; `-` for stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Compare two runs step by step (a rehearsal against the live run).
    Diff { run_a: String, run_b: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Markdown,
    Html,
}
