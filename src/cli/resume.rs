//! `cutover resume` and `cutover rollback`: take a stopped run over from its
//! journal, with the exact playbook text that run started with.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use super::args::{ExecArgs, ResumeArgs, RollbackArgs};
use super::session::{check_approvals, execute, lock, operator, Start};
use super::state::Place;
use super::terminal::interactive;
use super::validate::compile;
use super::{CliError, ExitCode};
use crate::engine::{
    leftovers, resume_blocker, rollback_targets, Clock, Decision, Journal, RunOptions,
};
use crate::journal::{self, Mode, Outcome, RunDir, RunState, StateDir, Writer};
use crate::plan::{EnvMode, Plan};
use crate::playbook::Source;

/// A stopped run, loaded: where it lives, its directory, rebuilt state and plan.
struct Stopped {
    place: Place,
    run_dir: RunDir,
    state: RunState,
    plan: Plan,
}

/// The state `resume`, `rollback` and `approve` work on: `--state`, else
/// `--state-dir`, else `./.cutover`.
pub fn place(exec: &ExecArgs) -> Result<Place, CliError> {
    super::state::open(
        exec.store.state.as_deref(),
        exec.state_dir.clone(),
        || StateDir::new(".cutover"),
        crate::store::Pull::Changed,
    )
}

fn load(run_id: &str, exec: &ExecArgs) -> Result<Stopped, CliError> {
    let place = place(exec)?;
    let run_dir = place
        .dir
        .find_run(run_id)
        .map_err(|e| CliError::new(ExitCode::Usage, e.to_string()))?;
    let records = journal::read(&run_dir.journal())?;
    let state = journal::replay(&records)?;
    let text = std::fs::read_to_string(run_dir.playbook()).map_err(|e| {
        CliError::new(
            ExitCode::Internal,
            format!("cannot read the run's copy of its playbook: {e}"),
        )
    })?;
    let source = Source::new(run_dir.playbook(), text);
    if source.sha256() != state.sha256 {
        return Err(CliError::new(
            ExitCode::Internal,
            format!(
                "{} does not match the sha256 the journal recorded",
                run_dir.playbook().display()
            ),
        ));
    }
    let env_mode = if state.mode == Mode::DryRun {
        EnvMode::Lenient
    } else {
        EnvMode::Strict
    };
    // A rehearsal resumes against the same targets it started with.
    let overrides = match std::fs::read_to_string(run_dir.vars()) {
        Ok(text) => super::inputs::parse_vars(&Source::new(run_dir.vars(), text))?,
        Err(_) => Vec::new(),
    };
    let mut plan = compile(&source, env_mode, &overrides)?;
    plan.apply_history(&crate::journal::step_durations(&place.dir, &plan.name));
    // Relative paths in actions mean what they meant to the original run: the
    // playbook's own directory, not the run directory holding its copy. From
    // another host without that directory, the directory resume runs in.
    if let Some(dir) = std::path::Path::new(&state.path)
        .parent()
        .filter(|dir| dir.is_dir())
    {
        plan.base_dir = dir.to_path_buf();
        plan.source_path = state.path.clone().into();
    }
    Ok(Stopped {
        place,
        run_dir,
        state,
        plan,
    })
}

fn options(
    plan: &Plan,
    state: &RunState,
    exec: &ExecArgs,
    decisions: BTreeMap<String, Decision>,
) -> Result<RunOptions, CliError> {
    let clock = match &exec.now {
        Some(text) => Clock::starting_at(super::inputs::parse_now(
            text,
            plan.window.as_ref().map(|w| &w.timezone),
        )?),
        None => Clock::system(),
    };
    Ok(RunOptions {
        mode: state.mode,
        operator: operator(exec),
        fail_at: state.fail_at.clone(),
        decisions,
        clock,
        confirmations: super::inputs::confirmations(&exec.confirm, exec.checklist_file.as_deref())?,
        override_window: exec.reason.clone().filter(|_| exec.override_window),
    })
}

