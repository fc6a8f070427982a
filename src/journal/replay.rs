//! `replay`: rebuilds a run's state from its journal, for `resume`, `rollback`
//! and `audit`. The journal is the only state a run has.

use std::collections::BTreeMap;

use super::{Event, Mode, Outcome, Record};
use crate::process::ProcessRecord;

/// What the journal says about one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepStatus {
    /// Started and never finished: the outcome is unknown.
    InFlight {
        attempt: u32,
        process: Option<ProcessRecord>,
    },
    Finished,
    Failed,
    /// Its compensation started and never finished.
    Compensating {
        process: Option<ProcessRecord>,
    },
    Compensated,
    CompensationFailed,
}

/// A rollback that started and has not completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRollback {
    pub reason: String,
    pub checkpoint: Option<String>,
    /// Steps still to compensate, newest first.
    pub remaining: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct RunState {
    pub run_id: String,
    pub playbook: String,
    /// The playbook's path when the run started (absolute).
    pub path: String,
    pub sha256: String,
    pub mode: Mode,
    pub operator: String,
    pub fail_at: Option<String>,
    pub started: String,
    pub steps: BTreeMap<String, StepStatus>,
    /// The outcome of the last stop, unless a resume took the run over since.
    pub outcome: Option<Outcome>,
    /// The last step that failed for good and has not completed since.
    pub failed_step: Option<String>,
    /// Whether that step's action got as far as changing something.
    pub failed_apply_began: bool,
    pub rollback: Option<PendingRollback>,
    /// A go-back that started and has not ended: why it began.
    pub go_back: Option<String>,
    /// The run went back to the old server (a go-back completed).
    pub went_back: bool,
    /// Checkpoints passed, in order.
    pub checkpoints: Vec<String>,
    /// An `on_overrun: continue` warning was journaled already.
    pub overrun_warned: bool,
    /// Id ranges the write canary had acknowledged, as journaled (`canary_acknowledged`):
    /// a resumed run checks these too.
    pub canary_acknowledged: Vec<(u64, u64)>,
    /// The guardrails let the run start: a step (or a refusal) came after them.
    /// A run stopped before that must pass them again when resumed.
    pub guarded: bool,
    /// What each step's action noted and what its last success returned,
    /// merged (a later key wins): what an undo or a resumed attempt finds.
    pub memory: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
}

impl RunState {
    pub fn status(&self, step: &str) -> Option<&StepStatus> {
        self.steps.get(step)
    }

    pub fn is_finished(&self, step: &str) -> bool {
        self.status(step) == Some(&StepStatus::Finished)
    }

    /// The step whose outcome a crash left unknown, if any.
    pub fn in_flight(&self) -> Option<(&str, &StepStatus)> {
        self.steps
            .iter()
            .find(|(_, status)| {
                matches!(
                    status,
                    StepStatus::InFlight { .. } | StepStatus::Compensating { .. }
                )
            })
            .map(|(id, status)| (id.as_str(), status))
    }
}

/// Folds the records of one journal into the run's state.
pub fn replay(records: &[Record]) -> anyhow::Result<RunState> {
    let Some(Record {
        event:
            Event::RunStarted {
                run_id,
                playbook,
                path,
                sha256,
                mode,
                operator,
                fail_at,
                ..
            },
        ts,
        ..
    }) = records.first()
    else {
        anyhow::bail!("the journal does not begin with `run_started`");
    };
    let mut state = RunState {
        run_id: run_id.clone(),
        playbook: playbook.clone(),
        path: path.clone(),
        sha256: sha256.clone(),
        mode: *mode,
        operator: operator.clone(),
        fail_at: fail_at.clone(),
        started: ts.clone(),
        steps: BTreeMap::new(),
        outcome: None,
        failed_step: None,
        failed_apply_began: false,
        rollback: None,
        go_back: None,
        went_back: false,
        checkpoints: Vec::new(),
        overrun_warned: false,
        canary_acknowledged: Vec::new(),
        guarded: false,
        memory: BTreeMap::new(),
    };
    for record in &records[1..] {
        state.apply(&record.event);
    }
    Ok(state)
}

