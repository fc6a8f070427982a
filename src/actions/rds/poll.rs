//! `Poll`: waiting on RDS — the instance or snapshot status and the elapsed
//! time in the progress display, statuses that can never become the one wanted
//! failing at once, and a timeout that says what it was waiting for.

use std::future::Future;
use std::time::Duration;

use anyhow::bail;
use tokio::time::Instant;

use super::api::{Instance, RdsApi, Snapshot};
use crate::actions::Progress;
use crate::duration::{format_duration, DurationText};

/// Instance statuses from which `available` never comes without an operator.
const BROKEN: &[&str] = &[
    "failed",
    "incompatible-restore",
    "incompatible-parameters",
    "incompatible-network",
    "incompatible-option-group",
    "restore-error",
    "storage-full",
    "inaccessible-encryption-credentials",
];

/// How long to wait and how often to ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Poll {
    pub timeout: Duration,
    pub interval: Duration,
}

impl Poll {
    /// Asks about ten times within the timeout, at most every 10 s (RDS
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

/// Waits until an instance's status is `want` (`deleted`: until RDS no longer
/// knows it). Fails at once on a status that cannot lead there.
pub async fn instance<A: RdsApi>(
    api: &A,
    id: &str,
    want: &str,
    poll: Poll,
    report: &dyn Fn(Progress),
) -> anyhow::Result<Option<Instance>> {
    let what = format!("instance `{id}`");
    until(&what, poll, report, || async {
        let Some(found) = api.instance(id).await? else {
            if want == "deleted" {
                return Ok(Check::Done(None));
            }
            bail!("instance `{id}` does not exist");
        };
        if found.status == want {
            return Ok(Check::Done(Some(found)));
        }
        if BROKEN.contains(&found.status.as_str()) && want != found.status {
            bail!(
                "instance `{id}` is `{}`: it cannot become `{want}` without an operator",
                found.status
            );
        }
        Ok(Check::Pending(found.status))
    })
    .await
}

/// Waits until a snapshot is `available`, with its `PercentProgress` as a bar.
pub async fn snapshot<A: RdsApi>(
    api: &A,
    id: &str,
    poll: Poll,
    report: &dyn Fn(Progress),
) -> anyhow::Result<Snapshot> {
    let what = format!("snapshot `{id}`");
    until(&what, poll, report, || async {
        let Some(found) = api.snapshot(id).await? else {
            bail!("snapshot `{id}` does not exist (deleted while it was being made?)");
        };
        report(Progress::Amount {
            done: found.percent_progress.clamp(0, 100) as u64,
            total: Some(100),
            unit: "%",
        });
        match found.status.as_str() {
            "available" => Ok(Check::Done(found)),
            "failed" | "deleted" | "deleting" => {
                bail!("snapshot `{id}` is `{}`", found.status)
            }
            _ => Ok(Check::Pending(format!(
                "{}, {}%",
                found.status, found.percent_progress
            ))),
        }
    })
    .await
}

/// The default of every `wait:`.
pub fn yes() -> bool {
    true
}

/// The default longest wait for an instance or a snapshot.
pub fn two_hours() -> DurationText {
    DurationText(Duration::from_secs(2 * 3600))
}

/// The default longest wait for a deletion.
pub fn one_hour() -> DurationText {
    DurationText(Duration::from_secs(3600))
}

/// `, wait until available (at most 2h)` for a description, or nothing.
pub fn waiting(wait: bool, timeout: DurationText) -> String {
    if wait {
        format!(
            ", wait until available (at most {})",
            format_duration(timeout.0)
        )
    } else {
        String::new()
    }
}
