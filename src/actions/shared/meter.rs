//! `Meter`: rows and bytes a copy has moved so far, for both engines — when to
//! report (every half second), how fast (`max_rate`), and the figures an
//! operator reads (rate, ETA, the closing line), and the bytes bar: done of
//! a total, at the rate of the last seconds (`throughput.rs`). Each copy
//! keeps its own per-table or per-range accounting on top.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use super::throughput::Throughput;
use super::units::human_bytes;
use crate::actions::{Progress, StepContext};

/// How often a running copy reports.
const REPORT_EVERY: Duration = Duration::from_millis(500);

pub struct Meter {
    started: Instant,
    rows: Cell<u64>,
    bytes: Cell<u64>,
    last_report: Cell<Instant>,
    /// Bytes per second at most, if the playbook asks.
    max_rate: Option<u64>,
    /// The bytes bar's samples.
    throughput: RefCell<Throughput>,
}

impl Meter {
    pub fn new(max_rate: Option<u64>) -> Meter {
        Meter {
            started: Instant::now(),
            rows: Cell::new(0),
            bytes: Cell::new(0),
            last_report: Cell::new(Instant::now()),
            max_rate,
            throughput: RefCell::new(Throughput::new()),
        }
    }

    /// Counts what was moved; true when a progress report is due.
    pub fn count(&self, rows: u64, bytes: u64) -> bool {
        self.rows.set(self.rows.get() + rows);
        self.bytes.set(self.bytes.get() + bytes);
        if self.last_report.get().elapsed() >= REPORT_EVERY {
            self.last_report.set(Instant::now());
            true
        } else {
            false
        }
    }

    /// Sleeps until the bytes moved so far fit `max_rate`.
    pub async fn pace(&self) {
        if let Some(rate) = self.max_rate {
            let due = Duration::from_secs_f64(self.bytes.get() as f64 / rate as f64);
            let elapsed = self.started.elapsed();
            // A few milliseconds ahead is not worth a timer.
            if due > elapsed + Duration::from_millis(5) {
                tokio::time::sleep(due - elapsed).await;
            }
        }
    }

    pub fn rows(&self) -> u64 {
        self.rows.get()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.get()
    }

    /// Seconds since the copy began, never zero (it divides rates).
    pub fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64().max(0.001)
    }

    /// `12345 rows/s, 3.2 MB/s`.
    pub fn rates(&self) -> String {
        let seconds = self.seconds();
        format!(
            "{:.0} rows/s, {}/s",
            self.rows() as f64 / seconds,
            human_bytes((self.bytes() as f64 / seconds) as u64)
        )
    }

    /// `, ETA 42 s` for the share of the work done, or nothing at the ends.
    pub fn eta(&self, fraction: f64) -> String {
        if fraction > 0.0 && fraction < 1.0 {
            format!(
                ", ETA {:.0} s",
                self.seconds() * (1.0 - fraction) / fraction
            )
        } else {
            String::new()
        }
    }

    /// The rows bar: done of the expected total (when known).
    pub fn report_rows(&self, cx: &StepContext<'_>, expected: Option<u64>) {
        let rows = self.rows();
        cx.report(Progress::Amount {
            done: rows,
            total: expected.map(|e| e.max(rows)),
            unit: "rows",
        });
    }

    /// The bytes bar: `done` of `total`, both in the copy's own measure of
    /// its tables (their size on the source, read before the copy), with
    /// the rate of the last seconds and the time left at it.
    pub fn report_transfer(&self, cx: &StepContext<'_>, done: u64, total: u64) {
        let done = done.min(total);
        let mut throughput = self.throughput.borrow_mut();
        throughput.sample(self.started.elapsed(), done);
        let rate = throughput.rate();
        cx.report(Progress::Transfer {
            done,
            total,
            rate: rate.map(|r| r as u64),
            eta: rate.and_then(|r| super::throughput::eta(done, total, r)),
        });
    }

    /// The bytes bar's last report: all of `total` in, at the average rate
    /// of this attempt.
    pub fn report_transfer_done(&self, cx: &StepContext<'_>, total: u64) {
        let throughput = self.throughput.borrow();
        let rate = throughput.average(self.started.elapsed(), total);
        cx.report(Progress::Transfer {
            done: total,
            total,
            rate: rate.map(|r| r as u64),
            eta: Some(Duration::ZERO),
        });
    }

    /// The closing line: everything moved, how long it took, how fast.
    pub fn report_total(&self, cx: &StepContext<'_>) {
        cx.report(Progress::Amount {
            done: self.rows(),
            total: Some(self.rows()),
            unit: "rows",
        });
        cx.report(Progress::Status(format!(
            "rows copied: {} rows, {} in {:.2} s ({})",
            self.rows(),
            human_bytes(self.bytes()),
            self.seconds(),
            self.rates()
        )));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_estimates() {
        let meter = Meter::new(None);
        assert!(!meter.count(10, 1000), "not due right away");
        meter.count(5, 24);
        assert_eq!((meter.rows(), meter.bytes()), (15, 1024));
        assert_eq!(meter.eta(0.0), "");
        assert_eq!(meter.eta(1.0), "");
        assert!(meter.eta(0.5).starts_with(", ETA "));
    }

    #[tokio::test(start_paused = true)]
    async fn pacing_holds_the_rate() {
        let meter = Meter::new(Some(1000));
        meter.count(1, 2000);
        let before = tokio::time::Instant::now();
        meter.pace().await;
        assert!(
            before.elapsed() >= Duration::from_millis(1990),
            "{:?}",
            before.elapsed()
        );
    }
}
