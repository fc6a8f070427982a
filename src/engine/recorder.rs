//! `Recorder`: the journal-facing half of a run. Every event goes through it —
//! redacted, appended and fsynced, folded into the run's state, shown to the
//! observer, announced to webhooks — so the rest of the engine only decides.

use std::cell::RefCell;
use std::time::Instant;

use anyhow::Context;

use super::notify;
use super::stop::Finish;
use crate::actions::Progress;
use crate::canary::Canary;
use crate::journal::{replay, Event, Mode, Outcome, RunDir, RunState, Writer};
use crate::plan::Plan;
use crate::report::Observer;

/// A run's journal as the runner takes it over: where it lives, the writer
/// positioned at its end, and the state replayed from it (None for a new run).
pub struct Journal {
    pub run_dir: RunDir,
    pub writer: Writer,
    pub state: Option<RunState>,
}

pub(super) struct Recorder<'a> {
    plan: &'a Plan,
    mode: Mode,
    run_dir: RunDir,
    started: Instant,
    inner: RefCell<Inner<'a>>,
    /// Each step attempt and compensation of this process, in instants: what
    /// the canary's longest gap overlapped.
    timeline: RefCell<Vec<(String, Instant, Option<Instant>)>>,
    /// The write canary, while it runs: ended by `finish`.
    canary: RefCell<Option<Canary>>,
    /// How many of the canary's acknowledged ids are journaled already.
    canary_journaled: std::cell::Cell<usize>,
}

struct Inner<'a> {
    writer: Writer,
    state: Option<RunState>,
    observer: &'a mut dyn Observer,
    /// Webhook posts under way.
    announcements: Vec<tokio::task::JoinHandle<Vec<Event>>>,
}