pub fn resume(args: ResumeArgs) -> Result<ExitCode, CliError> {
    let Stopped {
        place,
        run_dir,
        state,
        mut plan,
    } = load(&args.run_id, &args.exec)?;
    // The window and the budget are checked again before each step: on the
    // sources' figures of now, as `run` does.
    if state.mode != Mode::DryRun && (plan.window.is_some() || plan.downtime_budget.is_some()) {
        let runs = crate::journal::step_runs(&place.dir, &plan.name);
        super::measure::scale_estimates(&mut plan, &runs)?;
    }
    let id = run_dir.id.clone();
    match state.outcome {
        Some(Outcome::Done) => {
            eprintln!("run {id} already finished: done; nothing to resume");
            return Ok(ExitCode::Done);
        }
        Some(Outcome::RolledBack) => {
            return Err(CliError::new(
                ExitCode::Usage,
                format!("run {id} was rolled back; there is nothing to resume"),
            )
            .hint("start a new run with `cutover run`"));
        }
        Some(Outcome::Refused) => {
            return Err(CliError::new(
                ExitCode::Usage,
                format!("run {id} was refused before its first step; there is nothing to resume"),
            )
            .hint(
                "start a new run with `cutover run` once the window and the checklist allow it",
            ));
        }
        _ => {}
    }
    let mut decisions = BTreeMap::new();
    for (steps, decision) in [
        (&args.assume_done, Decision::AssumeDone),
        (&args.rerun, Decision::Rerun),
    ] {
        for step in steps {
            if plan.step(step).is_none() {
                return Err(CliError::new(
                    ExitCode::Usage,
                    format!("no step `{step}` in run {id}'s playbook"),
                ));
            }
            decisions.insert(step.clone(), decision);
        }
    }
    if let Some(step) = resume_blocker(&plan, &state, &decisions) {
        match ask_decision(&step) {
            Some(decision) => {
                decisions.insert(step, decision);
            }
            None => {
                return Err(CliError::new(
                    ExitCode::NeedsOperator,
                    format!("step `{step}` was running when run {id} stopped, and it is not idempotent: it may or may not have completed"),
                )
                .hint(format!(
                    "check its effect, then `cutover resume {id} --assume-done {step}` if it completed, or `--rerun {step}` to run it again"
                )));
            }
        }
    }
    check_approvals(&plan, &args.exec, state.mode, &|step| {
        state.is_finished(step)
    })?;
    let stopped = Stopped {
        place,
        run_dir,
        state,
        plan,
    };
    take_over(stopped, &args.exec, decisions, Start::Resume)
}

/// Takes a stopped run over: its locks, its journal continued (mirrored to
/// the store, if any), then the runner from where it stopped.
fn take_over(
    stopped: Stopped,
    exec: &ExecArgs,
    decisions: BTreeMap<String, Decision>,
    start: Start,
) -> Result<ExitCode, CliError> {
    let Stopped {
        place,
        run_dir,
        state,
        plan,
    } = stopped;
    let signer = super::inputs::signer(exec)?;
    let _lock = lock_for(&place, &state, &plan, exec)?;
    let mut writer = Writer::append_to(&run_dir.journal())?;
    if let Some(signer) = signer {
        writer.sign_with(signer);
    }
    let host = super::session::host();
    super::state::attach(&place, &mut writer, &run_dir.id, &host, None)?;
    execute(
        &plan,
        options(&plan, &state, exec, decisions)?,
        exec,
        Journal {
            run_dir,
            writer,
            state: Some(state),
        },
        start,
        place.store.clone(),
    )
}

