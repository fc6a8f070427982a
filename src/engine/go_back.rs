//! The go-back: past the point of no return, the playbook's `go_back:` steps
//! in order (freeze the new server → reverse catch-up → swap back → thaw the
//! old one). It goes on only while it loses nothing: a step of it failing
//! before the go-back's own point of no return (a reverse catch-up that
//! cannot reach the new server's last write, say) undoes the go-back's steps
//! so far and stops for an operator, traffic left where it was, and the
//! message says why — the failing check names the lag, which is what going
//! back would have lost. Past the go-back's own point of no return (its swap
//! back) nothing is undone: the go-back stays pending, and `cutover rollback`
//! or `resume` goes on with its remaining steps.

use super::step::{Executor, Limits};
use super::stop::{Finish, Stop};
use super::undo::{joined, list, undo, Undone};
use crate::journal::{Event, Outcome, StepStatus};
use crate::plan::{PlannedStep, RollbackOrigin};

/// Begins a go-back: journals it, then runs its steps.
pub(super) async fn start(exec: &Executor<'_, '_>, reason: &str) -> anyhow::Result<Finish> {
    exec.recorder.emit(Event::GoBackStarted {
        reason: reason.to_string(),
        steps: exec.plan.go_back.iter().map(|s| s.id.clone()).collect(),
    })?;
    run(exec, reason).await
}

/// Goes on with a go-back a stop interrupted: its undo, if a step of it had
/// failed, else its remaining steps.
pub(super) async fn resume(exec: &Executor<'_, '_>, reason: &str) -> anyhow::Result<Finish> {
    let failed = exec.recorder.state(|s| {
        s.failed_step
            .clone()
            .filter(|id| exec.plan.is_go_back_step(id) && s.status(id) == Some(&StepStatus::Failed))
    });
    if let Some(step) = failed.filter(|_| !past_own_point_of_no_return(exec)) {
        let index = position(exec, &step);
        let stop = Stop::Failed {
            step,
            error: "failed before the stop".into(),
        };
        return refuse(exec, reason, index, stop).await;
    }
    run(exec, reason).await
}

/// The go-back's steps from the first one not done yet.
async fn run(exec: &Executor<'_, '_>, reason: &str) -> anyhow::Result<Finish> {
    let recorder = exec.recorder;
    for (index, step) in exec.plan.go_back.iter().enumerate() {
        if recorder.state(|s| s.is_finished(&step.id)) {
            continue;
        }
        if let Some(signal) = exec.interrupted() {
            recorder.emit(Event::Interrupted {
                signal: signal.clone(),
            })?;
            return stopped(exec, reason, index, Stop::Interrupted { signal }).await;
        }
        // No budget, no slow watch: the way back is not held to the forward
        // run's rehearsed figures; each step's own timeout bounds it.
        if let Err(stop) = exec.run_step(step, &Limits::default()).await? {
            return stopped(exec, reason, index, stop).await;
        }
    }
    recorder.emit(Event::GoBackFinished {
        went_back: true,
        failed_step: None,
        error: None,
    })?;
    let done: Vec<String> = exec.plan.go_back.iter().map(|s| s.id.clone()).collect();
    recorder.finish(
        Outcome::RolledBack,
        format!(
            "{reason}; went back: the go-back ran {}",
            list(&done).replace(", ", " → ")
        ),
    )
}

/// A step of the go-back failed (or the run was interrupted during it).
async fn stopped(
    exec: &Executor<'_, '_>,
    reason: &str,
    index: usize,
    stop: Stop,
) -> anyhow::Result<Finish> {
    if !past_own_point_of_no_return(exec) {
        return refuse(exec, reason, index, stop).await;
    }
    let ponr = exec
        .plan
        .go_back
        .iter()
        .rfind(|s| s.point_of_no_return && exec.recorder.state(|st| st.is_finished(&s.id)))
        .map(|s| s.id.clone())
        .unwrap_or_default();
    // The go-back stays pending: the next `rollback` or `resume` goes on from here.
    exec.recorder.finish(
        Outcome::NeedsOperator,
        format!(
            "{reason}; the go-back is past its own point of no return (`{ponr}`) and stopped: {}\n\
             nothing was undone: traffic is on the old server\n\
             next: fix the cause, then `{}` to finish the go-back",
            stop.what(),
            exec.recorder.command("rollback"),
        ),
    )
}

