//! `Throughput`: how fast a transfer is moving now — bytes per second over a
//! sliding window of recent samples — and the time left at that pace. The
//! average since the start would lag a copy whose pace changes (a big table
//! after small ones, an index build stealing a core); the last few seconds
//! follow it. Pure arithmetic over the instants it is given, so it is tested
//! without a clock.

use std::collections::VecDeque;
use std::time::Duration;

/// How far back the rate looks.
pub const WINDOW: Duration = Duration::from_secs(10);

/// Below this span the samples say nothing reliable about a rate.
const MIN_SPAN: Duration = Duration::from_millis(400);

/// Samples of (time since the transfer began, amount done), oldest first.
#[derive(Debug, Clone, Default)]
pub struct Throughput {
    samples: VecDeque<(Duration, u64)>,
    /// The first sample ever, for the average of the whole transfer.
    origin: Option<(Duration, u64)>,
}

impl Throughput {
    pub fn new() -> Throughput {
        Throughput::default()
    }

    /// Records that `done` was reached at `at`. Samples older than the
    /// window go, except the newest of them: it is where the window starts.
    pub fn sample(&mut self, at: Duration, done: u64) {
        // Time never runs back; an amount may (a stale range copied again).
        if let Some(&(last_at, _)) = self.samples.back() {
            if at < last_at {
                return;
            }
        }
        self.origin.get_or_insert((at, done));
        self.samples.push_back((at, done));
        while self.samples.len() > 2 && at.saturating_sub(self.samples[1].0) >= WINDOW {
            self.samples.pop_front();
        }
    }

    /// Units per second over the window, None until the samples span enough
    /// time to tell.
    pub fn rate(&self) -> Option<f64> {
        let (&(first_at, first), &(last_at, last)) = (self.samples.front()?, self.samples.back()?);
        let span = last_at.saturating_sub(first_at);
        if span < MIN_SPAN {
            return None;
        }
        Some(last.saturating_sub(first) as f64 / span.as_secs_f64())
    }

    /// Units per second from the first sample to `at`, when `done` was
    /// reached: the closing figure of a transfer.
    pub fn average(&self, at: Duration, done: u64) -> Option<f64> {
        let (first_at, first) = self.origin?;
        let span = at.saturating_sub(first_at).max(Duration::from_millis(1));
        Some(done.saturating_sub(first) as f64 / span.as_secs_f64())
    }

    /// The time left to reach `total` at the current rate; None while the
    /// rate is unknown or zero (a stalled transfer has no honest ETA).
    pub fn eta(&self, total: u64) -> Option<Duration> {
        let done = self.samples.back()?.1;
        eta(done, total, self.rate()?)
    }
}

/// The time left to move `total - done` at `rate` units per second.
pub fn eta(done: u64, total: u64, rate: f64) -> Option<Duration> {
    if done >= total {
        return Some(Duration::ZERO);
    }
    if rate.is_nan() || rate <= 0.0 {
        return None;
    }
    let seconds = (total - done) as f64 / rate;
    // A week is as good as never; a Duration from an absurd float would panic.
    (seconds < 7.0 * 86_400.0).then(|| Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(seconds: f64) -> Duration {
        Duration::from_secs_f64(seconds)
    }

    #[test]
    fn no_rate_until_the_samples_span_enough_time() {
        let mut t = Throughput::new();
        assert_eq!(t.rate(), None);
        t.sample(s(0.0), 0);
        assert_eq!(t.rate(), None);
        t.sample(s(0.1), 1000);
        assert_eq!(t.rate(), None, "100 ms is too short to tell");
        t.sample(s(1.0), 10_000);
        assert_eq!(t.rate(), Some(10_000.0));
        assert_eq!(t.eta(30_000), Some(s(2.0)));
    }

    #[test]
    fn the_rate_follows_the_last_ten_seconds_not_the_average() {
        let mut t = Throughput::new();
        // 20 s at 1 MB/s, then 5 s at 10 MB/s.
        let mb = 1_000_000u64;
        let mut done = 0;
        for second in 0..=20 {
            done = second * mb;
            t.sample(s(second as f64), done);
        }
        for second in 21..=25 {
            done += 10 * mb;
            t.sample(s(second as f64), done);
        }
        // The window is 15 s → 25 s: 5 s at 1 MB/s and 5 s at 10 MB/s.
        let rate = t.rate().unwrap();
        assert!((rate - 5.5e6).abs() < 1.0, "{rate}");
        let average = done as f64 / 25.0;
        assert!(rate > average * 1.5, "{rate} vs the average {average}");
        // 55 MB left at 5.5 MB/s.
        assert_eq!(t.eta(done + 55 * mb), Some(s(10.0)));
    }

    #[test]
    fn a_stall_has_no_eta_and_a_finished_transfer_none_left() {
        let mut t = Throughput::new();
        t.sample(s(0.0), 500);
        t.sample(s(5.0), 500);
        assert_eq!(t.rate(), Some(0.0));
        assert_eq!(t.eta(1000), None);
        assert_eq!(t.eta(500), Some(Duration::ZERO));
        assert_eq!(t.eta(100), Some(Duration::ZERO), "past the estimate");
    }

    #[test]
    fn the_window_keeps_its_starting_sample_and_ignores_time_running_back() {
        let mut t = Throughput::new();
        t.sample(s(0.0), 0);
        t.sample(s(30.0), 3000);
        // One sample older than the window is kept: the rate is not lost.
        assert_eq!(t.rate(), Some(100.0));
        t.sample(s(29.0), 9999);
        assert_eq!(t.rate(), Some(100.0));
        // At 45 s the window is 35 s → 45 s: the sample at 0 s goes, the one
        // at 30 s, the newest outside, starts it.
        t.sample(s(40.0), 4000);
        t.sample(s(45.0), 4500);
        assert_eq!(t.rate(), Some(100.0));
        // An amount going down (work redone) does not underflow.
        let mut redone = Throughput::new();
        redone.sample(s(0.0), 5000);
        redone.sample(s(1.0), 100);
        assert_eq!(redone.rate(), Some(0.0));
    }

    #[test]
    fn the_average_counts_from_the_first_sample() {
        let mut t = Throughput::new();
        assert_eq!(t.average(s(1.0), 10), None);
        // Resumed with 1000 already done: only what this attempt moved counts.
        t.sample(s(2.0), 1000);
        for second in 3..=40 {
            t.sample(s(second as f64), 1000 + (second - 2) * 50);
        }
        assert_eq!(t.average(s(42.0), 3000), Some(50.0));
    }

    #[test]
    fn eta_arithmetic_guards_its_edges() {
        assert_eq!(eta(0, 100, 10.0), Some(s(10.0)));
        assert_eq!(eta(0, 100, 0.0), None);
        assert_eq!(eta(0, 100, f64::NAN), None);
        assert_eq!(eta(0, u64::MAX, 1e-9), None, "absurdly far");
        assert_eq!(eta(100, 100, 0.0), Some(Duration::ZERO));
    }
}
