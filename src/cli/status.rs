//! `cutover status`: the runs of a state directory that have not ended —
//! running now (their process is alive) or stopped and waiting for a
//! `resume` or `rollback` — with their current step, operator, host, elapsed
//! time and the remaining time their estimates predict. Reads journals only.

use std::time::Duration;

use super::args::{Output, StatusArgs};
use super::{CliError, ExitCode};
use crate::duration::format_duration;
use crate::journal::{self, Event, Record, RunState, StateDir, StepStatus};
use crate::playbook::Source;

/// One run that has not ended.
#[derive(Debug, serde::Serialize)]
struct Status {
    run_id: String,
    playbook: String,
    mode: String,
    /// `running` (its process is alive) or `stopped`.
    state: &'static str,
    pid: u32,
    /// The step under way or the one the run stopped at; `None` before the first.
    step: Option<String>,
    /// 1-based position of that step, and how many steps the playbook has.
    position: Option<(usize, usize)>,
    operator: String,
    host: String,
    started: String,
    elapsed_ms: u64,
    /// Sum of the estimates of the steps not done yet (`None`: none known).
    remaining_ms: Option<u64>,
    /// Steps left without an estimate.
    unestimated: usize,
    /// With a shared store: seconds since the run's process last said it was
    /// alive (it says so every 5 s; `running` up to 20 s).
    #[serde(skip_serializing_if = "Option::is_none")]
    heartbeat_s: Option<u64>,
}

pub fn status(args: StatusArgs) -> Result<ExitCode, CliError> {
    let place = super::state::open(
        args.store.state.as_deref(),
        args.state_dir.clone(),
        || StateDir::new(".cutover"),
        crate::store::Pull::Changed,
    )?;
    // With a store, a run is live while its heartbeat is, wherever it runs.
    let beats: std::collections::BTreeMap<String, (f64, String)> = place
        .stored
        .into_iter()
        .filter_map(|run| Some((run.id, (run.heartbeat_age?, run.heartbeat_host?))))
        .collect();
    let store = place.store.is_some();
    let state_dir = place.dir;
    super::audit::trusted(&[state_dir.root(), &state_dir.runs()])?;
    let mut runs = Vec::new();
    for id in state_dir.run_ids() {
        let run_dir = state_dir.run(&id);
        super::audit::trusted(&[&run_dir.path])?;
        let Ok(records) = journal::read(&run_dir.journal()) else {
            continue;
        };
        let Ok(state) = journal::replay(&records) else {
            continue;
        };
        if state.outcome.is_some() {
            continue;
        }
        let mut status = summarize(&state_dir, &run_dir, &records, &state);
        if store {
            let beat = beats.get(&status.run_id);
            status.heartbeat_s = beat.map(|(age, _)| age.round() as u64);
            if let Some((age, host)) = beat {
                status.host = host.clone();
                let live = *age < (crate::store::HEARTBEAT * 4).as_secs_f64();
                status.state = if live { "running" } else { "stopped" };
            } else {
                status.state = "stopped";
            }
        }
        runs.push(status);
    }
    if args.output == Output::Json {
        for run in &runs {
            println!(
                "{}",
                serde_json::to_string(run).expect("a status serializes")
            );
        }
        return Ok(ExitCode::Done);
    }
    if runs.is_empty() {
        eprintln!("no run in progress in {}", state_dir.runs().display());
        return Ok(ExitCode::Done);
    }
    println!(
        "{:<22} {:<24} {:<8} {:<24} {:<12} {:<12} {:>9} {:>10}",
        "run", "playbook", "state", "step", "operator", "host", "elapsed", "remaining"
    );
    for run in runs {
        let step = match (&run.step, run.position) {
            (Some(step), Some((at, of))) => format!("{step} ({at}/{of})"),
            (Some(step), None) => step.clone(),
            _ => "-".into(),
        };
        let remaining = match run.remaining_ms {
            Some(ms) if run.unestimated > 0 => format!(
                "~{} +{}?",
                format_duration(Duration::from_millis(ms)),
                run.unestimated
            ),
            Some(ms) => format!("~{}", format_duration(Duration::from_millis(ms))),
            None => "?".into(),
        };
        println!(
            "{:<22} {:<24} {:<8} {:<24} {:<12} {:<12} {:>9} {:>10}",
            run.run_id,
            run.playbook,
            run.state,
            step,
            run.operator,
            run.host,
            format_duration(Duration::from_secs(run.elapsed_ms / 1000)),
            remaining
        );
    }
    Ok(ExitCode::Done)
}

