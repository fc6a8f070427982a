//! `Runner`: the state machine of a run. Journals every event before the work it
//! announces goes on, and keeps its in-memory state by folding those same events,
//! so a resumed run and an uninterrupted one cannot disagree.

use std::cell::RefCell;
use std::time::Instant;

use anyhow::Context;
use tokio::sync::watch;

use super::RunOptions;
use crate::actions::{Input, Progress};
use crate::journal::{replay, Event, Outcome, RunDir, RunState, Writer};
use crate::plan::{compensations, FailurePlan, Plan, PlanItem};
use crate::report::Observer;

/// How a run (or a resume, or a rollback) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    pub outcome: Outcome,
    pub message: String,
}

/// Why forward progress stopped at a step.
pub(super) enum Stop {
    Failed {
        step: String,
        error: String,
    },
    Interrupted {
        signal: String,
    },
    /// The rest of the run no longer fits the window (on_overrun: rollback).
    Overrun {
        step: String,
    },
}

pub struct Runner<'a> {
    pub(super) plan: &'a Plan,
    pub(super) options: RunOptions,
    pub(super) input: &'a dyn Input,
    pub(super) interrupt: watch::Receiver<Option<String>>,
    pub(super) run_dir: RunDir,
    pub(super) started: Instant,
    /// The current attempt got past its action's read-only checks.
    pub(super) apply_began: std::cell::Cell<bool>,
    inner: RefCell<Inner<'a>>,
}

struct Inner<'a> {
    writer: Writer,
    state: Option<RunState>,
    observer: &'a mut dyn Observer,
    /// Webhook posts under way.
    announcements: Vec<tokio::task::JoinHandle<Vec<Event>>>,
}

/// A run's journal as the runner takes it over: where it lives, the writer
/// positioned at its end, and the state replayed from it (None for a new run).
pub struct Journal {
    pub run_dir: RunDir,
    pub writer: Writer,
    pub state: Option<RunState>,
}

impl<'a> Runner<'a> {
    pub fn new(
        plan: &'a Plan,
        options: RunOptions,
        input: &'a dyn Input,
        interrupt: watch::Receiver<Option<String>>,
        journal: Journal,
        observer: &'a mut dyn Observer,
    ) -> Self {
        let Journal {
            run_dir,
            writer,
            state,
        } = journal;
        Self {
            plan,
            options,
            input,
            interrupt,
            run_dir,
            started: Instant::now(),
            apply_began: std::cell::Cell::new(false),
            inner: RefCell::new(Inner {
                writer,
                state,
                observer,
                announcements: Vec::new(),
            }),
        }
    }

    pub fn run_id(&self) -> &str {
        &self.run_dir.id
    }

    /// The command line an operator types next (`cutover resume ID`), with
    /// `--state-dir` unless it is the default those commands assume.
    pub(super) fn command(&self, verb: &str) -> String {
        let state_dir = self.run_dir.path.parent().and_then(|runs| runs.parent());
        match state_dir {
            Some(dir) if dir != std::path::Path::new(".cutover") => {
                format!(
                    "cutover {verb} {} --state-dir {}",
                    self.run_id(),
                    dir.display()
                )
            }
            _ => format!("cutover {verb} {}", self.run_id()),
        }
    }

    /// Journals an event (redacted, fsynced), folds it into the state, then shows it.
    pub(super) fn emit(&self, event: Event) -> anyhow::Result<()> {
        let event = self.redact(event);
        let mut inner = self.inner.borrow_mut();
        let record = inner.writer.append(event)?;
        match &mut inner.state {
            Some(state) => state.apply(&record.event),
            None => inner.state = Some(replay(std::slice::from_ref(&record))?),
        }
        inner.observer.record(&record);
        // A dry run connects to nothing, webhooks included.
        if !self.plan.notify.is_empty() && self.options.mode != crate::journal::Mode::DryRun {
            if let Some(announcement) =
                super::notify::announcement(&self.plan.name, &self.run_dir.id, &record)
            {
                if let Some(handle) = self.announce(announcement) {
                    inner.announcements.push(handle);
                }
            }
        }
        Ok(())
    }

    /// Posts under way: all of them, or only those already finished.
    pub(super) fn take_announcements(&self, all: bool) -> Vec<tokio::task::JoinHandle<Vec<Event>>> {
        let mut inner = self.inner.borrow_mut();
        let (done, running): (Vec<_>, Vec<_>) = std::mem::take(&mut inner.announcements)
            .into_iter()
            .partition(|h| all || h.is_finished());
        inner.announcements = running;
        done
    }

    /// Every string of an event goes through the redactor before it is written.
    fn redact(&self, event: Event) -> Event {
        let mut value = serde_json::to_value(&event).expect("events serialize");
        self.plan.redactor.redact_json(&mut value);
        serde_json::from_value(value).unwrap_or(event)
    }

    pub(super) fn progress(&self, step: &str, progress: Progress) {
        let progress = match progress {
            Progress::Output(line) => Progress::Output(self.plan.redactor.redact(&line)),
            Progress::Status(text) => Progress::Status(self.plan.redactor.redact(&text)),
            other => other,
        };
        self.inner.borrow_mut().observer.progress(step, &progress);
    }

    pub(super) fn notice(&self, text: &str) {
        let text = self.plan.redactor.redact(text);
        self.inner.borrow_mut().observer.notice(&text);
    }

    pub(super) fn state<T>(&self, f: impl FnOnce(&RunState) -> T) -> T {
        let inner = self.inner.borrow();
        f(inner.state.as_ref().expect("the run has started"))
    }

