//! One step, or one compensation: attempts, timeouts, retries with backoff,
//! interruption, and the dry-run simulation.

use std::time::{Duration, Instant};

use super::runner::{Runner, Stop};
use crate::actions::{ActionFailure, Applied, StepContext};
use crate::journal::{Event, Mode};
use crate::plan::{PlannedCall, PlannedStep};
use crate::process::ProcessRecord;

/// Whether an attempt may be cut short by Ctrl-C. Compensations may not: a
/// half-undone rollback is worse than a late one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Interruptible {
    Yes,
    No,
}

pub(super) struct AttemptFailure {
    pub error: String,
    pub exit_status: Option<i32>,
    pub output_tail: Option<String>,
    pub timed_out: bool,
    pub interrupted: Option<String>,
}

impl Runner<'_> {
    /// Runs a forward step through its attempts. `Ok(Err(stop))` is a step that
    /// failed for good; `Err` is a journal that could not be written.
    pub(super) async fn run_step(&self, step: &PlannedStep) -> anyhow::Result<Result<(), Stop>> {
        let attempts = step.call.retries.attempts.max(1);
        for attempt in 1..=attempts {
            self.emit(Event::StepStarted {
                step: step.id.clone(),
                attempt,
                action: step.call.action.name().to_string(),
                describe: step.call.action.describe(),
            })?;
            let started = Instant::now();
            let result = self
                .attempt(&step.id, &step.call, attempt, Interruptible::Yes)
                .await;
            let duration_ms = started.elapsed().as_millis() as u64;
            let failure = match result {
                Ok(applied) => {
                    self.emit(Event::StepFinished {
                        step: step.id.clone(),
                        attempt,
                        duration_ms,
                        exit_status: applied.exit_status,
                        output_tail: applied.output_tail,
                        applied: applied.data,
                    })?;
                    return Ok(Ok(()));
                }
                Err(failure) => failure,
            };
            let last = attempt == attempts || failure.interrupted.is_some();
            if !last {
                let backoff = step.call.retries.backoff.0;
                self.emit(Event::StepRetrying {
                    step: step.id.clone(),
                    attempt,
                    error: failure.error.clone(),
                    backoff_ms: backoff.as_millis() as u64,
                })?;
                if self.sleep_unless_interrupted(backoff).await {
                    continue;
                }
            }
            self.emit(Event::StepFailed {
                step: step.id.clone(),
                attempt,
                duration_ms,
                error: failure.error.clone(),
                exit_status: failure.exit_status,
                output_tail: failure.output_tail,
                timed_out: failure.timed_out,
                apply_began: self.apply_began.get(),
            })?;
            let stop = match failure.interrupted.or_else(|| self.interrupted()) {
                Some(signal) => {
                    self.emit(Event::Interrupted {
                        signal: signal.clone(),
                    })?;
                    Stop::Interrupted { signal }
                }
                None => Stop::Failed {
                    step: step.id.clone(),
                    error: failure.error,
                },
            };
            return Ok(Err(stop));
        }
        unreachable!("attempts is at least 1")
    }

    /// One attempt of an action call, simulated in a dry run.
    pub(super) async fn attempt(
        &self,
        step_id: &str,
        call: &PlannedCall,
        attempt: u32,
        interruptible: Interruptible,
    ) -> Result<Applied, AttemptFailure> {
        self.apply_began.set(false);
        if self.options.mode == Mode::DryRun {
            // A simulated step "changes" what it would change: its undo is rehearsed too.
            self.apply_began.set(true);
            return self.simulate(step_id, call, interruptible);
        }
        // A rehearsal rehearses a failure for real: the step fails before it
        // runs, and the rollbacks of what did run are real.
        if self.options.mode == Mode::Rehearsal
            && interruptible == Interruptible::Yes
            && self.options.fail_at.as_deref() == Some(step_id)
        {
            return Err(AttemptFailure {
                error: "rehearsed failure (--fail-at)".into(),
                exit_status: None,
                output_tail: None,
                timed_out: false,
                interrupted: None,
            });
        }
        // The action keeps its own output tail, but an attempt cut short by a
        // timeout or Ctrl-C is dropped with it: keep the last lines here too.
        let recent = std::cell::RefCell::new(std::collections::VecDeque::<String>::new());
        let progress = |p: crate::actions::Progress| {
            if let crate::actions::Progress::Output(line) = &p {
                let mut recent = recent.borrow_mut();
                if recent.len() == 20 {
                    recent.pop_front();
                }
                recent.push_back(line.clone());
            }
            self.progress(step_id, p)
        };
        let tail = || {
            Some(
                recent
                    .borrow()
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
            .filter(|t| !t.is_empty())
        };
        let spawned = |process: &ProcessRecord| {
            // A journal that cannot record the process is reported when the step
            // ends; the process itself still dies with us (PDEATHSIG).
            let _ = self.emit(Event::ProcessSpawned {
                step: step_id.to_string(),
                process: process.clone(),
            });
        };
        let cx = StepContext {
            run_id: self.run_id(),
            step: step_id,
            attempt,
            base_dir: &self.plan.base_dir,
            input: self.input,
            progress: &progress,
            spawned: &spawned,
        };
        self.apply_began.set(false);
        let work = async {
            call.action.preflight(&cx).await?;
            self.apply_began.set(true);
            call.action.apply(&cx).await
        };
        let timed = async {
            match call.timeout {
                Some(limit) => tokio::time::timeout(limit, work).await.map_err(|_| limit),
                None => Ok(work.await),
            }
        };
        let mut interrupt = self.interrupt.clone();
        let interrupted = async {
            if interruptible == Interruptible::No {
                return std::future::pending().await;
            }
            let _ = interrupt.wait_for(Option::is_some).await;
            interrupt.borrow().clone().unwrap_or_default()
        };
        tokio::select! {
            result = timed => match result {
                Ok(Ok(applied)) => Ok(applied),
                Ok(Err(failure)) => Err(self.describe_failure(failure)),
                Err(limit) => Err(AttemptFailure {
                    error: format!("timed out after {}", crate::duration::format_duration(limit)),
                    exit_status: None,
                    output_tail: tail(),
                    timed_out: true,
                    interrupted: None,
                }),
            },
            signal = interrupted => Err(AttemptFailure {
                error: format!("interrupted by {signal}"),
                exit_status: None,
                output_tail: tail(),
                timed_out: false,
                interrupted: Some(signal),
            }),
        }
    }

    fn describe_failure(&self, failure: ActionFailure) -> AttemptFailure {
        // `{:#}` keeps anyhow's context chain on one line: "failed to X: because Y".
        AttemptFailure {
            error: format!("{:#}", failure.error),
            exit_status: failure.exit_status,
            output_tail: failure.output_tail,
            timed_out: false,
            interrupted: None,
        }
    }

    fn simulate(
        &self,
        step_id: &str,
        call: &PlannedCall,
        interruptible: Interruptible,
    ) -> Result<Applied, AttemptFailure> {
        self.progress(
            step_id,
            crate::actions::Progress::Status(format!("would {}", call.action.describe())),
        );
        if interruptible == Interruptible::Yes && self.options.fail_at.as_deref() == Some(step_id) {
            return Err(AttemptFailure {
                error: "simulated failure (--fail-at)".into(),
                exit_status: None,
                output_tail: None,
                timed_out: false,
                interrupted: None,
            });
        }
        Ok(Applied {
            data: serde_json::json!({ "simulated": true }),
            ..Applied::default()
        })
    }

    /// Sleeps; returns false if interrupted first.
    pub(super) async fn sleep_unless_interrupted(&self, duration: Duration) -> bool {
        let mut interrupt = self.interrupt.clone();
        tokio::select! {
            _ = tokio::time::sleep(duration) => true,
            _ = interrupt.wait_for(Option::is_some) => false,
        }
    }
}
