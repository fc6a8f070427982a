//! `Poll` and `until`: waiting on a cloud API — the status and the elapsed
//! time in the progress display, and a timeout that names what it was waiting
//! for and what it last saw. Used by every AWS action that waits.

use std::future::Future;
use std::time::Duration;

use anyhow::bail;
use tokio::time::Instant;

use crate::actions::Progress;
use crate::duration::format_duration;

/// How long to wait and how often to ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Poll {
    pub timeout: Duration,
    pub interval: Duration,
}

impl Poll {
    /// Asks about ten times within the timeout, at most every 10 s (AWS
    /// throttles Describe calls) and at least every 0.5 s.
    pub fn within(timeout: Duration) -> Self {
        let interval = (timeout / 10).clamp(Duration::from_millis(500), Duration::from_secs(10));
        Self { timeout, interval }
    }
}

/// One look at the thing waited for.
pub enum Check<T> {
    Done(T),
    /// Not yet: the status to show.
    Pending(String),
}

/// Asks `probe` until it is done, the timeout passes (an error naming `what`
/// and its last status) or it fails.
pub async fn until<T, F, Fut>(
    what: &str,
    poll: Poll,
    report: &dyn Fn(Progress),
    mut probe: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Check<T>>>,
{
    let started = Instant::now();
    loop {
        let status = match probe().await? {
            Check::Done(value) => return Ok(value),
            Check::Pending(status) => status,
        };
        let elapsed = started.elapsed();
        report(Progress::Status(format!(
            "{what}: {status} ({} elapsed)",
            format_duration(whole_seconds(elapsed))
        )));
        if elapsed >= poll.timeout {
            bail!(
                "{what} is still `{status}` after {} (hint: raise `timeout`, or `cutover resume` goes on waiting)",
                format_duration(whole_seconds(poll.timeout))
            );
        }
        let left = poll.timeout - elapsed;
        tokio::time::sleep(poll.interval.min(left)).await;
    }
}

fn whole_seconds(duration: Duration) -> Duration {
    Duration::from_secs(duration.as_secs())
}
