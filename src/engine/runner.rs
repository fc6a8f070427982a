//! `Runner`: the state machine of a run, on top of the engine. Journals every
//! event (through its `Recorder`) before the work it announces goes on, and
//! keeps its in-memory state by folding those same events, so a resumed run and
//! an uninterrupted one cannot disagree. The guardrails, the steps, rollback and
//! resume are modules below it, each handed what it needs.

use tokio::sync::watch;

use super::budget::Budget;
use super::canary;
use super::guard::{self, WindowVerdict};
use super::recorder::{Journal, Recorder};
use super::resume;
use super::rollback;
use super::slow;
use super::step::{Executor, Limits};
use super::stop::{Finish, Stop};
use super::RunOptions;
use crate::actions::Input;
use crate::journal::{Event, Outcome};
use crate::plan::{Plan, PlanItem};
use crate::report::Observer;

pub struct Runner<'a> {
    plan: &'a Plan,
    options: RunOptions,
    input: &'a dyn Input,
    interrupt: watch::Receiver<Option<String>>,
    recorder: Recorder<'a>,
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
        let recorder = Recorder::new(plan, options.mode, journal, observer);
        Self {
            plan,
            options,
            input,
            interrupt,
            recorder,
        }
    }

    pub fn run_id(&self) -> &str {
        self.recorder.run_id()
    }

    /// What the modules below need to run action calls and journal them.
    fn executor(&self) -> Executor<'_, 'a> {
        Executor {
            recorder: &self.recorder,
            plan: self.plan,
            options: &self.options,
            input: self.input,
            interrupt: &self.interrupt,
        }
    }

    /// A fresh run: journal its start, then go forward from the first item.
    pub async fn run(&self, path: &str, host: &str) -> anyhow::Result<Finish> {
        self.recorder.emit(Event::RunStarted {
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
        if let Some(refusal) = guard::check_start(&self.executor()).await? {
            return Ok(refusal);
        }
        if let Some(refusal) = canary::start(&self.executor())? {
            return Ok(refusal);
        }
        self.forward().await
    }

    /// Takes a stopped run over (see `resume::take_over`), then goes on forward
    /// unless that already ended it.
    pub async fn resume(&self) -> anyhow::Result<Finish> {
        match resume::take_over(&self.executor()).await? {
            Some(finish) => Ok(finish),
            None => {
                // Writes acknowledged before the crash are not known to this
                // process: the canary checks those from here on.
                if let Some(refusal) = canary::start(&self.executor())? {
                    return Ok(refusal);
                }
                self.forward().await
            }
        }
    }

    /// `cutover rollback`: undoes completed steps back to a checkpoint.
    pub async fn rollback_to(
        &self,
        checkpoint: Option<String>,
        steps: Vec<String>,
    ) -> anyhow::Result<Finish> {
        resume::roll_back_to(&self.executor(), checkpoint, steps).await
    }

    /// `cutover rollback` of a run past its point of no return, with a `go_back:`.
    pub async fn go_back(&self) -> anyhow::Result<Finish> {
        resume::go_back(&self.executor()).await
    }

    /// Goes through the plan, skipping what is already done; on a stop, hands
    /// over to `rollback::fail`.
    async fn forward(&self) -> anyhow::Result<Finish> {
        let exec = self.executor();
        let recorder = &self.recorder;
        let budget = Budget::new(&exec);
        for (index, item) in self.plan.items.iter().enumerate() {
            match item {
                PlanItem::Checkpoint(name) => {
                    if !recorder.state(|s| s.checkpoints.contains(name)) {
                        recorder.emit(Event::CheckpointPassed { name: name.clone() })?;
                    }
                }
                PlanItem::Step(step) => {
                    if recorder.state(|s| s.is_finished(&step.id)) {
                        continue;
                    }
                    recorder.collect_announcements(false).await?;
                    recorder.journal_canary()?;
                    if let Some(signal) = exec.interrupted() {
                        recorder.emit(Event::Interrupted {
                            signal: signal.clone(),
                        })?;
                        return rollback::fail(&exec, index, Stop::Interrupted { signal }).await;
                    }
                    match guard::check_before_step(&exec, index, &step.id)? {
                        WindowVerdict::Go => {}
                        WindowVerdict::Stop(finish) => return Ok(finish),
                        WindowVerdict::Fail(stop) => {
                            return rollback::fail(&exec, index, stop).await
                        }
                    }
                    let deadline = match budget.before(&exec, step)? {
                        Ok(deadline) => deadline,
                        Err(stop) => return rollback::fail(&exec, index, stop).await,
                    };
                    let limits = Limits {
                        budget: deadline,
                        slow: slow::watch(&exec, step),
                    };
                    if let Err(stop) = exec.run_step(step, &limits).await? {
                        return rollback::fail(&exec, index, stop).await;
                    }
                    budget.after(&exec, step)?;
                    if let Some(finish) = slow::pause_after(&exec, step, &limits)? {
                        return Ok(finish);
                    }
                }
            }
        }
        let count = self.plan.step_count();
        recorder.finish(Outcome::Done, format!("all {count} steps completed"))
    }

    /// After the run's end: waits for webhook posts still under way, journals
    /// their results, and records the journal's head again.
    pub async fn conclude(&self) -> anyhow::Result<()> {
        self.recorder.conclude().await
    }
}
