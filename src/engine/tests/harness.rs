//! `Harness`: a plan of fake steps, a state directory in a temporary
//! directory, and a `Runner` wired the way `cli::session` wires it — minus the
//! terminal. Journals are read back as one line per event.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;

use super::fake::{Call, Fake, Log};
use crate::actions::{ApprovalFuture, Input, Progress};
use crate::duration::DurationText;
use crate::engine::{Clock, Finish, Journal, RunOptions, Runner};
use crate::journal::{self, Event, Mode, Record, RunDir, StateDir, Writer};
use crate::plan::{EstimateSource, Plan, PlanItem, PlannedCall, PlannedStep, RollbackOrigin};
use crate::playbook::Retries;
use crate::redact::Redactor;
use crate::report::Observer;

pub const RUN_ID: &str = "run-1";

/// Builds a plan whose every step is a `Fake` labelled with its id and whose
/// rollback is a `Fake` labelled `undo ID`.
pub struct PlanBuilder {
    log: Log,
    items: Vec<PlanItem>,
}

impl PlanBuilder {
    pub fn new(log: &Log) -> Self {
        Self {
            log: log.clone(),
            items: Vec::new(),
        }
    }

    /// An idempotent step whose calls follow `script`, then succeed.
    pub fn step(mut self, id: &str, script: &[Call]) -> Self {
        let call = |action| PlannedCall {
            action,
            timeout: None,
            retries: Retries::default(),
        };
        self.items.push(PlanItem::Step(Box::new(PlannedStep {
            id: id.to_string(),
            name: None,
            call: call(Fake::action(id, script, &self.log)),
            estimate: None,
            estimate_p90: None,
            on_slow: crate::plan::OnSlow::Warn,
            slow_factor: 1.5,
            estimate_source: EstimateSource::Unknown,
            idempotent: true,
            point_of_no_return: false,
            rollback: Some(call(Fake::action(&format!("undo {id}"), &[], &self.log))),
            rollback_origin: RollbackOrigin::Explicit,
        })));
        self
    }

    pub fn checkpoint(mut self, name: &str) -> Self {
        self.items.push(PlanItem::Checkpoint(name.to_string()));
        self
    }

    /// The last step: tried `attempts` times in all, `backoff` apart.
    pub fn retries(self, attempts: u32, backoff: Duration) -> Self {
        self.last(|step| {
            step.call.retries = Retries {
                attempts,
                backoff: DurationText(backoff),
            }
        })
    }

    pub fn timeout(self, limit: Duration) -> Self {
        self.last(|step| step.call.timeout = Some(limit))
    }

    pub fn no_rollback(self) -> Self {
        self.last(|step| {
            step.rollback = None;
            step.rollback_origin = RollbackOrigin::OptedOut;
        })
    }

    pub fn point_of_no_return(self) -> Self {
        self.last(|step| step.point_of_no_return = true)
    }

    /// The last step may not be run again after a crash.
    pub fn not_idempotent(self) -> Self {
        self.last(|step| step.idempotent = false)
    }

    /// The last step's rollback follows `script`.
    pub fn rollback_script(self, script: &[Call]) -> Self {
        let log = self.log.clone();
        self.last(|step| {
            let label = format!("undo {}", step.id);
            if let Some(rollback) = &mut step.rollback {
                rollback.action = Fake::action(&label, script, &log);
            }
        })
    }

    fn last(mut self, change: impl FnOnce(&mut PlannedStep)) -> Self {
        match self.items.last_mut() {
            Some(PlanItem::Step(step)) => change(step),
            _ => panic!("no step to change"),
        }
        self
    }

    pub fn build(self, base_dir: PathBuf) -> Plan {
        Plan {
            name: "engine-test".into(),
            description: None,
            source_path: base_dir.join("playbook.yaml"),
            base_dir,
            sha256: "0".repeat(64),
            items: self.items,
            go_back: Vec::new(),
            redactor: Redactor::default(),
            checklist: Vec::new(),
            window: None,
            notify: Vec::new(),
            canary: None,
            downtime_budget: None,
        }
    }
}

/// A live run by `tester`, no window, no decisions.
pub fn options() -> RunOptions {
    RunOptions {
        mode: Mode::Live,
        operator: "tester".into(),
        fail_at: None,
        decisions: BTreeMap::new(),
        clock: Clock::system(),
        confirmations: BTreeMap::new(),
        override_window: None,
    }
}

/// An operator who is never there: the plans have no gates and no checklist.
struct Nobody;

impl Input for Nobody {
    fn approve<'a>(&'a self, _: &'a str, _: &'a str) -> ApprovalFuture<'a> {
        Box::pin(async { Err("no operator in this test".to_string()) })
    }

    fn confirm<'a>(&'a self, _: &'a str, _: &'a str) -> ApprovalFuture<'a> {
        Box::pin(async { Err("no operator in this test".to_string()) })
    }
}

/// Keeps what the runner shows, to compare with what it journaled.
#[derive(Default)]
struct Recording {
    records: Vec<Record>,
}

impl Observer for Recording {
    fn record(&mut self, record: &Record) {
        self.records.push(record.clone());
    }

    fn progress(&mut self, _: &str, _: &Progress) {}

    fn notice(&mut self, _: &str) {}
}

/// What one runner session is started with.
enum Start {
    Run,
    Resume,
}

