//! `cutover run`: a new run of a playbook, live or dry.

use super::args::RunArgs;
use super::session::{check_approvals, execute, lock, operator, Start};
use super::validate::{compile, read_source};
use super::{CliError, ExitCode};
use crate::engine::{Journal, RunOptions};
use crate::journal::{new_run_id, Mode, StateDir, Writer};
use crate::plan::EnvMode;

pub fn run(args: RunArgs) -> Result<i32, CliError> {
    let source = read_source(&args.playbook)?;
    let mode = if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Live
    };
    // A dry run connects to nothing and needs no secrets.
    let plan = compile(
        &source,
        if args.dry_run {
            EnvMode::Lenient
        } else {
            EnvMode::Strict
        },
    )?;
    if let Some(step) = &args.fail_at {
        if plan.step(step).is_none() {
            return Err(CliError::new(
                ExitCode::Usage,
                format!("--fail-at: no step `{step}` in the playbook"),
            )
            .hint(format!(
                "steps: {}",
                plan.steps()
                    .map(|s| s.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    check_approvals(&plan, &args.exec, mode, &|_| false)?;
    let operator = operator(&args.exec);
    let state_dir = args
        .exec
        .state_dir
        .clone()
        .map(StateDir::new)
        .unwrap_or_else(|| StateDir::beside(&args.playbook));
    let run_id = new_run_id();
    let _lock = match mode {
        Mode::Live => Some(lock(&state_dir, &plan, &run_id, &operator)?),
        Mode::DryRun => None,
    };
    let run_dir = state_dir.run(&run_id);
    run_dir.create()?;
    std::fs::write(run_dir.playbook(), source.text()).map_err(|e| {
        CliError::new(
            ExitCode::Internal,
            format!("failed to keep a copy of the playbook: {e}"),
        )
    })?;
    let writer = Writer::create(&run_dir.journal())?;
    let options = RunOptions {
        mode,
        operator,
        fail_at: args.fail_at.clone(),
        decisions: Default::default(),
    };
    // Absolute, so a resume from another directory resolves relative paths the same way.
    let path = std::fs::canonicalize(source.path())
        .unwrap_or_else(|_| source.path().to_path_buf())
        .display()
        .to_string();
    execute(
        &plan,
        options,
        &args.exec,
        Journal {
            run_dir,
            writer,
            state: None,
        },
        Start::Run { path },
    )
}
