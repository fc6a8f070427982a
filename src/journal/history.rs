//! Step timings of earlier runs of a playbook, read from the journals in a
//! state directory: what rehearsals measured becomes the next run's estimate.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{read, Event, Mode, StateDir};

/// One completed step of an earlier run.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRun {
    /// The run's id.
    pub run: String,
    pub mode: Mode,
    /// The attempt that succeeded.
    pub duration: Duration,
    /// What the action journaled (`step_finished`'s `applied`): a
    /// data-moving step's `moved` is in it.
    pub applied: serde_json::Value,
}

/// Per step id, its completed runs, oldest first; only live runs and
/// rehearsals of the playbook `name` count (dry runs measure nothing).
pub fn step_runs(state_dir: &StateDir, name: &str) -> BTreeMap<String, Vec<StepRun>> {
    let mut runs: BTreeMap<String, Vec<StepRun>> = BTreeMap::new();
    for id in state_dir.run_ids() {
        let Ok(records) = read(&state_dir.run(&id).journal()) else {
            continue;
        };
        let mode = match records.first().map(|r| &r.event) {
            Some(Event::RunStarted {
                playbook,
                mode: mode @ (Mode::Live | Mode::Rehearsal),
                ..
            }) if playbook == name => *mode,
            _ => continue,
        };
        for record in &records {
            if let Event::StepFinished {
                step,
                duration_ms,
                applied,
                ..
            } = &record.event
            {
                runs.entry(step.clone()).or_default().push(StepRun {
                    run: id.clone(),
                    mode,
                    duration: Duration::from_millis(*duration_ms),
                    applied: applied.clone(),
                });
            }
        }
    }
    runs
}

/// Per step id, the durations of its completed runs, oldest first (as `step_runs`).
pub fn step_durations(state_dir: &StateDir, name: &str) -> BTreeMap<String, Vec<Duration>> {
    durations_of(&step_runs(state_dir, name))
}

/// The durations alone of `step_runs`.
pub fn durations_of(runs: &BTreeMap<String, Vec<StepRun>>) -> BTreeMap<String, Vec<Duration>> {
    runs.iter()
        .map(|(step, runs)| (step.clone(), runs.iter().map(|r| r.duration).collect()))
        .collect()
}