pub struct Harness {
    dir: tempfile::TempDir,
}

impl Harness {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    pub fn plan(&self, builder: PlanBuilder) -> Plan {
        builder.build(self.dir.path().to_path_buf())
    }

    pub fn state_dir(&self) -> String {
        self.dir.path().display().to_string()
    }

    fn run_dir(&self) -> RunDir {
        StateDir::new(self.dir.path()).run(RUN_ID)
    }

    /// A new run of `plan`, to its end.
    pub async fn run(&self, plan: &Plan, options: RunOptions) -> Finish {
        let run_dir = self.run_dir();
        run_dir.create().expect("the run directory");
        let writer = Writer::create(&run_dir.journal()).expect("a new journal");
        let journal = Journal {
            run_dir,
            writer,
            state: None,
        };
        self.session(plan, options, journal, Start::Run).await
    }

    /// A new run of `plan`, dropped — as kill -9 would stop it — once tokio's
    /// clock has gone `after` further (with paused time: once every step is
    /// waiting and the clock has been advanced that far).
    pub async fn run_killed_after(&self, plan: &Plan, after: Duration) {
        let killed = tokio::time::timeout(after, self.run(plan, options())).await;
        assert!(
            killed.is_err(),
            "the run ended before it was killed: {killed:?}"
        );
    }

    /// The stopped run taken over from its journal, as `cutover resume` does.
    pub async fn resume(&self, plan: &Plan, options: RunOptions) -> Finish {
        let run_dir = self.run_dir();
        let state = journal::replay(&self.records()).expect("a journal to resume");
        let writer = Writer::append_to(&run_dir.journal()).expect("the journal to continue");
        let journal = Journal {
            run_dir,
            writer,
            state: Some(state),
        };
        self.session(plan, options, journal, Start::Resume).await
    }

    async fn session(
        &self,
        plan: &Plan,
        options: RunOptions,
        journal: Journal,
        start: Start,
    ) -> Finish {
        // The sender stays alive for the whole session: nobody presses Ctrl-C.
        let (_interrupt, interrupt) = watch::channel(None);
        let mut observer = Recording::default();
        let written_before = self.records().len();
        let finish = {
            let runner = Runner::new(plan, options, &Nobody, interrupt, journal, &mut observer);
            let finish = match start {
                Start::Run => runner.run("playbook.yaml", "test-host").await,
                Start::Resume => runner.resume().await,
            }
            .expect("the journal can be written");
            runner.conclude().await.expect("the journal head");
            finish
        };
        assert_eq!(
            observer.records,
            self.records()[written_before..],
            "the observer saw exactly what was journaled"
        );
        finish
    }

    /// The journal as it is on disk.
    pub fn records(&self) -> Vec<Record> {
        let path = self.run_dir().journal();
        if !path.exists() {
            return Vec::new();
        }
        let verification = journal::verify(&path).expect("a readable journal");
        assert!(verification.problem.is_none(), "the hash chain holds");
        journal::read(&path).expect("a readable journal")
    }

    /// The journal, one short line per event.
    pub fn journal(&self) -> Vec<String> {
        self.records().iter().map(|r| line(&r.event)).collect()
    }
}

/// The parts of an event the tests decide on.
fn line(event: &Event) -> String {
    let list = |steps: &[String]| steps.join(", ");
    match event {
        Event::RunResumed { command, .. } => format!("run_resumed {command}"),
        Event::CheckpointPassed { name } => format!("checkpoint_passed {name}"),
        Event::StepStarted { step, attempt, .. } => format!("step_started {step} #{attempt}"),
        Event::StepRetrying {
            step,
            attempt,
            error,
            backoff_ms,
        } => format!("step_retrying {step} #{attempt}: {error} (backoff {backoff_ms}ms)"),
        Event::StepFinished { step, attempt, .. } => format!("step_finished {step} #{attempt}"),
        Event::StepFailed {
            step,
            attempt,
            error,
            timed_out,
            ..
        } => format!(
            "step_failed {step} #{attempt}: {error}{}",
            if *timed_out { " (timed out)" } else { "" }
        ),
        Event::StepDecided { step, decision, .. } => format!("step_decided {step} {decision}"),
        Event::StepNoted {
            step,
            attempt,
            note,
        } => format!("step_noted {step} #{attempt}: {note}"),
        Event::RollbackStarted {
            checkpoint, steps, ..
        } => format!(
            "rollback_started to {}: {}",
            checkpoint.as_deref().unwrap_or("the start"),
            list(steps)
        ),
        Event::CompensationStarted { step, attempt, .. } => {
            format!("compensation_started {step} #{attempt}")
        }
        Event::CompensationFinished { step, attempt, .. } => {
            format!("compensation_finished {step} #{attempt}")
        }
        Event::CompensationFailed {
            step,
            attempt,
            error,
            ..
        } => format!("compensation_failed {step} #{attempt}: {error}"),
        Event::RollbackFinished {
            complete,
            undone,
            remaining,
        } => format!(
            "rollback_finished {}: undone [{}], remaining [{}]",
            if *complete { "complete" } else { "incomplete" },
            list(undone),
            list(remaining)
        ),
        Event::RunFinished { outcome, .. } => format!("run_finished {}", outcome.as_str()),
        other => other.name(),
    }
}
