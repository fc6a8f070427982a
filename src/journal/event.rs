//! `Event`: everything that happens in a run, in the past tense.

use serde::{Deserialize, Serialize};

use super::proof::CanaryVerdict;
use crate::process::ProcessRecord;

/// How a run executes its actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// For real, against production.
    Live,
    /// Every action simulated; nothing runs, nothing connects.
    DryRun,
    /// For real, against rehearsal targets; windows only warn, and its step
    /// timings become the estimates of later runs.
    Rehearsal,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Live => "live",
            Mode::DryRun => "dry_run",
            Mode::Rehearsal => "rehearsal",
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every step completed.
    Done,
    /// A step failed (or the run was interrupted) and everything since the last
    /// checkpoint was undone.
    RolledBack,
    /// Stopped where only an operator can decide: past the point of no return,
    /// a rollback that failed, or an undecided resume.
    NeedsOperator,
    /// Never started a step: outside the window, or the checklist incomplete.
    Refused,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::RolledBack => "rolled_back",
            Outcome::NeedsOperator => "needs_operator",
            Outcome::Refused => "refused",
        }
    }
}

/// One journaled event. The `step` of a record is taken from the variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum Event {
    /// A run began: which playbook (by sha256), who, how, where.
    RunStarted {
        run_id: String,
        playbook: String,
        path: String,
        sha256: String,
        operator: String,
        mode: Mode,
        host: String,
        pid: u32,
        version: String,
        steps: usize,
        fail_at: Option<String>,
        /// `--now`: the clock the window was checked against was fixed here.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clock_fixed_at: Option<String>,
    },
    /// `cutover resume` or `cutover rollback` took the run over after a stop.
    RunResumed {
        operator: String,
        pid: u32,
        command: String,
    },
    /// A rollback point was passed.
    CheckpointPassed { name: String },
    /// An attempt of a step began; journaled before the action runs.
    StepStarted {
        step: String,
        attempt: u32,
        action: String,
        describe: String,
    },
    /// The action noted what it is about to create or change (an id, the
    /// state before), before doing it: its undo finds it there even when the
    /// step never finished. Later notes of a step add to earlier ones.
    StepNoted {
        step: String,
        attempt: u32,
        note: serde_json::Value,
    },
    /// The action started a process group (so a crash can be cleaned up).
    ProcessSpawned {
        step: String,
        process: ProcessRecord,
    },
    /// An attempt failed and another will follow after `backoff_ms`.
    StepRetrying {
        step: String,
        attempt: u32,
        error: String,
        backoff_ms: u64,
    },
    /// A step completed.
    StepFinished {
        step: String,
        attempt: u32,
        duration_ms: u64,
        exit_status: Option<i32>,
        output_tail: Option<String>,
        applied: serde_json::Value,
    },
    /// A step failed after its last attempt.
    StepFailed {
        step: String,
        attempt: u32,
        duration_ms: u64,
        error: String,
        exit_status: Option<i32>,
        output_tail: Option<String>,
        timed_out: bool,
        /// The action got past its read-only checks and may have changed
        /// something (older journals: assumed so).
        #[serde(default = "apply_began_default")]
        apply_began: bool,
    },
    /// An operator settled a step whose outcome a crash left unknown.
    StepDecided {
        step: String,
        decision: String,
        operator: String,
    },
    /// Leftover processes of an earlier attempt were killed before going on.
    ProcessSettled { step: String, pid: i32 },
    /// SIGINT or SIGTERM arrived.
    Interrupted { signal: String },
    /// Compensations begin, newest first.
    RollbackStarted {
        reason: String,
        checkpoint: Option<String>,
        steps: Vec<String>,
        /// The undo of a go-back that stopped (its own steps only), not a
        /// rollback of the run.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        go_back: bool,
    },
    /// One compensation began.
    CompensationStarted {
        step: String,
        attempt: u32,
        action: String,
        describe: String,
    },
    /// One compensation completed.
    CompensationFinished {
        step: String,
        attempt: u32,
        duration_ms: u64,
        output_tail: Option<String>,
    },
    /// One compensation attempt failed.
    CompensationFailed {
        step: String,
        attempt: u32,
        duration_ms: u64,
        error: String,
        output_tail: Option<String>,
        final_attempt: bool,
    },
    /// The rollback ended: every compensation ran, or one failed for good.
    RollbackFinished {
        complete: bool,
        undone: Vec<String>,
        remaining: Vec<String>,
    },
    /// The go-back began (`cutover rollback` past the point of no return, or
    /// a watch's breach): these `go_back:` steps, in order.
    GoBackStarted { reason: String, steps: Vec<String> },
    /// The go-back ended: traffic went back (`went_back`), or a step of it
    /// failed (`failed_step`) and what it had done was undone.
    GoBackFinished {
        went_back: bool,
        failed_step: Option<String>,
        error: Option<String>,
    },
    /// The window was checked: `verdict` is `fits`, `outside` or `too_long`.
    WindowChecked {
        now: String,
        verdict: String,
        closes: Option<String>,
        next: Option<String>,
        remaining_ms: u64,
        estimate_source: String,
    },
    /// An operator ran outside the window on purpose.
    WindowOverridden { operator: String, reason: String },
    /// Before a step, the rest no longer fit the window; `action` is what
    /// `on_overrun` made of it.
    WindowOverrun {
        step: String,
        action: String,
        closes: Option<String>,
    },
    /// A checklist item was confirmed: who, and how (`prompt`, `--confirm`, a file).
    ChecklistConfirmed {
        item: String,
        operator: String,
        how: String,
    },
    /// A checklist item's verify ran.
    ChecklistVerified {
        item: String,
        ok: bool,
        error: Option<String>,
        duration_ms: u64,
    },
    /// A webhook was told about an event.
    NotificationSent {
        url: String,
        about: String,
        status: u16,
    },
    /// A webhook could not be told; the run goes on.
    NotificationFailed {
        url: String,
        about: String,
        error: String,
    },
    /// The write canary created its table and began committing.
    CanaryStarted {
        /// Where it writes, as `user@host:port/db`.
        url: String,
        table: String,
        every_ms: u64,
    },
    /// Ids the write canary had acknowledged since its last such event, as
    /// `[first, last]` ranges: journaled before each step, so a run resumed
    /// after a crash checks them too.
    CanaryAcknowledged { ranges: Vec<(u64, u64)> },
    /// The write canary stopped and looked for every acknowledged write on
    /// `verify`: its verdict, or why it has none.
    CanaryChecked {
        verify: String,
        table: String,
        verdict: Option<CanaryVerdict>,
        error: Option<String>,
        /// The table was kept (`keep: true`).
        kept: bool,
        /// What went wrong dropping the table (the verdict stands).
        cleanup: Option<String>,
    },
    /// The downtime budget's clock started: `step` is the first that stops writes.
    DowntimeBudgetStarted { step: String, budget_ms: u64 },
    /// Before `step` (or while it ran: `during`), the downtime budget would be
    /// or was spent: the run rolls back to its last checkpoint.
    DowntimeBudgetExceeded {
        step: String,
        budget_ms: u64,
        used_ms: u64,
        estimate_ms: Option<u64>,
        during: bool,
    },
    /// Before the point of no return, a step ran past its rehearsed p90 ×
    /// `slow_factor`; `on_slow` says what follows (`warn`, `pause`, `rollback`).
    StepSlow {
        step: String,
        p90_ms: u64,
        factor: f64,
        limit_ms: u64,
        on_slow: String,
    },
    /// The point of no return completed inside the budget.
    DowntimeBudgetKept { budget_ms: u64, used_ms: u64 },
    /// The run ended.
    RunFinished {
        outcome: Outcome,
        duration_ms: u64,
        message: String,
    },
}

