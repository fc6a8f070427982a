//! `Executor`: one step, or one compensation — attempts, timeouts, retries
//! with backoff, interruption, and the dry-run simulation. It lends each action
//! a `StepContext` and journals through the `Recorder`.

use std::cell::Cell;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::recorder::Recorder;
use super::stop::Stop;
use super::RunOptions;
use crate::actions::{ActionFailure, Applied, Input, StepContext};
use crate::journal::{Event, Mode};
use crate::plan::{OnSlow, Plan, PlannedCall, PlannedStep};
use crate::process::ProcessRecord;

/// What running an action call needs, borrowed from the runner for the length
/// of one call.
pub(super) struct Executor<'r, 'a> {
    pub recorder: &'r Recorder<'a>,
    pub plan: &'a Plan,
    pub options: &'r RunOptions,
    pub input: &'a dyn Input,
    /// Carries the signal's name once SIGINT or SIGTERM arrived.
    pub interrupt: &'r watch::Receiver<Option<String>>,
}

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
    /// The action got past its read-only checks.
    pub apply_began: bool,
    /// The downtime budget's deadline ended it (not its own timeout).
    pub out_of_budget: bool,
    /// `on_slow: rollback` ended it.
    pub too_slow: bool,
}

/// Where the downtime budget runs out, for the step that runs inside it.
#[derive(Clone, Copy)]
pub(super) struct BudgetDeadline {
    pub at: Instant,
    pub budget: Duration,
}

/// When a step counts as slow (its rehearsed p90 × `slow_factor`, from its
/// first attempt's start) and what `on_slow` makes of it.
pub(super) struct SlowWatch {
    pub at: Instant,
    pub limit: Duration,
    pub p90: Duration,
    pub factor: f64,
    pub on_slow: OnSlow,
    /// `step_slow` was journaled (once per step).
    pub fired: Cell<bool>,
}

/// What may cut a step's attempts short besides their own timeout.
#[derive(Default)]
pub(super) struct Limits {
    pub budget: Option<BudgetDeadline>,
    pub slow: Option<SlowWatch>,
}

/// Which limit ended an attempt.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cut {
    Timeout,
    Budget,
    Slow,
}

impl Executor<'_, '_> {
    /// The signal that interrupted the run, if one did.
    pub fn interrupted(&self) -> Option<String> {
        self.interrupt.borrow().clone()
    }

