//! The rollback map: for a failure at each step, which compensations run and in
//! which order — the same function the engine uses, so `plan` cannot lie.

use super::{Plan, PlanItem};

/// What happens when a given step fails.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FailurePlan {
    /// Compensations run newest first (step ids), back to `checkpoint`.
    RollBack {
        checkpoint: Option<String>,
        undo: Vec<String>,
    },
    /// Past the point of no return: nothing runs by itself.
    Stop {
        point_of_no_return: String,
        manual_undo: Vec<String>,
    },
}

/// The steps whose rollbacks run, newest first, when the step at `failed_index`
/// (an index into `plan.items`) fails, given which steps completed and whether
/// the failed one got as far as starting. A failed step whose action may leave
/// a partial change behind (a half-done swap) and whose rollback is that
/// action's own inverse is undone first.
pub fn compensations(
    plan: &Plan,
    failed_index: usize,
    completed: &dyn Fn(&str) -> bool,
    failed_step_started: bool,
) -> FailurePlan {
    let mut checkpoint = None;
    let mut since: Vec<String> = Vec::new();
    let mut point_of_no_return = None;
    for item in &plan.items[..failed_index.min(plan.items.len())] {
        match item {
            PlanItem::Checkpoint(name) => {
                checkpoint = Some(name.clone());
                since.clear();
            }
            PlanItem::Step(step) if completed(&step.id) => {
                if step.rollback.is_some() {
                    since.push(step.id.clone());
                }
                if step.point_of_no_return {
                    point_of_no_return = Some(step.id.clone());
                }
            }
            PlanItem::Step(_) => {}
        }
    }
    since.reverse();
    if let Some(PlanItem::Step(failed)) = plan.items.get(failed_index) {
        let partial = failed.rollback_origin == super::RollbackOrigin::Implied
            && failed.call.action.undoes_partial_failure();
        if failed_step_started && partial {
            since.insert(0, failed.id.clone());
        }
    }
    match point_of_no_return {
        Some(point) => FailurePlan::Stop {
            point_of_no_return: point,
            manual_undo: since,
        },
        None => FailurePlan::RollBack {
            checkpoint,
            undo: since,
        },
    }
}
