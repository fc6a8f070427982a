//! Rollback: the compensations of completed steps, newest first, each journaled
//! and retried. It stops at the first compensation that fails for good — the
//! older ones may depend on it — and says exactly where things stand.

use std::time::Instant;

use super::runner::{Finish, Runner};
use super::step::Interruptible;
use crate::journal::{Event, Outcome, StepStatus};

impl Runner<'_> {
    /// Runs the compensations of `steps` (newest first) and finishes the run.
    pub(super) async fn roll_back(
        &self,
        reason: &str,
        checkpoint: Option<String>,
        steps: Vec<String>,
    ) -> anyhow::Result<Finish> {
        // Continuing the same rollback journals nothing new; a different list (an
        // operator's `rollback --to`) is a new rollback.
        let resuming = self.state(|s| s.rollback.as_ref().is_some_and(|r| r.remaining == steps));
        if !resuming {
            self.emit(Event::RollbackStarted {
                reason: reason.to_string(),
                checkpoint: checkpoint.clone(),
                steps: steps.clone(),
            })?;
        }
        let mut undone = Vec::new();
        for (position, step_id) in steps.iter().enumerate() {
            if self.state(|s| s.status(step_id) == Some(&StepStatus::Compensated)) {
                undone.push(step_id.clone());
                continue;
            }
            let Some(call) = self.plan.step(step_id).and_then(|s| s.rollback.as_ref()) else {
                continue;
            };
            if !self.compensate(step_id, call).await? {
                let remaining: Vec<String> = steps[position..].to_vec();
                self.emit(Event::RollbackFinished {
                    complete: false,
                    undone: undone.clone(),
                    remaining: remaining.clone(),
                })?;
                let message = format!(
                    "{reason}, and the rollback of `{step_id}` failed after its retries.\n\
                     undone: {}\n\
                     not undone: {}\n\
                     next: fix the cause, then `{resume}` to continue the rollback",
                    list(&undone),
                    list(&remaining),
                    resume = self.command("resume"),
                );
                return self.finish(Outcome::NeedsOperator, message);
            }
            undone.push(step_id.clone());
        }
        self.emit(Event::RollbackFinished {
            complete: true,
            undone: undone.clone(),
            remaining: Vec::new(),
        })?;
        let to = match &checkpoint {
            Some(name) => format!("checkpoint `{name}`"),
            None => "the start".to_string(),
        };
        self.finish(
            Outcome::RolledBack,
            format!("{reason}; rolled back to {to} (undone: {})", list(&undone)),
        )
    }

    /// One compensation through its attempts; false when it failed for good.
    async fn compensate(
        &self,
        step_id: &str,
        call: &crate::plan::PlannedCall,
    ) -> anyhow::Result<bool> {
        let attempts = call.retries.attempts.max(1);
        for attempt in 1..=attempts {
            self.emit(Event::CompensationStarted {
                step: step_id.to_string(),
                attempt,
                action: call.action.name().to_string(),
                describe: call.action.describe(),
            })?;
            let started = Instant::now();
            let result = self
                .attempt(step_id, call, attempt, Interruptible::No)
                .await;
            let duration_ms = started.elapsed().as_millis() as u64;
            match result {
                Ok(applied) => {
                    self.emit(Event::CompensationFinished {
                        step: step_id.to_string(),
                        attempt,
                        duration_ms,
                        output_tail: applied.output_tail,
                    })?;
                    return Ok(true);
                }
                Err(failure) => {
                    let final_attempt = attempt == attempts;
                    self.emit(Event::CompensationFailed {
                        step: step_id.to_string(),
                        attempt,
                        duration_ms,
                        error: failure.error,
                        output_tail: failure.output_tail,
                        final_attempt,
                    })?;
                    if !final_attempt {
                        tokio::time::sleep(call.retries.backoff.0).await;
                    }
                }
            }
        }
        Ok(false)
    }
}

fn list(steps: &[String]) -> String {
    if steps.is_empty() {
        "nothing".into()
    } else {
        steps
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
