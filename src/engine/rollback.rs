//! Rollback: what a stop leads to — the compensations of completed steps,
//! newest first, each journaled and retried, or past the point of no return a
//! stop for an operator. It stops at the first compensation that fails for
//! good — the older ones may depend on it — and says exactly where things stand.

use super::step::Executor;
use super::stop::{Finish, Stop};
use super::undo::{joined, list, undo, Undone};
use crate::journal::Outcome;
use crate::plan::{compensations, FailurePlan, PlanItem};

/// A stop at item `index`: roll back to the last checkpoint, or, past the
/// point of no return, stop and say what an operator can do.
pub(super) async fn fail(
    exec: &Executor<'_, '_>,
    index: usize,
    stop: Stop,
) -> anyhow::Result<Finish> {
    let (what, reason) = (stop.what(), stop.reason());
    let (plan, recorder) = (exec.plan, exec.recorder);
    // Only a failed step that got as far as changing something is undone
    // itself (a failed read-only check changed nothing).
    let started = recorder.state(|s| {
        s.failed_apply_began
            && matches!(&plan.items.get(index), Some(PlanItem::Step(step)) if s.failed_step.as_deref() == Some(step.id.as_str()))
    });
    let failure_plan =
        recorder.state(|state| compensations(plan, index, &|id| state.is_finished(id), started));
    match failure_plan {
        FailurePlan::RollBack { checkpoint, undo } => {
            roll_back(exec, &reason, checkpoint, undo).await
        }
        FailurePlan::Stop { .. } if goes_back(exec, &stop) => {
            super::go_back::start(exec, &what).await
        }
        FailurePlan::Stop {
            point_of_no_return,
            manual_undo,
        } => {
            let done = recorder.state(|s| {
                plan.steps()
                    .filter(|st| s.is_finished(&st.id))
                    .map(|st| format!("`{}`", st.id))
                    .collect::<Vec<_>>()
            });
            let back = if !plan.go_back.is_empty() {
                format!(
                    "to go back by the playbook's go-back ({})",
                    plan.go_back
                        .iter()
                        .map(|s| format!("`{}`", s.id))
                        .collect::<Vec<_>>()
                        .join(" → ")
                )
            } else if manual_undo.is_empty() {
                "to undo nothing (no step since the last checkpoint has a rollback)".to_string()
            } else {
                format!(
                    "to undo {}",
                    manual_undo
                        .iter()
                        .map(|s| format!("`{s}`"))
                        .collect::<Vec<_>>()
                        .join(", then ")
                )
            };
            let message = format!(
                "{what}\nthe run is past its point of no return (`{point_of_no_return}`), so nothing was rolled back.\n\
                 completed: {}\n\
                 next: fix the cause and `{resume}` to retry, or `{rollback}` {back}",
                if done.is_empty() { "nothing".to_string() } else { done.join(", ") },
                resume = recorder.command("resume"),
                rollback = recorder.command("rollback"),
            );
            recorder.finish(Outcome::NeedsOperator, message)
        }
    }
}

/// Past the point of no return, a failed step that asks for it (a watch with
/// `on_breach: go_back`) runs the playbook's go-back, if it has one.
fn goes_back(exec: &Executor<'_, '_>, stop: &Stop) -> bool {
    let Stop::Failed { step, .. } = stop else {
        return false;
    };
    !exec.plan.go_back.is_empty()
        && exec
            .plan
            .step(step)
            .is_some_and(|s| s.call.action.goes_back_on_failure())
}

/// Runs the compensations of `steps` (newest first) and finishes the run.
pub(super) async fn roll_back(
    exec: &Executor<'_, '_>,
    reason: &str,
    checkpoint: Option<String>,
    steps: Vec<String>,
) -> anyhow::Result<Finish> {
    match undo(exec, reason, checkpoint.clone(), steps).await? {
        Undone::Stuck {
            step,
            removed,
            remaining,
        } => {
            let message = format!(
                "{reason}, and the rollback of `{step}` failed after its retries.\n\
                 undone: {}\n\
                 not undone: {}\n\
                 next: fix the cause, then `{resume}` to continue the rollback",
                joined(&removed),
                list(&remaining),
                resume = exec.recorder.command("resume"),
            );
            exec.recorder.finish(Outcome::NeedsOperator, message)
        }
        Undone::All { removed } => {
            let to = match &checkpoint {
                Some(name) => format!("checkpoint `{name}`"),
                None => "the start".to_string(),
            };
            exec.recorder.finish(
                Outcome::RolledBack,
                format!(
                    "{reason}; rolled back to {to} (undone: {})",
                    joined(&removed)
                ),
            )
        }
    }
}
