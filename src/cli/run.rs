//! `cutover run`: a new run of a playbook — live, rehearsal or dry.

use super::args::RunArgs;
use super::inputs::{confirmations, parse_now, read_vars, signer};
use super::session::{check_approvals, execute, lock, operator, Start};
use super::validate::{compile, read_source};
use super::{CliError, ExitCode};
use crate::engine::{Clock, Journal, RunOptions};
use crate::journal::{durations_of, new_run_id, step_runs, Mode, StateDir, Writer};
use crate::plan::EnvMode;

pub fn run(args: RunArgs) -> Result<ExitCode, CliError> {
    let source = read_source(&args.playbook)?;
    let mode = match (args.dry_run, args.rehearsal) {
        (true, _) => Mode::DryRun,
        (_, true) => Mode::Rehearsal,
        _ => Mode::Live,
    };
    let (vars_text, overrides) = match &args.vars {
        Some(path) => {
            let (text, vars) = read_vars(path)?;
            (Some(text), vars)
        }
        None => (None, Vec::new()),
    };
    // A dry run connects to nothing and needs no secrets.
    let env_mode = if mode == Mode::DryRun {
        EnvMode::Lenient
    } else {
        EnvMode::Strict
    };
    let mut plan = compile(&source, env_mode, &overrides)?;
    if let Some(step) = &args.fail_at {
        if mode == Mode::Live {
            return Err(CliError::new(
                ExitCode::Usage,
                "--fail-at is for rehearsals: add --dry-run or --rehearsal",
            ));
        }
        if plan.step(step).is_none() {
            let steps: Vec<&str> = plan.steps().map(|s| s.id.as_str()).collect();
            return Err(CliError::new(
                ExitCode::Usage,
                format!("--fail-at: no step `{step}` in the playbook"),
            )
            .hint(format!("steps: {}", steps.join(", "))));
        }
    }
    check_approvals(&plan, &args.exec, mode, &|_| false)?;
    let confirmations = confirmations(&args.exec.confirm, args.exec.checklist_file.as_deref())?;
    let signer = signer(&args.exec)?;
    if let Some(unknown) = confirmations
        .keys()
        .find(|id| !plan.checklist.iter().any(|item| &item.id == *id))
    {
        return Err(CliError::new(
            ExitCode::Usage,
            format!("no checklist item `{unknown}` in the playbook"),
        ));
    }
    let clock = match &args.exec.now {
        Some(text) => {
            Clock::starting_at(parse_now(text, plan.window.as_ref().map(|w| &w.timezone))?)
        }
        None => Clock::system(),
    };
    let operator = operator(&args.exec);
    let place = super::state::open(
        args.exec.store.state.as_deref(),
        args.exec.state_dir.clone(),
        || StateDir::beside(&args.playbook),
        crate::store::Pull::Changed,
    )?;
    let state_dir = &place.dir;
    let runs = step_runs(state_dir, &plan.name);
    plan.apply_history(&durations_of(&runs));
    // The window check and the downtime budget need the night's real
    // figures: scale the data-moving steps to what their sources hold now.
    // A dry run connects to nothing.
    if mode != Mode::DryRun && (plan.window.is_some() || plan.downtime_budget.is_some()) {
        super::measure::scale_estimates(&mut plan, &runs)?;
        for step in plan.steps() {
            if let Some(note) = &step.scale_note {
                eprintln!("note: step `{}`: {note}", step.id);
            }
        }
    }
    let run_id = new_run_id();
    // Absolute, so a resume from another directory resolves relative paths the same way.
    let path = std::fs::canonicalize(source.path()).unwrap_or_else(|_| source.path().to_path_buf());
    let _lock = match mode {
        Mode::Live | Mode::Rehearsal => Some(lock(
            &place,
            &plan,
            &path,
            vars_text.as_deref(),
            &run_id,
            &operator,
        )?),
        Mode::DryRun => None,
    };
    let run_dir = state_dir.run(&run_id);
    run_dir.create()?;
    let keep = |path: std::path::PathBuf, text: &str| {
        let private = crate::files::Keep::Private { mode: 0o600 };
        crate::files::replace(&path, text.as_bytes(), private).map_err(|e| {
            CliError::new(
                ExitCode::Internal,
                format!("failed to keep a copy of the run's inputs: {e}"),
            )
        })
    };
    keep(run_dir.playbook(), source.text())?;
    if let Some(text) = &vars_text {
        keep(run_dir.vars(), text)?;
    }
    let mut writer = Writer::create(&run_dir.journal())?;
    if let Some(signer) = signer {
        writer.sign_with(signer);
    }
    let host = super::session::host();
    super::state::attach(
        &place,
        &mut writer,
        &run_id,
        &host,
        Some(crate::store::NewRun {
            id: &run_id,
            playbook_name: &plan.name,
            operator: &operator,
            host: &host,
            playbook: source.text(),
            vars: vars_text.as_deref(),
        }),
    )?;
    let options = RunOptions {
        mode,
        operator,
        fail_at: args.fail_at.clone(),
        decisions: Default::default(),
        clock,
        confirmations,
        override_window: args
            .exec
            .reason
            .clone()
            .filter(|_| args.exec.override_window),
    };
    let start = Start::Run {
        path: path.display().to_string(),
    };
    execute(
        &plan,
        options,
        &args.exec,
        Journal {
            run_dir,
            writer,
            state: None,
        },
        start,
        place.store.clone(),
    )
}
