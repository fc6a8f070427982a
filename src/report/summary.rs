//! `RunSummary`: one run's journal folded into what an auditor asks — who, when,
//! which playbook, the window and its overrides, the checklist, each step's and
//! each compensation's time, and how it ended. `audit show`, `audit report` and
//! `audit diff` render it.

use jiff::Timestamp;

use crate::journal::{Event, Record};

/// A bar of the timeline: a step attempt or a compensation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    pub step: String,
    /// `step` or `undo`.
    pub kind: &'static str,
    pub attempt: u32,
    /// Milliseconds since the run started.
    pub start_ms: u64,
    pub duration_ms: u64,
    /// `done`, `failed`, `timed out`, `retried`, `running`.
    pub outcome: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    pub run_id: String,
    pub playbook: String,
    pub path: String,
    pub sha256: String,
    pub operator: String,
    pub mode: String,
    pub host: String,
    pub started: String,
    pub ended: Option<String>,
    pub duration_ms: u64,
    pub outcome: String,
    pub message: String,
    pub window: Vec<String>,
    pub overrides: Vec<(String, String)>,
    pub checklist: Vec<(String, String, String)>,
    pub verifies: Vec<(String, bool, Option<String>)>,
    pub checkpoints: Vec<(String, u64)>,
    pub bars: Vec<Bar>,
    pub resumes: Vec<(String, String, String)>,
    /// The write canary's line, if the run had one.
    pub canary: Option<String>,
    /// The downtime budget's lines: started, kept or exceeded.
    pub budget: Vec<String>,
}

fn ms_between(from: &str, to: &str) -> u64 {
    match (from.parse::<Timestamp>(), to.parse::<Timestamp>()) {
        (Ok(a), Ok(b)) => b.duration_since(a).as_millis().max(0) as u64,
        _ => 0,
    }
}

impl RunSummary {
    pub fn from_records(records: &[Record]) -> Self {
        let mut s = RunSummary {
            outcome: "stopped".into(),
            ..Default::default()
        };
        let Some(first) = records.first() else {
            return s;
        };
        s.started = first.ts.clone();
        let offset = |r: &Record| ms_between(&first.ts, &r.ts);
        for record in records {
            match &record.event {
                Event::RunStarted {
                    run_id,
                    playbook,
                    path,
                    sha256,
                    operator,
                    mode,
                    host,
                    ..
                } => {
                    s.run_id = run_id.clone();
                    s.playbook = playbook.clone();
                    s.path = path.clone();
                    s.sha256 = sha256.clone();
                    s.operator = operator.clone();
                    s.mode = mode.as_str().into();
                    s.host = host.clone();
                }
                Event::RunResumed {
                    operator, command, ..
                } => {
                    s.resumes
                        .push((record.ts.clone(), operator.clone(), command.clone()));
                    s.outcome = "stopped".into();
                }
                Event::WindowChecked {
                    now,
                    verdict,
                    closes,
                    ..
                } => {
                    let closes = closes
                        .as_ref()
                        .map(|c| format!(", closes {c}"))
                        .unwrap_or_default();
                    s.window.push(format!("{now}: {verdict}{closes}"));
                }
                Event::WindowOverridden { operator, reason } => {
                    s.overrides.push((operator.clone(), reason.clone()))
                }
                Event::WindowOverrun { step, action, .. } => {
                    s.window.push(format!("overrun before `{step}`: {action}"))
                }
                Event::CanaryChecked { .. }
                | Event::DowntimeBudgetStarted { .. }
                | Event::DowntimeBudgetExceeded { .. }
                | Event::DowntimeBudgetKept { .. } => {
                    let line = super::style::describe_record(record).unwrap_or_default();
                    if matches!(record.event, Event::CanaryChecked { .. }) {
                        s.canary = Some(line);
                    } else {
                        s.budget.push(line);
                    }
                }
                Event::ChecklistConfirmed {
                    item,
                    operator,
                    how,
                } => s
                    .checklist
                    .push((item.clone(), operator.clone(), how.clone())),
                Event::ChecklistVerified {
                    item, ok, error, ..
                } => s.verifies.push((item.clone(), *ok, error.clone())),
                Event::CheckpointPassed { name } => {
                    s.checkpoints.push((name.clone(), offset(record)))
                }
                Event::StepStarted { step, attempt, .. } => s.bars.push(Bar {
                    step: step.clone(),
                    kind: "step",
                    attempt: *attempt,
                    start_ms: offset(record),
                    duration_ms: 0,
                    outcome: "running".into(),
                    error: None,
                }),
                Event::CompensationStarted { step, attempt, .. } => s.bars.push(Bar {
                    step: step.clone(),
                    kind: "undo",
                    attempt: *attempt,
                    start_ms: offset(record),
                    duration_ms: 0,
                    outcome: "running".into(),
                    error: None,
                }),
                Event::StepFinished {
                    step, duration_ms, ..
                } => close(&mut s.bars, step, "step", *duration_ms, "done", None),
                Event::StepRetrying { step, error, .. } => {
                    let start = s
                        .bars
                        .iter()
                        .rev()
                        .find(|b| &b.step == step)
                        .map(|b| b.start_ms)
                        .unwrap_or(0);
                    close(
                        &mut s.bars,
                        step,
                        "step",
                        offset(record).saturating_sub(start),
                        "retried",
                        Some(error.clone()),
                    )
                }
                Event::StepFailed {
                    step,
                    duration_ms,
                    error,
                    timed_out,
                    ..
                } => {
                    let outcome = if *timed_out { "timed out" } else { "failed" };
                    close(
                        &mut s.bars,
                        step,
                        "step",
                        *duration_ms,
                        outcome,
                        Some(error.clone()),
                    )
                }
                Event::CompensationFinished {
                    step, duration_ms, ..
                } => close(&mut s.bars, step, "undo", *duration_ms, "done", None),
                Event::CompensationFailed {
                    step,
                    duration_ms,
                    error,
                    ..
                } => close(
                    &mut s.bars,
                    step,
                    "undo",
                    *duration_ms,
                    "failed",
                    Some(error.clone()),
                ),
                Event::RunFinished {
                    outcome, message, ..
                } => {
                    s.outcome = outcome.as_str().into();
                    s.message = message.clone();
                    s.ended = Some(record.ts.clone());
                }
                _ => {}
            }
        }
        s.duration_ms = records
            .last()
            .map(|r| ms_between(&first.ts, &r.ts))
            .unwrap_or(0);
        s
    }

    /// Total time of each step's completed run over all its attempts, for `diff`.
    pub fn step_durations(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = Vec::new();
        for bar in self.bars.iter().filter(|b| b.kind == "step") {
            match out.iter_mut().find(|(s, _)| s == &bar.step) {
                Some(entry) => entry.1 += bar.duration_ms,
                None => out.push((bar.step.clone(), bar.duration_ms)),
            }
        }
        out
    }
}

fn close(
    bars: &mut [Bar],
    step: &str,
    kind: &str,
    duration_ms: u64,
    outcome: &str,
    error: Option<String>,
) {
    if let Some(bar) = bars
        .iter_mut()
        .rev()
        .find(|b| b.step == step && b.kind == kind && b.outcome == "running")
    {
        bar.duration_ms = duration_ms;
        bar.outcome = outcome.into();
        bar.error = error;
    }
}
