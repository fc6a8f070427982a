//! Waiting on RDS: an instance or a snapshot until it has the status wanted,
//! statuses that can never become the one wanted failing at once. The loop
//! itself (`Poll`, `until`: status, elapsed time, a timeout naming what it
//! waited for) is `shared::poll`, which every AWS action uses.

use std::time::Duration;

use anyhow::bail;

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

pub use crate::actions::shared::poll::{until, Check, Poll};

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