pub fn rollback(args: RollbackArgs) -> Result<ExitCode, CliError> {
    let stopped = load(&args.run_id, &args.exec)?;
    let Stopped {
        run_dir,
        state,
        plan,
        ..
    } = &stopped;
    let id = run_dir.id.clone();
    // Partial work a finished rollback left behind (noted, never undone).
    let leftover = leftovers(plan, state);
    if state.went_back && args.to.is_none() {
        return Err(CliError::new(
            ExitCode::Usage,
            format!("run {id} already went back: its go-back completed"),
        )
        .hint("`cutover audit show RUN` shows what the go-back did"));
    }
    if goes_back(plan, state, args.to.is_some()) {
        return take_over(stopped, &args.exec, BTreeMap::new(), Start::GoBack);
    }
    match state.outcome {
        Some(Outcome::RolledBack) if args.to.is_none() && !leftover.is_empty() => {}
        Some(Outcome::Done) => {
            return Err(CliError::new(
                ExitCode::Usage,
                format!("run {id} completed; a completed cutover is not rolled back"),
            )
            .hint("to go back, write and rehearse a playbook for the way back"))
        }
        // Rolled back to a middle checkpoint: going further back is allowed.
        Some(Outcome::RolledBack) if args.to.is_none() => {
            return Err(CliError::new(
                ExitCode::Usage,
                format!("run {id} is already rolled back to its last checkpoint"),
            )
            .hint(format!(
                "`cutover rollback {id} --to CHECKPOINT` undoes further back"
            )));
        }
        Some(Outcome::Refused) => {
            return Err(CliError::new(
                ExitCode::Usage,
                format!("run {id} was refused before its first step; there is nothing to undo"),
            ));
        }
        _ => {}
    }
    let (checkpoint, steps) = match &state.rollback {
        // A rollback that stopped half-way continues where it stopped.
        Some(pending) if args.to.is_none() => {
            (pending.checkpoint.clone(), pending.remaining.clone())
        }
        None if args.to.is_none() && state.outcome == Some(Outcome::RolledBack) => {
            (state.checkpoints.last().cloned(), leftover)
        }
        _ => rollback_targets(plan, state, args.to.as_deref())
            .map_err(|e| CliError::new(ExitCode::Usage, e))?,
    };
    let start = Start::Rollback { checkpoint, steps };
    take_over(stopped, &args.exec, BTreeMap::new(), start)
}

/// `rollback` without `--to`, of a run past its point of no return (or one
/// that completed) whose playbook has a `go_back:`, or one whose go-back a
/// stop interrupted: the go-back runs rather than step-by-step undos, which
/// would swap traffic back without the reverse catch-up.
fn goes_back(plan: &Plan, state: &RunState, to_checkpoint: bool) -> bool {
    if plan.go_back.is_empty() || to_checkpoint {
        return false;
    }
    if state.go_back.is_some() {
        return true;
    }
    let past_point_of_no_return = plan
        .steps()
        .any(|step| step.point_of_no_return && state.is_finished(&step.id));
    past_point_of_no_return && !state.went_back && state.outcome != Some(Outcome::RolledBack)
}

fn lock_for(
    place: &Place,
    state: &RunState,
    plan: &Plan,
    exec: &ExecArgs,
) -> Result<Option<crate::engine::PlaybookLock>, CliError> {
    match state.mode {
        Mode::Live | Mode::Rehearsal => {
            let path = std::path::Path::new(&state.path);
            let vars = std::fs::read_to_string(place.dir.run(&state.run_id).vars()).ok();
            let operator = operator(exec);
            lock(place, plan, path, vars.as_deref(), &state.run_id, &operator).map(Some)
        }
        Mode::DryRun => Ok(None),
    }
}

/// On a terminal, asks what happened to a step that was in flight.
fn ask_decision(step: &str) -> Option<Decision> {
    if !interactive() {
        return None;
    }
    eprintln!("Step `{step}` was running when the run stopped and is not idempotent.");
    eprint!("Did it complete? [d]one / [r]erun it / anything else aborts: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).ok()?;
    match answer.trim() {
        "d" | "done" => Some(Decision::AssumeDone),
        "r" | "rerun" => Some(Decision::Rerun),
        _ => None,
    }
}
