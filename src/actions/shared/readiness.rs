//! Whether replication is ready for a freeze, from two readings `sample`
//! apart: the lag, how fast the target applies and the source writes, and
//! the catch-up time the target would need once writes stop. What
//! `postgres.ready` and `mysql.ready` share; each engine only measures.

use std::time::Duration;

use crate::actions::shared::units::{human_bytes, ByteSize};
use crate::duration::{format_duration, DurationText};

/// Default `max_lag`: 64 MB of WAL or binary log.
pub fn default_max_lag() -> ByteSize {
    ByteSize(64 * 1024 * 1024)
}

/// Default `max_catch_up`: 30 s.
pub fn default_max_catch_up() -> DurationText {
    DurationText(Duration::from_secs(30))
}

/// Default `sample`: 5 s.
pub fn default_sample() -> DurationText {
    DurationText(Duration::from_secs(5))
}

/// Two readings of one replication stream, in bytes of the source's log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Lag at the end of the sample (the one a freeze would start from).
    pub lag: u64,
    /// Lag at its start.
    pub lag_before: u64,
    /// How far the source's log end moved during the sample.
    pub written: u64,
    /// How far the target's applied (confirmed) position moved.
    pub applied: u64,
    /// How long the sample lasted.
    pub seconds: f64,
}

/// The figures a readiness check decides on.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub lag: u64,
    /// Bytes applied per second on the target.
    pub apply_rate: f64,
    /// Bytes written per second on the source.
    pub write_rate: f64,
    /// Lag drained per second (negative: growing).
    pub drain_rate: f64,
    /// Predicted catch-up after a freeze; None: never (the target is not applying).
    pub catch_up: Option<Duration>,
}

impl Verdict {
    pub fn from(sample: Sample) -> Verdict {
        let seconds = sample.seconds.max(0.001);
        let apply_rate = sample.applied as f64 / seconds;
        // Once writes stop, the target drains at the rate it applies now:
        // what it applies is no longer offset by new writes.
        let catch_up = if sample.lag == 0 {
            Some(Duration::ZERO)
        } else if apply_rate > 0.0 {
            Some(Duration::from_secs_f64(sample.lag as f64 / apply_rate))
        } else {
            None
        };
        Verdict {
            lag: sample.lag,
            apply_rate,
            write_rate: sample.written as f64 / seconds,
            drain_rate: (sample.lag_before as f64 - sample.lag as f64) / seconds,
            catch_up,
        }
    }

    /// `23 s`, `never`.
    pub fn catch_up_text(&self) -> String {
        match self.catch_up {
            Some(d) if d < Duration::from_secs(1) => format!("{:.2} s", d.as_secs_f64()),
            Some(d) => format!("{:.0} s", d.as_secs_f64()),
            None => "never (the target applied nothing during the sample)".to_string(),
        }
    }

    /// The figures in one line: `lag 48 MB, applying 2.1 MB/s, source writing 3 MB/s`.
    pub fn figures(&self) -> String {
        format!(
            "lag {}, applying {}/s, source writing {}/s, predicted catch-up after freeze {}",
            human_bytes(self.lag),
            human_bytes(self.apply_rate as u64),
            human_bytes(self.write_rate as u64),
            self.catch_up_text()
        )
    }

    /// True when the lag and the predicted catch-up are within their limits.
    pub fn within(&self, max_lag: u64, max_catch_up: Duration) -> bool {
        self.lag <= max_lag && self.catch_up.is_some_and(|d| d <= max_catch_up)
    }

    /// Both figures with their limits, and the prediction with its limit.
    pub fn against(&self, max_lag: u64, max_catch_up: Duration) -> String {
        format!(
            "lag {} (max {}), applying {}/s (source writing {}/s), predicted catch-up after freeze {} (max {})",
            human_bytes(self.lag),
            human_bytes(max_lag),
            human_bytes(self.apply_rate as u64),
            human_bytes(self.write_rate as u64),
            self.catch_up_text(),
            format_duration(max_catch_up)
        )
    }

    /// Err: `replication not ready: ` and the figures against their limits.
    pub fn check(&self, max_lag: u64, max_catch_up: Duration) -> Result<(), String> {
        if self.within(max_lag, max_catch_up) {
            Ok(())
        } else {
            Err(format!(
                "replication not ready: {}",
                self.against(max_lag, max_catch_up)
            ))
        }
    }

    /// What the step's applied data holds.
    pub fn data(&self) -> serde_json::Value {
        serde_json::json!({
            "lag_bytes": self.lag,
            "apply_bytes_per_s": self.apply_rate.round() as u64,
            "write_bytes_per_s": self.write_rate.round() as u64,
            "drain_bytes_per_s": self.drain_rate.round() as i64,
            "predicted_catch_up_ms": self.catch_up.map(|d| d.as_millis() as u64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1024 * 1024;

    #[test]
    fn a_target_that_keeps_up_is_ready() {
        let v = Verdict::from(Sample {
            lag: MB,
            lag_before: MB,
            written: 10 * MB,
            applied: 10 * MB,
            seconds: 5.0,
        });
        assert_eq!(v.catch_up, Some(Duration::from_millis(500)));
        assert!(v.check(16 * MB, Duration::from_secs(5)).is_ok());
    }

    #[test]
    fn a_slow_target_is_refused_with_both_figures() {
        let v = Verdict::from(Sample {
            lag: 48 * MB,
            lag_before: 40 * MB,
            written: 18 * MB,
            applied: 10 * MB,
            seconds: 5.0,
        });
        let error = v.check(16 * MB, Duration::from_secs(5)).unwrap_err();
        assert!(error.contains("lag 48.0 MB (max 16.0 MB)"), "{error}");
        assert!(error.contains("applying 2.0 MB/s"), "{error}");
        assert!(
            error.contains("catch-up after freeze 24 s (max 5s)"),
            "{error}"
        );
    }

    #[test]
    fn a_target_applying_nothing_never_catches_up() {
        let v = Verdict::from(Sample {
            lag: 100,
            lag_before: 0,
            written: 100,
            applied: 0,
            seconds: 1.0,
        });
        assert_eq!(v.catch_up, None);
        let error = v.check(MB, Duration::from_secs(30)).unwrap_err();
        assert!(error.contains("never"), "{error}");
    }
}
