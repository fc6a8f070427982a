//! Resume and manual rollback of a stopped run, from the state its journal
//! rebuilds: settle leftover processes, decide about the step in flight, then
//! finish the rollback or hand back to the runner to go on forward.

use super::guard;
use super::recorder::Recorder;
use super::rollback;
use super::step::Executor;
use super::stop::{Finish, Stop};
use super::Decision;
use crate::journal::{Event, RunState, StepStatus};
use crate::plan::{Plan, PlanItem};
use crate::process::settle_process_group;

/// The in-flight step a resume cannot settle alone: not idempotent and no
/// decision given. Checked before anything is journaled.
pub fn resume_blocker(
    plan: &Plan,
    state: &RunState,
    decisions: &std::collections::BTreeMap<String, Decision>,
) -> Option<String> {
    if state.rollback.is_some() {
        return None; // compensations are re-run: they are meant to be repeatable
    }
    let (step, status) = state.in_flight()?;
    if !matches!(status, StepStatus::InFlight { .. }) || decisions.contains_key(step) {
        return None;
    }
    match plan.step(step) {
        Some(planned) if !planned.idempotent => Some(step.to_string()),
        _ => None,
    }
}

/// The completed steps a manual rollback undoes, newest first: those after
/// checkpoint `to` (default: the last checkpoint passed) that have a rollback.
pub fn rollback_targets(
    plan: &Plan,
    state: &RunState,
    to: Option<&str>,
) -> Result<(Option<String>, Vec<String>), String> {
    let checkpoint = match to {
        Some(name) => {
            if !plan.checkpoints().any(|c| c == name) {
                let known: Vec<&str> = plan.checkpoints().collect();
                return Err(format!(
                    "no checkpoint `{name}` in the playbook (checkpoints: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ));
            }
            if !state.checkpoints.iter().any(|c| c == name) {
                return Err(format!("the run never reached checkpoint `{name}`"));
            }
            Some(name.to_string())
        }
        None => state.checkpoints.last().cloned(),
    };
    let mut collecting = checkpoint.is_none();
    let mut steps = Vec::new();
    for item in &plan.items {
        match item {
            PlanItem::Checkpoint(name) if Some(name) == checkpoint.as_ref() => collecting = true,
            // A failed (or killed) step whose action can leave part of its
            // change is undone too.
            PlanItem::Step(step)
                if collecting
                    && step.rollback.is_some()
                    && (partial_work(step, state)
                        || matches!(
                            state.status(&step.id),
                            Some(
                                StepStatus::Finished
                                    | StepStatus::CompensationFailed
                                    | StepStatus::Compensating { .. }
                            )
                        )) =>
            {
                steps.push(step.id.clone());
            }
            _ => {}
        }
    }
    steps.reverse();
    Ok((checkpoint, steps))
}

/// A step that failed, or was in flight when the run died, whose own inverse
/// can undo the part of it that got done.
fn partial_work(step: &crate::plan::PlannedStep, state: &RunState) -> bool {
    step.rollback.is_some()
        && step.rollback_origin == crate::plan::RollbackOrigin::Implied
        && step.call.action.undoes_partial_failure()
        && matches!(
            state.status(&step.id),
            Some(StepStatus::Failed | StepStatus::InFlight { .. })
        )
}

/// The partial work a run that says it rolled back left behind, newest first:
/// failed steps that noted what they made and were never undone (a run rolled
/// back by a version that did not undo them). `cutover rollback` removes it.
pub fn leftovers(plan: &Plan, state: &RunState) -> Vec<String> {
    let mut steps: Vec<String> = plan
        .steps()
        .filter(|step| partial_work(step, state))
        .filter(|step| state.memory.get(&step.id).is_some_and(|m| !m.is_empty()))
        .map(|step| step.id.clone())
        .collect();
    steps.reverse();
    steps
}

/// Takes a stopped run over: journals the resume, kills what an earlier
/// attempt left running, applies decisions, and finishes what the stop left
/// half done. `None`: go on forward from where the run is.
pub(super) async fn take_over(exec: &Executor<'_, '_>) -> anyhow::Result<Option<Finish>> {
    let (plan, options, recorder) = (exec.plan, exec.options, exec.recorder);
    recorder.emit(Event::RunResumed {
        operator: options.operator.clone(),
        pid: std::process::id(),
        command: "resume".into(),
    })?;
    if let Some(reason) = &options.override_window {
        recorder.emit(Event::WindowOverridden {
            operator: options.operator.clone(),
            reason: reason.clone(),
        })?;
    }
    settle_leftovers(recorder).await?;
    // Stopped before its first step (a crash at a checklist prompt): the
    // window and the checklist have not let it start yet.
    if !recorder.state(|s| s.guarded) {
        if let Some(refusal) = guard::check_start(exec).await? {
            return Ok(Some(refusal));
        }
    }
    // Killed during a go-back: it goes on (or finishes undoing itself).
    if let Some(reason) = recorder.state(|s| s.go_back.clone()) {
        if recorder.state(|s| s.rollback.is_none()) {
            decide_in_flight(exec)?;
        }
        return Ok(Some(super::go_back::resume(exec, &reason).await?));
    }
    if let Some(pending) = recorder.state(|s| s.rollback.clone()) {
        let finish =
            rollback::roll_back(exec, &pending.reason, pending.checkpoint, pending.remaining)
                .await?;
        return Ok(Some(finish));
    }
    decide_in_flight(exec)?;
    if let Some(failed) = recorder.state(|s| s.failed_step.clone()) {
        let past_point_of_no_return = recorder.state(|s| {
            plan.steps()
                .any(|st| st.point_of_no_return && s.is_finished(&st.id))
        });
        if !past_point_of_no_return {
            // Stopped between a failure and its rollback: finish the job.
            let index = item_index(plan, &failed);
            let stop = Stop::Failed {
                step: failed,
                error: "failed before the stop".into(),
            };
            return Ok(Some(rollback::fail(exec, index, stop).await?));
        }
        // Past the point of no return the operator fixed the cause: retry it.
    }
    Ok(None)
}

/// Journals what becomes of the step a crash left in flight: the operator's
/// decision, else a re-run (resume_blocker let only idempotent ones through).
fn decide_in_flight(exec: &Executor<'_, '_>) -> anyhow::Result<()> {
    let (options, recorder) = (exec.options, exec.recorder);
    if let Some((step, StepStatus::InFlight { .. })) =
        recorder.state(|s| s.in_flight().map(|(a, b)| (a.to_string(), b.clone())))
    {
        let decision = match options.decisions.get(&step) {
            Some(decision) => *decision,
            None => Decision::Rerun,
        };
        recorder.emit(Event::StepDecided {
            step: step.clone(),
            decision: decision.as_str().into(),
            operator: options.operator.clone(),
        })?;
    }
    Ok(())
}

/// `cutover rollback` past the point of no return of a playbook with a
/// `go_back:`: runs the go-back (or goes on with one a stop interrupted).
pub(super) async fn go_back(exec: &Executor<'_, '_>) -> anyhow::Result<Finish> {
    exec.recorder.emit(Event::RunResumed {
        operator: exec.options.operator.clone(),
        pid: std::process::id(),
        command: "rollback".into(),
    })?;
    settle_leftovers(exec.recorder).await?;
    if let Some(reason) = exec.recorder.state(|s| s.go_back.clone()) {
        if exec.recorder.state(|s| s.rollback.is_none()) {
            decide_in_flight(exec)?;
        }
        return super::go_back::resume(exec, &reason).await;
    }
    let reason = format!("go-back requested by {}", exec.options.operator);
    super::go_back::start(exec, &reason).await
}

/// `cutover rollback`: undoes completed steps back to a checkpoint.
pub(super) async fn roll_back_to(
    exec: &Executor<'_, '_>,
    checkpoint: Option<String>,
    steps: Vec<String>,
) -> anyhow::Result<Finish> {
    exec.recorder.emit(Event::RunResumed {
        operator: exec.options.operator.clone(),
        pid: std::process::id(),
        command: "rollback".into(),
    })?;
    settle_leftovers(exec.recorder).await?;
    let reason = format!("rollback requested by {}", exec.options.operator);
    rollback::roll_back(exec, &reason, checkpoint, steps).await
}

async fn settle_leftovers(recorder: &Recorder<'_>) -> anyhow::Result<()> {
    let leftovers: Vec<(String, i32, crate::process::ProcessRecord)> = recorder.state(|s| {
        s.steps
            .iter()
            .filter_map(|(id, status)| match status {
                StepStatus::InFlight {
                    process: Some(p), ..
                }
                | StepStatus::Compensating { process: Some(p) } => {
                    Some((id.clone(), p.pid, p.clone()))
                }
                _ => None,
            })
            .collect()
    });
    for (step, pid, record) in leftovers {
        if settle_process_group(&record).await {
            recorder.notice(&format!("killed processes left over by the earlier attempt of `{step}` (process group {pid})"));
            recorder.emit(Event::ProcessSettled { step, pid })?;
        }
    }
    Ok(())
}

fn item_index(plan: &Plan, step_id: &str) -> usize {
    plan.items
        .iter()
        .position(|item| matches!(item, PlanItem::Step(s) if s.id == step_id))
        .unwrap_or(plan.items.len())
}