impl RunState {
    /// Folds one more event into the state (the engine keeps its state this way too).
    pub fn apply(&mut self, event: &Event) {
        apply(self, event);
    }
}

fn apply(state: &mut RunState, event: &Event) {
    if matches!(
        event,
        Event::StepStarted { .. } | Event::CheckpointPassed { .. }
    ) {
        state.guarded = true;
    }
    let set = |state: &mut RunState, step: &str, status: StepStatus| {
        state.steps.insert(step.to_string(), status);
    };
    match event {
        Event::CheckpointPassed { name } => state.checkpoints.push(name.clone()),
        Event::StepStarted { step, attempt, .. } => set(
            state,
            step,
            StepStatus::InFlight {
                attempt: *attempt,
                process: None,
            },
        ),
        Event::StepNoted { step, note, .. } => remember(state, step, note),
        Event::ProcessSpawned { step, process } => match state.steps.get_mut(step) {
            Some(StepStatus::InFlight { process: slot, .. })
            | Some(StepStatus::Compensating { process: slot }) => *slot = Some(process.clone()),
            _ => {}
        },
        Event::StepFinished { step, applied, .. } => {
            remember(state, step, applied);
            set(state, step, StepStatus::Finished);
            if state.failed_step.as_deref() == Some(step) {
                state.failed_step = None;
            }
        }
        Event::StepRetrying { step, .. } => set(state, step, StepStatus::Failed),
        Event::StepFailed {
            step, apply_began, ..
        } => {
            set(state, step, StepStatus::Failed);
            state.failed_step = Some(step.clone());
            state.failed_apply_began = *apply_began;
        }
        Event::StepDecided { step, decision, .. } if decision == "assume_done" => {
            set(state, step, StepStatus::Finished)
        }
        Event::StepDecided { step, .. } => {
            state.steps.remove(step);
        }
        Event::RollbackStarted {
            reason,
            checkpoint,
            steps,
            ..
        } => {
            state.rollback = Some(PendingRollback {
                reason: reason.clone(),
                checkpoint: checkpoint.clone(),
                remaining: steps.clone(),
            });
        }
        Event::CompensationStarted { step, .. } => {
            set(state, step, StepStatus::Compensating { process: None })
        }
        Event::CompensationFinished { step, .. } => {
            set(state, step, StepStatus::Compensated);
            if let Some(rollback) = &mut state.rollback {
                rollback.remaining.retain(|s| s != step);
            }
        }
        Event::CompensationFailed {
            step,
            final_attempt: true,
            ..
        } => set(state, step, StepStatus::CompensationFailed),
        Event::RollbackFinished { complete: true, .. } => state.rollback = None,
        // Each go-back runs all its steps: an earlier refused one left
        // statuses that must not count as done.
        Event::GoBackStarted { reason, steps } => {
            state.go_back = Some(reason.clone());
            for step in steps {
                state.steps.remove(step);
            }
        }
        Event::GoBackFinished { went_back, .. } => {
            state.go_back = None;
            state.went_back = *went_back;
        }
        Event::RunFinished { outcome, .. } => state.outcome = Some(*outcome),
        Event::RunResumed { .. } => state.outcome = None,
        Event::WindowOverrun { .. } => state.overrun_warned = true,
        Event::CanaryAcknowledged { ranges } => {
            state.canary_acknowledged.extend(ranges.iter().copied())
        }
        _ => {}
    }
}

/// Merges an object into a step's memory; anything else is kept under `value`.
fn remember(state: &mut RunState, step: &str, value: &serde_json::Value) {
    let memory = state.memory.entry(step.to_string()).or_default();
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                memory.insert(key.clone(), v.clone());
            }
        }
        serde_json::Value::Null => {}
        other => {
            memory.insert("value".into(), other.clone());
        }
    }
}