impl Event {
    /// The step this event concerns, if any.
    pub fn step(&self) -> Option<&str> {
        match self {
            Event::StepStarted { step, .. }
            | Event::ProcessSpawned { step, .. }
            | Event::StepNoted { step, .. }
            | Event::StepRetrying { step, .. }
            | Event::StepFinished { step, .. }
            | Event::StepFailed { step, .. }
            | Event::StepDecided { step, .. }
            | Event::ProcessSettled { step, .. }
            | Event::WindowOverrun { step, .. }
            | Event::DowntimeBudgetStarted { step, .. }
            | Event::StepSlow { step, .. }
            | Event::DowntimeBudgetExceeded { step, .. }
            | Event::CompensationStarted { step, .. }
            | Event::CompensationFinished { step, .. }
            | Event::CompensationFailed { step, .. } => Some(step),
            _ => None,
        }
    }

    /// Events after which something happens outside cutover (an action starts,
    /// an operator takes over): the journal is fsynced when it writes one, which
    /// also makes every record before it durable.
    pub fn is_barrier(&self) -> bool {
        matches!(
            self,
            Event::RunStarted { .. }
                | Event::RunResumed { .. }
                | Event::StepStarted { .. }
                | Event::StepNoted { .. }
                | Event::StepDecided { .. }
                | Event::RollbackStarted { .. }
                | Event::CompensationStarted { .. }
                | Event::RollbackFinished { .. }
                | Event::GoBackStarted { .. }
                | Event::GoBackFinished { .. }
                | Event::RunFinished { .. }
        )
    }

    /// The snake_case name used in the journal's `event` field.
    pub fn name(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.get("event").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_default()
    }
}

fn apply_began_default() -> bool {
    true
}
