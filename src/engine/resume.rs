//! Resume and manual rollback of a stopped run, from the state its journal
//! rebuilds: settle leftover processes, decide about the step in flight, then
//! go on forward or finish the rollback.

use super::runner::{Finish, Runner, Stop};
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
            PlanItem::Step(step) if collecting && step.rollback.is_some() => {
                // A failed step whose action can leave part of its change is undone too.
                let partial = step.rollback_origin == crate::plan::RollbackOrigin::Implied
                    && step.call.action.undoes_partial_failure()
                    && state.status(&step.id) == Some(&StepStatus::Failed);
                if partial
                    || matches!(
                        state.status(&step.id),
                        Some(
                            StepStatus::Finished
                                | StepStatus::CompensationFailed
                                | StepStatus::Compensating { .. }
                        )
                    )
                {
                    steps.push(step.id.clone());
                }
            }
            _ => {}
        }
    }
    steps.reverse();
    Ok((checkpoint, steps))
}

impl Runner<'_> {
    /// Takes a stopped run over: journals the resume, kills what an earlier
    /// attempt left running, applies decisions, then continues.
    pub async fn resume(&self) -> anyhow::Result<Finish> {
        self.emit(Event::RunResumed {
            operator: self.options.operator.clone(),
            pid: std::process::id(),
            command: "resume".into(),
        })?;
        if let Some(reason) = &self.options.override_window {
            self.emit(Event::WindowOverridden {
                operator: self.options.operator.clone(),
                reason: reason.clone(),
            })?;
        }
        self.settle_leftovers().await?;
        // Stopped before its first step (a crash at a checklist prompt): the
        // window and the checklist have not let it start yet.
        if !self.state(|s| s.guarded) {
            if let Some(refusal) = self.guard_start().await? {
                return Ok(refusal);
            }
        }
        if let Some(pending) = self.state(|s| s.rollback.clone()) {
            return self
                .roll_back(&pending.reason, pending.checkpoint, pending.remaining)
                .await;
        }
        if let Some((step, StepStatus::InFlight { .. })) =
            self.state(|s| s.in_flight().map(|(a, b)| (a.to_string(), b.clone())))
        {
            let decision = match self.options.decisions.get(&step) {
                Some(decision) => *decision,
                None => Decision::Rerun, // resume_blocker let it through: idempotent
            };
            self.emit(Event::StepDecided {
                step: step.clone(),
                decision: decision.as_str().into(),
                operator: self.options.operator.clone(),
            })?;
        }
        if let Some(failed) = self.state(|s| s.failed_step.clone()) {
            let past_point_of_no_return = self.state(|s| {
                self.plan
                    .steps()
                    .any(|st| st.point_of_no_return && s.is_finished(&st.id))
            });
            if !past_point_of_no_return {
                // Stopped between a failure and its rollback: finish the job.
                let index = self.item_index(&failed);
                return self
                    .fail(
                        index,
                        Stop::Failed {
                            step: failed,
                            error: "failed before the stop".into(),
                        },
                    )
                    .await;
            }
            // Past the point of no return the operator fixed the cause: retry it.
        }
        self.forward().await
    }

    /// `cutover rollback`: undoes completed steps back to a checkpoint.
    pub async fn rollback_to(
        &self,
        checkpoint: Option<String>,
        steps: Vec<String>,
    ) -> anyhow::Result<Finish> {
        self.emit(Event::RunResumed {
            operator: self.options.operator.clone(),
            pid: std::process::id(),
            command: "rollback".into(),
        })?;
        self.settle_leftovers().await?;
        let reason = format!("rollback requested by {}", self.options.operator);
        self.roll_back(&reason, checkpoint, steps).await
    }

    async fn settle_leftovers(&self) -> anyhow::Result<()> {
        let leftovers: Vec<(String, i32, crate::process::ProcessRecord)> = self.state(|s| {
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
                self.notice(&format!("killed processes left over by the earlier attempt of `{step}` (process group {pid})"));
                self.emit(Event::ProcessSettled { step, pid })?;
            }
        }
        Ok(())
    }

    fn item_index(&self, step_id: &str) -> usize {
        self.plan
            .items
            .iter()
            .position(|item| matches!(item, PlanItem::Step(s) if s.id == step_id))
            .unwrap_or(self.plan.items.len())
    }
}