fn summarize(
    state_dir: &StateDir,
    run_dir: &journal::RunDir,
    records: &[Record],
    state: &RunState,
) -> Status {
    // The process now driving the run: the last to start or take it over.
    let (mut pid, mut operator, mut host) = (0, state.operator.clone(), String::new());
    for record in records {
        match &record.event {
            Event::RunStarted {
                pid: p,
                operator: o,
                host: h,
                ..
            } => {
                (pid, operator, host) = (*p, o.clone(), h.clone());
            }
            Event::RunResumed {
                pid: p,
                operator: o,
                ..
            } => {
                (pid, operator) = (*p, o.clone());
            }
            _ => {}
        }
    }
    let step = current_step(records, state);
    let started = records.first().map(|r| r.ts.clone()).unwrap_or_default();
    let elapsed_ms = started
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|at| (jiff::Timestamp::now().as_millisecond() - at.as_millisecond()).max(0) as u64)
        .unwrap_or(0);
    let plan = run_plan(state_dir, run_dir);
    let (position, remaining_ms, unestimated) = match &plan {
        Some(plan) => {
            let ids: Vec<&str> = plan.steps().map(|s| s.id.as_str()).collect();
            let position = step
                .as_deref()
                .and_then(|id| ids.iter().position(|s| *s == id))
                .map(|at| (at + 1, ids.len()));
            let left: Vec<_> = plan.steps().filter(|s| !state.is_finished(&s.id)).collect();
            let known: u64 = left
                .iter()
                .filter_map(|s| s.estimate)
                .map(|d| d.as_millis() as u64)
                .sum();
            let unknown = left.iter().filter(|s| s.estimate.is_none()).count();
            let remaining = (unknown < left.len() || left.is_empty()).then_some(known);
            (position, remaining, unknown)
        }
        None => (None, None, 0),
    };
    Status {
        run_id: state.run_id.clone(),
        playbook: state.playbook.clone(),
        mode: state.mode.as_str().to_string(),
        state: if alive(pid) { "running" } else { "stopped" },
        pid,
        step,
        position,
        operator,
        host,
        started,
        elapsed_ms,
        remaining_ms,
        unestimated,
        heartbeat_s: None,
    }
}

/// The step in flight, else the last one started.
fn current_step(records: &[Record], state: &RunState) -> Option<String> {
    if let Some((step, StepStatus::InFlight { .. } | StepStatus::Compensating { .. })) =
        state.in_flight()
    {
        return Some(step.to_string());
    }
    records.iter().rev().find_map(|r| match &r.event {
        Event::StepStarted { step, .. } => Some(step.clone()),
        _ => None,
    })
}

/// The run's own copy of its playbook, compiled without the environment
/// (status needs no secret), with the state directory's measured estimates.
fn run_plan(state_dir: &StateDir, run_dir: &journal::RunDir) -> Option<crate::plan::Plan> {
    let text = std::fs::read_to_string(run_dir.playbook()).ok()?;
    let source = Source::new(run_dir.playbook(), text);
    let mut plan = crate::plan::compile(&source, crate::plan::EnvMode::Lenient, &[]).ok()?;
    plan.apply_history(&journal::step_durations(state_dir, &plan.name));
    Some(plan)
}

/// A cutover process with this pid is alive.
fn alive(pid: u32) -> bool {
    pid != 0
        && std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains("cutover"))
}