    pub(super) fn interrupted(&self) -> Option<String> {
        self.interrupt.borrow().clone()
    }

    /// A fresh run: journal its start, then go forward from the first item.
    pub async fn run(&self, path: &str, host: &str) -> anyhow::Result<Finish> {
        self.emit(Event::RunStarted {
            run_id: self.run_id().to_string(),
            playbook: self.plan.name.clone(),
            path: path.to_string(),
            sha256: self.plan.sha256.clone(),
            operator: self.options.operator.clone(),
            mode: self.options.mode,
            host: host.to_string(),
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            steps: self.plan.step_count(),
            fail_at: self.options.fail_at.clone(),
            clock_fixed_at: self.options.clock.fixed_at(),
        })?;
        if let Some(refusal) = self.guard_start().await? {
            return Ok(refusal);
        }
        self.forward().await
    }

    /// Goes through the plan, skipping what is already done; on a stop, hands
    /// over to `fail`.
    pub(super) async fn forward(&self) -> anyhow::Result<Finish> {
        for (index, item) in self.plan.items.iter().enumerate() {
            match item {
                PlanItem::Checkpoint(name) => {
                    if !self.state(|s| s.checkpoints.contains(name)) {
                        self.emit(Event::CheckpointPassed { name: name.clone() })?;
                    }
                }
                PlanItem::Step(step) => {
                    if self.state(|s| s.is_finished(&step.id)) {
                        continue;
                    }
                    self.collect_announcements(false).await?;
                    if let Some(signal) = self.interrupted() {
                        self.emit(Event::Interrupted {
                            signal: signal.clone(),
                        })?;
                        return self.fail(index, Stop::Interrupted { signal }).await;
                    }
                    match self.check_window_before(index, &step.id)? {
                        super::guard::WindowVerdict::Go => {}
                        super::guard::WindowVerdict::Stop(finish) => return Ok(finish),
                        super::guard::WindowVerdict::Fail(stop) => {
                            return self.fail(index, stop).await
                        }
                    }
                    if let Err(stop) = self.run_step(step).await? {
                        return self.fail(index, stop).await;
                    }
                }
            }
        }
        let count = self.plan.step_count();
        self.finish(Outcome::Done, format!("all {count} steps completed"))
    }

    /// A stop at item `index`: roll back to the last checkpoint, or, past the
    /// point of no return, stop and say what an operator can do.
    pub(super) async fn fail(&self, index: usize, stop: Stop) -> anyhow::Result<Finish> {
        let (what, reason) = match &stop {
            Stop::Failed { step, error } => (
                format!("step `{step}` failed: {error}"),
                format!("step `{step}` failed"),
            ),
            Stop::Interrupted { signal } => (
                format!("interrupted by {signal}"),
                format!("interrupted by {signal}"),
            ),
            Stop::Overrun { step } => (
                format!("the rest of the run no longer fits the window before `{step}`"),
                "the window would be overrun".to_string(),
            ),
        };
        // Only a failed step that got as far as changing something is undone
        // itself (a failed read-only check changed nothing).
        let started = self.state(|s| {
            s.failed_apply_began
                && matches!(&self.plan.items.get(index), Some(PlanItem::Step(step)) if s.failed_step.as_deref() == Some(step.id.as_str()))
        });
        let plan = self
            .state(|state| compensations(self.plan, index, &|id| state.is_finished(id), started));
        match plan {
            FailurePlan::RollBack { checkpoint, undo } => {
                self.roll_back(&reason, checkpoint, undo).await
            }
            FailurePlan::Stop {
                point_of_no_return,
                manual_undo,
            } => {
                let done = self.state(|s| {
                    self.plan
                        .steps()
                        .filter(|st| s.is_finished(&st.id))
                        .map(|st| format!("`{}`", st.id))
                        .collect::<Vec<_>>()
                });
                let undo = if manual_undo.is_empty() {
                    "nothing (no step since the last checkpoint has a rollback)".to_string()
                } else {
                    manual_undo
                        .iter()
                        .map(|s| format!("`{s}`"))
                        .collect::<Vec<_>>()
                        .join(", then ")
                };
                let message = format!(
                    "{what}\nthe run is past its point of no return (`{point_of_no_return}`), so nothing was rolled back.\n\
                     completed: {}\n\
                     next: fix the cause and `{resume}` to retry, or `{rollback}` to undo {undo}",
                    if done.is_empty() { "nothing".to_string() } else { done.join(", ") },
                    resume = self.command("resume"),
                    rollback = self.command("rollback"),
                );
                self.finish(Outcome::NeedsOperator, message)
            }
        }
    }

    /// After the run's end: waits for webhook posts still under way, journals
    /// their results, and records the journal's head again.
    pub async fn conclude(&self) -> anyhow::Result<()> {
        self.collect_announcements(true).await?;
        let mut inner = self.inner.borrow_mut();
        // The head must never count lines a power loss could take.
        inner.writer.sync()?;
        inner
            .writer
            .write_head(&self.run_dir.head())
            .context("failed to record the journal head")
    }

    /// Journals the end of the run and records the journal's head.
    pub(super) fn finish(&self, outcome: Outcome, message: String) -> anyhow::Result<Finish> {
        let message = self.plan.redactor.redact(&message);
        self.emit(Event::RunFinished {
            outcome,
            duration_ms: self.started.elapsed().as_millis() as u64,
            message: message.clone(),
        })?;
        let inner = self.inner.borrow();
        inner
            .writer
            .write_head(&self.run_dir.head())
            .context("failed to record the journal head")?;
        Ok(Finish { outcome, message })
    }
}