/// Before its own point of no return: undo what the go-back did and stop for
/// an operator, traffic where it was.
async fn refuse(
    exec: &Executor<'_, '_>,
    reason: &str,
    index: usize,
    stop: Stop,
) -> anyhow::Result<Finish> {
    let failed = exec.plan.go_back.get(index);
    let undo_reason = format!(
        "the go-back stopped at `{}`",
        failed.map(|s| s.id.as_str()).unwrap_or("?")
    );
    let steps = match exec.recorder.state(|s| s.rollback.clone()) {
        // Killed while undoing: go on with what was left.
        Some(pending) => pending.remaining,
        None => done_so_far(exec, index),
    };
    let undone = undo(exec, &undo_reason, None, steps).await?;
    let what = stop.what();
    exec.recorder.emit(Event::GoBackFinished {
        went_back: false,
        failed_step: failed.map(|s| s.id.clone()),
        error: Some(what.clone()),
    })?;
    let undone = match undone {
        Undone::All { removed } => format!("undone: {}", joined(&removed)),
        Undone::Stuck {
            step,
            removed,
            remaining,
        } => format!(
            "undone: {}; the undo of `{step}` failed: not undone: {}",
            joined(&removed),
            list(&remaining)
        ),
    };
    exec.recorder.finish(
        Outcome::NeedsOperator,
        format!(
            "{reason}; the go-back was refused: {what}\n\
             going back now could lose writes the old server has not received, so traffic stays where it was ({undone})\n\
             next: fix the cause (is the reverse replication running?), then `{}` to go back, or `{}` to carry on forward",
            exec.recorder.command("rollback"),
            exec.recorder.command("resume"),
        ),
    )
}

/// What the go-back did before the step at `index`, newest first, and that
/// step itself when its action undoes its own partial work.
fn done_so_far(exec: &Executor<'_, '_>, index: usize) -> Vec<String> {
    let apply_began = exec.recorder.state(|s| s.failed_apply_began);
    let mut steps: Vec<String> = exec.plan.go_back[..index.min(exec.plan.go_back.len())]
        .iter()
        .filter(|s| {
            s.rollback.is_some() && exec.recorder.state(|st| finished_or_undoing(st, &s.id))
        })
        .map(|s| s.id.clone())
        .collect();
    if let Some(step) = exec
        .plan
        .go_back
        .get(index)
        .filter(|s| apply_began && undoes_its_partial_work(s))
    {
        steps.push(step.id.clone());
    }
    steps.reverse();
    steps
}

/// A go-back step marked `point_of_no_return` (its swap back) completed.
fn past_own_point_of_no_return(exec: &Executor<'_, '_>) -> bool {
    exec.recorder.state(|s| {
        exec.plan
            .go_back
            .iter()
            .any(|step| step.point_of_no_return && s.is_finished(&step.id))
    })
}

fn finished_or_undoing(state: &crate::journal::RunState, id: &str) -> bool {
    matches!(
        state.status(id),
        Some(
            StepStatus::Finished | StepStatus::Compensating { .. } | StepStatus::CompensationFailed
        )
    )
}

/// A failed step whose own inverse undoes whatever part of it got done.
fn undoes_its_partial_work(step: &PlannedStep) -> bool {
    step.rollback_origin == RollbackOrigin::Implied && step.call.action.undoes_partial_failure()
}

fn position(exec: &Executor<'_, '_>, id: &str) -> usize {
    exec.plan
        .go_back
        .iter()
        .position(|s| s.id == id)
        .unwrap_or(exec.plan.go_back.len())
}