    /// Runs a forward step through its attempts. `Ok(Err(stop))` is a step that
    /// failed for good; `Err` is a journal that could not be written.
    /// `limits`: the downtime budget's end and the slow watch, which cut any
    /// attempt short.
    pub async fn run_step(
        &self,
        step: &PlannedStep,
        limits: &Limits,
    ) -> anyhow::Result<Result<(), Stop>> {
        let deadline = limits.budget;
        let attempts = step.call.retries.attempts.max(1);
        for attempt in 1..=attempts {
            self.recorder.emit(Event::StepStarted {
                step: step.id.clone(),
                attempt,
                action: step.call.action.name().to_string(),
                describe: step.call.action.describe(),
            })?;
            let started = Instant::now();
            let result = self
                .attempt_within(&step.id, &step.call, attempt, Interruptible::Yes, limits)
                .await;
            let duration_ms = started.elapsed().as_millis() as u64;
            let failure = match result {
                Ok(applied) => {
                    self.recorder.emit(Event::StepFinished {
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
            let last = attempt == attempts
                || failure.interrupted.is_some()
                || failure.out_of_budget
                || failure.too_slow;
            if failure.out_of_budget {
                if let Some(deadline) = deadline {
                    let began = deadline.at - deadline.budget;
                    self.recorder.emit(Event::DowntimeBudgetExceeded {
                        step: step.id.clone(),
                        budget_ms: deadline.budget.as_millis() as u64,
                        used_ms: began.elapsed().as_millis() as u64,
                        estimate_ms: step.estimate.map(|e| e.as_millis() as u64),
                        during: true,
                    })?;
                }
            }
            if !last {
                let backoff = step.call.retries.backoff.0;
                self.recorder.emit(Event::StepRetrying {
                    step: step.id.clone(),
                    attempt,
                    error: failure.error.clone(),
                    backoff_ms: backoff.as_millis() as u64,
                })?;
                if self.sleep_unless_interrupted(backoff).await {
                    continue;
                }
            }
            self.recorder.emit(Event::StepFailed {
                step: step.id.clone(),
                attempt,
                duration_ms,
                error: failure.error.clone(),
                exit_status: failure.exit_status,
                output_tail: failure.output_tail,
                timed_out: failure.timed_out,
                apply_began: failure.apply_began,
            })?;
            let stop = match failure.interrupted.or_else(|| self.interrupted()) {
                Some(signal) => {
                    self.recorder.emit(Event::Interrupted {
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
    pub async fn attempt(
        &self,
        step_id: &str,
        call: &PlannedCall,
        attempt: u32,
        interruptible: Interruptible,
    ) -> Result<Applied, AttemptFailure> {
        self.attempt_within(step_id, call, attempt, interruptible, &Limits::default())
            .await
    }

    /// One attempt, cut short by the downtime budget's `deadline` too.
    async fn attempt_within(
        &self,
        step_id: &str,
        call: &PlannedCall,
        attempt: u32,
        interruptible: Interruptible,
        limits: &Limits,
    ) -> Result<Applied, AttemptFailure> {
        let deadline = limits.budget;
        if self.options.mode == Mode::DryRun {
            // A simulated step "changes" what it would change: its undo is rehearsed too.
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
                apply_began: false,
                out_of_budget: false,
                too_slow: false,
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
            self.recorder.progress(step_id, p)
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
            let _ = self.recorder.emit(Event::ProcessSpawned {
                step: step_id.to_string(),
                process: process.clone(),
            });
        };
        let noted = |note: &serde_json::Value| {
            // Journaled and synced before the action goes on to do what it noted.
            self.recorder.emit(Event::StepNoted {
                step: step_id.to_string(),
                attempt,
                note: note.clone(),
            })
        };
        let memory = self
            .recorder
            .state(|s| s.memory.get(step_id).cloned())
            .unwrap_or_default();
        let cx = StepContext {
            run_id: self.recorder.run_id(),
            step: step_id,
            attempt,
            base_dir: &self.plan.base_dir,
            input: self.input,
            progress: &progress,
            spawned: &spawned,
            noted: &noted,
            memory: &memory,
            redactor: &self.plan.redactor,
        };
        let apply_began = Cell::new(false);
        let work = async {
            call.action.preflight(&cx).await?;
            apply_began.set(true);
            call.action.apply(&cx).await
        };
        // The budget's deadline, a slow step's end (`on_slow: rollback`) and
        // the call's own timeout: whichever comes first.
        let now = Instant::now();
        let mut limit: Option<(Duration, Cut)> = call.timeout.map(|t| (t, Cut::Timeout));
        let candidates = [
            deadline.map(|d| (d.at.saturating_duration_since(now), Cut::Budget)),
            limits
                .slow
                .as_ref()
                .filter(|w| w.on_slow == OnSlow::Rollback)
                .map(|w| (w.at.saturating_duration_since(now), Cut::Slow)),
        ];
        for candidate in candidates.into_iter().flatten() {
            if limit.is_none_or(|(current, _)| candidate.0 < current) {
                limit = Some(candidate);
            }
        }
        let cut = limit.map(|(_, cut)| cut).unwrap_or(Cut::Timeout);
        let timed = async {
            match limit {
                Some((limit, _)) => tokio::time::timeout(limit, work).await.map_err(|_| limit),
                None => Ok(work.await),
            }
        };
        // warn / pause: journal once that the step runs past its rehearsed time.
        let slow_noticed = async {
            match limits.slow.as_ref() {
                Some(watch) if watch.on_slow != OnSlow::Rollback && !watch.fired.get() => {
                    tokio::time::sleep_until(watch.at.into()).await;
                    watch.fired.set(true);
                    let _ = self.recorder.emit(slow_event(step_id, watch));
                    std::future::pending::<()>().await
                }
                _ => std::future::pending().await,
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
            _ = slow_noticed => unreachable!("the slow watch never ends"),
            result = timed => match result {
                Ok(Ok(applied)) => Ok(applied),
                Ok(Err(failure)) => Err(describe_failure(failure, apply_began.get())),
                Err(_) if cut == Cut::Slow => {
                    let watch = limits.slow.as_ref().expect("a slow cut has its watch");
                    let _ = self.recorder.emit(slow_event(step_id, watch));
                    Err(AttemptFailure {
                        error: format!(
                            "ran past its rehearsed p90 {} × slow_factor {} = {} (on_slow: rollback)",
                            crate::duration::format_duration(watch.p90),
                            watch.factor,
                            crate::duration::format_duration(watch.limit)
                        ),
                        exit_status: None,
                        output_tail: tail(),
                        timed_out: true,
                        interrupted: None,
                        apply_began: apply_began.get(),
                        out_of_budget: false,
                        too_slow: true,
                    })
                }
                Err(_) if cut == Cut::Budget => Err(AttemptFailure {
                    error: format!(
                        "the downtime budget ({}) ran out during this step",
                        crate::duration::format_duration(deadline.map(|d| d.budget).unwrap_or_default())
                    ),
                    exit_status: None,
                    output_tail: tail(),
                    timed_out: true,
                    interrupted: None,
                    apply_began: apply_began.get(),
                    out_of_budget: true,
                    too_slow: false,
                }),
                Err(limit) => Err(AttemptFailure {
                    error: format!("timed out after {}", crate::duration::format_duration(limit)),
                    exit_status: None,
                    output_tail: tail(),
                    timed_out: true,
                    interrupted: None,
                    apply_began: apply_began.get(),
                    out_of_budget: false,
                    too_slow: false,
                }),
            },
            signal = interrupted => Err(AttemptFailure {
                error: format!("interrupted by {signal}"),
                exit_status: None,
                output_tail: tail(),
                timed_out: false,
                interrupted: Some(signal),
                apply_began: apply_began.get(),
                out_of_budget: false,
                too_slow: false,
            }),
        }
    }

    fn simulate(
        &self,
        step_id: &str,
        call: &PlannedCall,
        interruptible: Interruptible,
    ) -> Result<Applied, AttemptFailure> {
        self.recorder.progress(
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
                apply_began: true,
                out_of_budget: false,
                too_slow: false,
            });
        }
        Ok(Applied {
            data: serde_json::json!({ "simulated": true }),
            ..Applied::default()
        })
    }

    /// Sleeps; returns false if interrupted first.
    pub async fn sleep_unless_interrupted(&self, duration: Duration) -> bool {
        let mut interrupt = self.interrupt.clone();
        tokio::select! {
            _ = tokio::time::sleep(duration) => true,
            _ = interrupt.wait_for(Option::is_some) => false,
        }
    }
}

fn describe_failure(failure: ActionFailure, apply_began: bool) -> AttemptFailure {
    // `{:#}` keeps anyhow's context chain on one line: "failed to X: because Y".
    AttemptFailure {
        error: format!("{:#}", failure.error),
        exit_status: failure.exit_status,
        output_tail: failure.output_tail,
        timed_out: false,
        interrupted: None,
        apply_began,
        out_of_budget: false,
        too_slow: false,
    }
}

/// `step_slow`: the step ran past its rehearsed p90 × factor.
fn slow_event(step: &str, watch: &SlowWatch) -> Event {
    Event::StepSlow {
        step: step.to_string(),
        p90_ms: watch.p90.as_millis() as u64,
        factor: watch.factor,
        limit_ms: watch.limit.as_millis() as u64,
        on_slow: match watch.on_slow {
            OnSlow::Warn => "warn",
            OnSlow::Pause => "pause",
            OnSlow::Rollback => "rollback",
        }
        .to_string(),
    }
}
