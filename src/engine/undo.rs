//! Undoing steps: their compensations, newest first, each journaled and
//! retried — for a rollback of the run and for a go-back that undoes itself.
//! It stops at the first compensation that fails for good: the older ones
//! may depend on it.

use std::time::Instant;

use super::step::{Executor, Interruptible};
use crate::journal::{Event, StepStatus};

/// How far a rollback got.
pub(super) enum Undone {
    /// Every compensation ran; what each said it removed.
    All { removed: Vec<String> },
    /// The compensation of `step` failed for good; `remaining` (from it on) are not undone.
    Stuck {
        step: String,
        removed: Vec<String>,
        remaining: Vec<String>,
    },
}

/// Runs the compensations of `steps` (newest first), journaled, without
/// ending the run: the caller says what the end is.
pub(super) async fn undo(
    exec: &Executor<'_, '_>,
    reason: &str,
    checkpoint: Option<String>,
    steps: Vec<String>,
) -> anyhow::Result<Undone> {
    // Continuing the same rollback journals nothing new; a different list (an
    // operator's `rollback --to`) is a new rollback.
    let resuming = exec
        .recorder
        .state(|s| s.rollback.as_ref().is_some_and(|r| r.remaining == steps));
    if !resuming {
        exec.recorder.emit(Event::RollbackStarted {
            reason: reason.to_string(),
            go_back: checkpoint.is_none() && exec.recorder.state(|s| s.go_back.is_some()),
            checkpoint,
            steps: steps.clone(),
        })?;
    }
    let mut undone = Vec::new();
    // What each compensation said it removed, for the run's message.
    let mut removed = Vec::new();
    for (position, step_id) in steps.iter().enumerate() {
        if exec
            .recorder
            .state(|s| s.status(step_id) == Some(&StepStatus::Compensated))
        {
            undone.push(step_id.clone());
            removed.push(format!("`{step_id}`"));
            continue;
        }
        let Some(call) = exec.plan.step(step_id).and_then(|s| s.rollback.as_ref()) else {
            continue;
        };
        let Some(what) = compensate(exec, step_id, call).await? else {
            let remaining: Vec<String> = steps[position..].to_vec();
            exec.recorder.emit(Event::RollbackFinished {
                complete: false,
                undone: undone.clone(),
                remaining: remaining.clone(),
            })?;
            return Ok(Undone::Stuck {
                step: step_id.clone(),
                removed,
                remaining,
            });
        };
        undone.push(step_id.clone());
        removed.push(match what {
            Some(what) => format!("`{step_id}` ({what})"),
            None => format!("`{step_id}`"),
        });
    }
    exec.recorder.emit(Event::RollbackFinished {
        complete: true,
        undone: undone.clone(),
        remaining: Vec::new(),
    })?;
    Ok(Undone::All { removed })
}

/// One compensation through its attempts: `None` when it failed for good,
/// else what it says it removed (if it says).
async fn compensate(
    exec: &Executor<'_, '_>,
    step_id: &str,
    call: &crate::plan::PlannedCall,
) -> anyhow::Result<Option<Option<String>>> {
    let attempts = call.retries.attempts.max(1);
    for attempt in 1..=attempts {
        exec.recorder.emit(Event::CompensationStarted {
            step: step_id.to_string(),
            attempt,
            action: call.action.name().to_string(),
            describe: call.action.describe(),
        })?;
        let started = Instant::now();
        let result = exec
            .attempt(step_id, call, attempt, Interruptible::No)
            .await;
        let duration_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(applied) => {
                exec.recorder.emit(Event::CompensationFinished {
                    step: step_id.to_string(),
                    attempt,
                    duration_ms,
                    output_tail: applied.output_tail,
                })?;
                return Ok(Some(removed_by(&applied.data)));
            }
            Err(failure) => {
                let final_attempt = attempt == attempts;
                exec.recorder.emit(Event::CompensationFailed {
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
    Ok(None)
}

/// What a compensation reports it removed: a `dropped`, `deleted` or
/// `undone` list of names in its data.
fn removed_by(data: &serde_json::Value) -> Option<String> {
    let lists: Vec<String> = ["dropped", "deleted", "undone"]
        .iter()
        .filter_map(|key| {
            let names: Vec<&str> = data
                .get(*key)?
                .as_array()?
                .iter()
                .filter_map(|v| v.as_str())
                .collect();
            (!names.is_empty()).then(|| format!("{key} {}", names.join(", ")))
        })
        .collect();
    (!lists.is_empty()).then(|| lists.join("; "))
}

pub(super) fn list(steps: &[String]) -> String {
    joined(&steps.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>())
}

pub(super) fn joined(items: &[String]) -> String {
    if items.is_empty() {
        "nothing".into()
    } else {
        items.join(", ")
    }
}
