//! How a transfer's figures read — `412.0 MB of 1.5 GB (27%), 168.0 MB/s,
//! ETA 6.2s` — on the live display's bar and in plain lines, and how often
//! plain output repeats them (a log of a four-hour copy needs a line now and
//! then, not two a second).

use std::time::Duration;

use crate::actions::shared::units::human_bytes;
use crate::duration::format_duration;

/// At most one plain line of a transfer's figures this often (the first and
/// the last always print).
pub const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// `done` of `total`, the share, the rate and the ETA when known.
pub fn figures(done: u64, total: u64, rate: Option<u64>, eta: Option<Duration>) -> String {
    let mut text = format!(
        "{} of {} ({:.0}%)",
        human_bytes(done),
        human_bytes(total),
        share(done, total) * 100.0
    );
    if let Some(rate) = rate {
        text.push_str(&format!(", {}/s", human_bytes(rate)));
    }
    match eta {
        Some(eta) if done < total => text.push_str(&format!(", ETA {}", format_duration(eta))),
        _ => {}
    }
    text
}

/// The share done, 1 for an empty transfer.
fn share(done: u64, total: u64) -> f64 {
    if total == 0 {
        1.0
    } else {
        (done.min(total) as f64) / total as f64
    }
}

/// Whether a plain line is due: the first, the last, else after `PLAIN_EVERY`.
pub fn plain_line_due(since_last: Option<Duration>, done: u64, total: u64) -> bool {
    match since_last {
        None => true,
        Some(_) if done >= total => true,
        Some(elapsed) => elapsed >= PLAIN_EVERY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1024 * 1024;

    #[test]
    fn figures_read_as_an_operator_expects() {
        assert_eq!(
            figures(
                412 * MB,
                1536 * MB,
                Some(168 * MB),
                Some(Duration::from_millis(6200))
            ),
            "412.0 MB of 1.5 GB (27%), 168.0 MB/s, ETA 6.2s"
        );
        assert_eq!(figures(0, 10 * MB, None, None), "0 B of 10.0 MB (0%)");
        assert_eq!(
            figures(10 * MB, 10 * MB, Some(2 * MB), Some(Duration::ZERO)),
            "10.0 MB of 10.0 MB (100%), 2.0 MB/s"
        );
        assert_eq!(figures(0, 0, None, None), "0 B of 0 B (100%)");
    }

    #[test]
    fn plain_lines_come_first_last_and_every_five_seconds() {
        assert!(plain_line_due(None, 0, 100));
        assert!(!plain_line_due(Some(Duration::from_secs(1)), 50, 100));
        assert!(plain_line_due(Some(Duration::from_secs(5)), 60, 100));
        assert!(plain_line_due(Some(Duration::from_millis(10)), 100, 100));
    }
}