impl<'a> Recorder<'a> {
    pub fn new(
        plan: &'a Plan,
        mode: Mode,
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
            mode,
            run_dir,
            started: Instant::now(),
            inner: RefCell::new(Inner {
                writer,
                state,
                observer,
                announcements: Vec::new(),
            }),
            timeline: RefCell::default(),
            canary: RefCell::default(),
            canary_journaled: std::cell::Cell::new(0),
        }
    }

    /// Journals the ids the canary acknowledged since the last time (before
    /// each step): a run resumed after a crash checks them too.
    pub fn journal_canary(&self) -> anyhow::Result<()> {
        let fresh = match self.canary.borrow().as_ref() {
            Some(canary) => canary.acknowledged_since(self.canary_journaled.get()),
            None => return Ok(()),
        };
        if fresh.is_empty() {
            return Ok(());
        }
        self.canary_journaled
            .set(self.canary_journaled.get() + fresh.len());
        self.emit(Event::CanaryAcknowledged {
            ranges: crate::canary::ranges(&fresh),
        })
    }

    /// Hands the running canary over: `finish` stops and checks it.
    pub fn watch_canary(&self, canary: Canary) {
        *self.canary.borrow_mut() = Some(canary);
    }

    pub fn run_id(&self) -> &str {
        &self.run_dir.id
    }

    /// The command line an operator types next (`cutover resume ID`), with
    /// `--state-dir` unless it is the default those commands assume.
    pub fn command(&self, verb: &str) -> String {
        if let Some(hint) = self.inner.borrow().writer.resume_hint() {
            return format!("cutover {verb} {} {hint}", self.run_id());
        }
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
    pub fn emit(&self, event: Event) -> anyhow::Result<()> {
        let event = self.redact(event)?;
        self.mark(&event);
        let mut inner = self.inner.borrow_mut();
        let record = inner.writer.append(event)?;
        match &mut inner.state {
            Some(state) => state.apply(&record.event),
            None => inner.state = Some(replay(std::slice::from_ref(&record))?),
        }
        inner.observer.record(&record);
        // A dry run connects to nothing, webhooks included.
        if !self.plan.notify.is_empty() && self.mode != Mode::DryRun {
            if let Some(announcement) = notify::announcement(
                &self.plan.name,
                &self.run_dir.id,
                &record,
                inner.writer.last_hash(),
            ) {
                if let Some(handle) =
                    notify::announce(&self.plan.notify, &self.plan.redactor, announcement)
                {
                    inner.announcements.push(handle);
                }
            }
        }
        Ok(())
    }

    /// Keeps the timeline: a step or compensation begins or ends.
    fn mark(&self, event: &Event) {
        let mut timeline = self.timeline.borrow_mut();
        match event {
            Event::StepStarted { step, .. } => timeline.push((step.clone(), Instant::now(), None)),
            Event::CompensationStarted { step, .. } => {
                timeline.push((format!("undo {step}"), Instant::now(), None))
            }
            Event::StepFinished { .. }
            | Event::StepFailed { .. }
            | Event::StepRetrying { .. }
            | Event::CompensationFinished { .. }
            | Event::CompensationFailed { .. } => {
                if let Some(open) = timeline.last_mut().filter(|span| span.2.is_none()) {
                    open.2 = Some(Instant::now());
                }
            }
            _ => {}
        }
    }

    /// Every string of an event goes through the redactor before it is
    /// written; an event that cannot be masked is an error of the run, never
    /// written in clear.
    fn redact(&self, event: Event) -> anyhow::Result<Event> {
        self.plan.redactor.redact_typed(&event).map_err(|error| {
            anyhow::anyhow!(
                "failed to journal a `{}` event: {error}",
                event_name(&event)
            )
        })
    }

    pub fn progress(&self, step: &str, progress: Progress) {
        let progress = match progress {
            Progress::Output(line) => Progress::Output(crate::redact::escape_controls(
                &self.plan.redactor.redact(&line),
            )),
            Progress::Status(text) => Progress::Status(crate::redact::escape_controls(
                &self.plan.redactor.redact(&text),
            )),
            other => other,
        };
        self.inner.borrow_mut().observer.progress(step, &progress);
    }

    pub fn notice(&self, text: &str) {
        let text = crate::redact::escape_controls(&self.plan.redactor.redact(text));
        self.inner.borrow_mut().observer.notice(&text);
    }

    pub fn state<T>(&self, f: impl FnOnce(&RunState) -> T) -> T {
        let inner = self.inner.borrow();
        f(inner.state.as_ref().expect("the run has started"))
    }

    /// Journals the results of finished webhook posts; with `wait`, waits for all.
    pub async fn collect_announcements(&self, wait: bool) -> anyhow::Result<()> {
        for handle in self.take_announcements(wait) {
            let events = if wait {
                tokio::time::timeout(notify::TIMEOUT * 2, handle)
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_default()
            } else {
                handle.await.unwrap_or_default()
            };
            for event in events {
                self.emit(event)?;
            }
        }
        Ok(())
    }

    /// Posts under way: all of them, or only those already finished.
    fn take_announcements(&self, all: bool) -> Vec<tokio::task::JoinHandle<Vec<Event>>> {
        let mut inner = self.inner.borrow_mut();
        let (done, running): (Vec<_>, Vec<_>) = std::mem::take(&mut inner.announcements)
            .into_iter()
            .partition(|h| all || h.is_finished());
        inner.announcements = running;
        done
    }

    /// Journals the end of the run and records the journal's head.
    pub fn finish(&self, outcome: Outcome, message: String) -> anyhow::Result<Finish> {
        let (outcome, message) = self.end_canary(outcome, message)?;
        let message = self.plan.redactor.redact(&message);
        self.emit(Event::RunFinished {
            outcome,
            duration_ms: self.started.elapsed().as_millis() as u64,
            message: message.clone(),
        })?;
        let mut inner = self.inner.borrow_mut();
        inner
            .writer
            .write_head(&self.run_dir.head())
            .context("failed to record the journal head")?;
        Ok(Finish { outcome, message })
    }

    /// Stops the canary (if one runs), journals its verdict and adds its line
    /// to the run's message. A missing write, or writes that could not be
    /// checked, make the run's end one an operator must see.
    fn end_canary(&self, outcome: Outcome, message: String) -> anyhow::Result<(Outcome, String)> {
        let Some(mut canary) = self.canary.borrow_mut().take() else {
            return Ok((outcome, message));
        };
        let spec = self
            .plan
            .canary
            .as_ref()
            .expect("a canary runs only with a spec");
        let went_back = self.state(|s| s.went_back);
        if went_back {
            canary.verify_through_application();
        }
        let verify = crate::canary::Store::label_of(if went_back {
            &spec.url
        } else {
            &spec.verify_url
        });
        let earlier = crate::canary::expand(&self.state(|s| s.canary_acknowledged.clone()));
        let checked = canary.finish(&self.timeline.borrow(), &earlier);
        let (verdict, error) = match checked.verdict {
            Ok(verdict) => (Some(verdict), None),
            Err(error) => (None, Some(error)),
        };
        self.emit(Event::CanaryChecked {
            verify: verify.clone(),
            table: spec.table.clone(),
            verdict: verdict.clone(),
            error: error.clone(),
            kept: spec.keep,
            cleanup: checked.cleanup,
        })?;
        let needs_operator = |problem: String| {
            let outcome = match outcome {
                Outcome::Refused => Outcome::Refused,
                _ => Outcome::NeedsOperator,
            };
            (outcome, format!("{problem}\n{message}"))
        };
        Ok(match (verdict, error) {
            (Some(verdict), _) if verdict.missing > 0 => {
                let mut ended = needs_operator(format!(
                    "the write canary found {} acknowledged write(s) missing on {verify}: writes were lost",
                    verdict.missing
                ));
                ended.1.push_str(&format!("\n{}", verdict.line()));
                ended
            }
            (Some(verdict), _) => (outcome, format!("{message}\n{}", verdict.line())),
            (None, error) => needs_operator(format!(
                "the write canary could not check its writes on {verify}: {}\nhint: look for the ids by hand in `{}`",
                error.unwrap_or_default(),
                spec.table
            )),
        })
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
}

/// The event's name as the journal writes it (no data: it may hold a secret).
fn event_name(event: &Event) -> String {
    serde_json::to_value(event)
        .ok()
        .and_then(|v| v.get("event").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or_else(|| "?".into())
}
