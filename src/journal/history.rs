//! Step timings of earlier runs of a playbook, read from the journals in a
//! state directory: what rehearsals measured becomes the next run's estimate.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{read, Event, Mode, StateDir};

/// Per step id, the durations of its completed runs, oldest first; only live
/// runs and rehearsals of the playbook `name` count (dry runs measure nothing).
pub fn step_durations(state_dir: &StateDir, name: &str) -> BTreeMap<String, Vec<Duration>> {
    let mut durations: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    for id in state_dir.run_ids() {
        let Ok(records) = read(&state_dir.run(&id).journal()) else {
            continue;
        };
        let counts = matches!(
            records.first().map(|r| &r.event),
            Some(Event::RunStarted { playbook, mode: Mode::Live | Mode::Rehearsal, .. }) if playbook == name
        );
        if !counts {
            continue;
        }
        for record in &records {
            if let Event::StepFinished {
                step, duration_ms, ..
            } = &record.event
            {
                durations
                    .entry(step.clone())
                    .or_default()
                    .push(Duration::from_millis(*duration_ms));
            }
        }
    }
    durations
}
