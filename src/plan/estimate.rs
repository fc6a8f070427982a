//! Estimates: the median (and p90) of a step's past durations, else the
//! playbook's `estimate`. Windows, `plan` and the progress display use them.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{EstimateSource, Plan, PlanItem};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

impl Plan {
    /// Replaces playbook estimates with measured ones where earlier runs exist.
    pub fn apply_history(&mut self, history: &BTreeMap<String, Vec<Duration>>) {
        for item in &mut self.items {
            let PlanItem::Step(step) = item else {
                continue;
            };
            match history.get(&step.id).filter(|d| !d.is_empty()) {
                Some(durations) => {
                    let mut sorted = durations.clone();
                    sorted.sort();
                    step.estimate = Some(percentile(&sorted, 0.5));
                    step.estimate_p90 = Some(percentile(&sorted, 0.9));
                    step.estimate_source = EstimateSource::History { runs: sorted.len() };
                }
                None if step.estimate.is_some() => step.estimate_source = EstimateSource::Playbook,
                None => {}
            }
        }
    }

    /// How the total estimate was made, in words: "2 steps measured (median of
    /// 3 runs), 1 from the playbook, 1 unknown".
    pub fn estimate_sources(&self) -> String {
        let (mut measured, mut runs, mut playbook, mut unknown) = (0, 0, 0, 0);
        let mut scaled = 0;
        for step in self.steps() {
            match &step.estimate_source {
                EstimateSource::History { runs: n } => {
                    measured += 1;
                    runs = runs.max(*n);
                }
                EstimateSource::Scaled { runs: n, .. } => {
                    scaled += 1;
                    runs = runs.max(*n);
                }
                EstimateSource::Playbook => playbook += 1,
                EstimateSource::Unknown => unknown += 1,
            }
        }
        let mut parts = Vec::new();
        if measured > 0 || scaled > 0 {
            parts.push(format!(
                "{} measured (up to {runs} earlier runs)",
                measured + scaled
            ));
        }
        if scaled > 0 {
            parts.push(format!("{scaled} scaled to the data there is now"));
        }
        if playbook > 0 {
            parts.push(format!("{playbook} from the playbook"));
        }
        if unknown > 0 {
            parts.push(format!("{unknown} unknown"));
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p90() {
        let d: Vec<Duration> = [10, 20, 30, 40, 100]
            .iter()
            .map(|s| Duration::from_secs(*s))
            .collect();
        assert_eq!(percentile(&d, 0.5), Duration::from_secs(30));
        assert_eq!(percentile(&d, 0.9), Duration::from_secs(100));
        assert_eq!(percentile(&d[..1], 0.9), Duration::from_secs(10));
    }
}
