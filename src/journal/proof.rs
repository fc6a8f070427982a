//! `CanaryVerdict`: what a run's write canary proved, as the journal keeps it
//! (`canary_checked`) and every report shows it.

use serde::{Deserialize, Serialize};

/// The canary's result, journaled as one `canary_checked` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CanaryVerdict {
    pub acknowledged: u64,
    pub missing: u64,
    /// The first missing ids, lowest first.
    pub first_missing: Vec<u64>,
    /// Longest time without an acknowledged write, between two of them (or
    /// from the last one to the canary's stop).
    pub longest_gap_ms: u64,
    /// When that gap began, since the canary started.
    pub gap_start_ms: u64,
    /// The steps the gap overlapped, in order.
    pub gap_steps: Vec<String>,
    /// Attempts that were not acknowledged (an error, a timeout, a reconnect).
    pub failed_attempts: u64,
}

impl CanaryVerdict {
    /// `write canary: 812 acknowledged, 0 missing, longest gap 0.41 s (freeze → swap)`.
    pub fn line(&self) -> String {
        let steps = match self.gap_steps.as_slice() {
            [] => String::new(),
            [one] => format!(" ({one})"),
            [first, .., last] => format!(" ({first} → {last})"),
        };
        let missing = if self.missing == 0 {
            "0 missing".to_string()
        } else {
            let ids: Vec<String> = self.first_missing.iter().map(u64::to_string).collect();
            let more = if self.missing as usize > self.first_missing.len() {
                ", …"
            } else {
                ""
            };
            format!("{} MISSING (ids {}{more})", self.missing, ids.join(", "))
        };
        format!(
            "write canary: {} acknowledged, {missing}, longest gap {:.2} s{steps}",
            self.acknowledged,
            self.longest_gap_ms as f64 / 1000.0
        )
    }
}
