//! `postgres.catch_up`: waits until the subscriber has confirmed the source's
//! current WAL position (or is within `max_lag` bytes of it), showing the lag
//! and its trend; fails on timeout.

use std::time::{Duration, Instant};

use anyhow::anyhow;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::catalog::require_enabled;
use super::connect::label;
use super::connect::{pg, Endpoint};
use super::schema_guard;
use super::session::connect_pinned;
use crate::actions::shared::units::human_bytes;
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};
use crate::duration::{format_duration, DurationText};

/// Parameters of `postgres.catch_up`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CatchUp {
    /// The publisher.
    pub source: String,
    /// The subscriber.
    pub target: String,
    /// The subscription (and slot) name (default `cutover`).
    #[serde(default = "default_name")]
    pub subscription: String,
    /// Bytes of WAL the subscriber may still be behind (default 0: fully caught up).
    #[serde(default)]
    pub max_lag: u64,
    /// Give up after this long (default `5m`).
    #[serde(
        default = "default_timeout",
        deserialize_with = "crate::duration::positive"
    )]
    pub timeout: DurationText,
}

fn default_name() -> String {
    "cutover".to_string()
}

fn default_timeout() -> DurationText {
    DurationText(Duration::from_secs(300))
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "postgres.catch_up",
    CatchUp,
    "wait until the subscriber has confirmed the source's current WAL position"
);

/// How long the slot may have no subscriber connected before the wait fails:
/// a subscriber's apply worker reconnects within `wal_retrieve_retry_interval`
/// (5 s by default) after an error.
const DETACHED_GRACE: Duration = Duration::from_secs(8);

impl CatchUp {
    /// The wait itself; `apply` bounds it with `timeout`.
    async fn wait(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let source = Endpoint::parse(&self.source)?;
        let target = Endpoint::parse(&self.target)?;
        let (src, dst) = tokio::try_join!(connect_pinned(&source), connect_pinned(&target))?;
        if let Err(error) = require_enabled(&dst, &self.subscription).await {
            // What waiting could not bring over: what going on would lose.
            let behind = behind(&src, &self.subscription).await;
            return Err(anyhow!("{error:#}; {behind}").into());
        }
        // Before waiting: a schema changed since `postgres.replicate` breaks
        // the apply (or silently drops a column) once writes are frozen.
        schema_guard::check(&src, &dst, &self.subscription).await?;
        // The position to reach: the source's WAL end when the wait starts.
        let goal: String = src
            .query_one("SELECT pg_current_wal_lsn()::text", &[])
            .await
            .map_err(pg)?
            .get(0);
        let started = Instant::now();
        let mut previous: Option<(Instant, i64)> = None;
        let mut last_report = Instant::now() - Duration::from_secs(1);
        let mut first_lag = None;
        let mut detached_since: Option<Instant> = None;
        loop {
            let row = src
                .query_opt(
                    "SELECT pg_wal_lsn_diff($2::text::pg_lsn, confirmed_flush_lsn)::bigint, active FROM pg_replication_slots WHERE slot_name = $1",
                    &[&self.subscription, &goal],
                )
                .await
                .map_err(pg)?
                .ok_or_else(|| anyhow!("the source has no replication slot `{}`", self.subscription))?;
            let lag: i64 = row.get::<_, Option<i64>>(0).unwrap_or(i64::MAX).max(0);
            // Writes are frozen while this waits: a subscriber gone (the target
            // stopped, its network cut) fails the step in seconds, not at the
            // end of `timeout`.
            if row.get::<_, bool>(1) {
                detached_since = None;
            } else if lag as u64 > self.max_lag {
                let since = *detached_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= DETACHED_GRACE {
                    return Err(anyhow!(
                        "no subscriber has been connected to slot `{}` on {} for {} while {} behind (hint: is {} up, and its subscription enabled?)",
                        self.subscription,
                        label(&self.source),
                        format_duration(DETACHED_GRACE),
                        human_bytes(lag as u64),
                        label(&self.target)
                    )
                    .into());
                }
            }
            let first = *first_lag.get_or_insert(lag);
            cx.report(Progress::Amount {
                done: (first - lag).max(0) as u64,
                total: Some(first.max(1) as u64),
                unit: "bytes",
            });
            let trend = match previous {
                Some((at, before)) if at.elapsed() > Duration::ZERO => {
                    let rate = (before - lag) as f64 / at.elapsed().as_secs_f64();
                    if rate > 0.0 {
                        format!("falling {}/s", human_bytes(rate as u64))
                    } else if rate < 0.0 {
                        format!("RISING {}/s", human_bytes(-rate as u64))
                    } else {
                        "steady".to_string()
                    }
                }
                _ => "first reading".to_string(),
            };
            if lag as u64 <= self.max_lag {
                cx.report(Progress::Status(format!(
                    "caught up: lag {} behind {goal} after {:.2} s",
                    human_bytes(lag as u64),
                    started.elapsed().as_secs_f64()
                )));
                return Ok(Applied {
                    data: serde_json::json!({
                        "lsn": goal,
                        "lag_bytes": lag,
                        "waited_ms": started.elapsed().as_millis() as u64,
                    }),
                    ..Applied::default()
                });
            }
            if started.elapsed() >= self.timeout.0 {
                return Err(anyhow!(
                    "the subscriber is still {} behind {goal} after {} ({trend}; max_lag {})",
                    human_bytes(lag as u64),
                    format_duration(self.timeout.0),
                    human_bytes(self.max_lag)
                )
                .into());
            }
            if last_report.elapsed() >= Duration::from_millis(500) {
                cx.report(Progress::Status(format!(
                    "lag {} behind {goal} ({trend})",
                    human_bytes(lag as u64)
                )));
                last_report = Instant::now();
                previous = Some((Instant::now(), lag));
            }
            if previous.is_none() {
                previous = Some((Instant::now(), lag));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// How far the subscriber's slot is behind the source's WAL end, in words.
async fn behind(src: &tokio_postgres::Client, slot: &str) -> String {
    let row = src
        .query_opt(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await;
    match row {
        Ok(Some(row)) => match row.get::<_, Option<i64>>(0) {
            Some(lag) => format!(
                "the subscriber is {} ({} bytes) of WAL behind the source: writes in it have not reached the subscriber",
                human_bytes(lag.max(0) as u64),
                lag.max(0)
            ),
            None => format!("slot `{slot}` on the source has confirmed nothing yet"),
        },
        Ok(None) => format!("the source has no replication slot `{slot}`: no write it took since can reach the subscriber"),
        Err(error) => format!("the lag could not be read: {}", pg(error)),
    }
}

#[async_trait(?Send)]
impl Action for CatchUp {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn endpoints(&self) -> Vec<String> {
        vec![
            crate::actions::shared::endpoint::database(&self.source),
            crate::actions::shared::endpoint::database(&self.target),
        ]
    }

    fn describe(&self) -> String {
        format!(
            "wait until {} has caught up with {} (lag at most {}, {} at most)",
            label(&self.target),
            label(&self.source),
            human_bytes(self.max_lag),
            format_duration(self.timeout.0)
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        // `timeout` holds while a server does not answer too (a target that
        // accepts and hangs, a source gone mid-query): the writes are frozen
        // meanwhile. The wait's own check gives the lag when it fires first.
        let limit = self.timeout.0 + Duration::from_secs(1);
        match tokio::time::timeout(limit, self.wait(cx)).await {
            Ok(result) => result,
            Err(_) => Err(anyhow!(
                "no answer from {} or {} within the `timeout` of {} (hint: is the server up and answering?)",
                label(&self.source),
                label(&self.target),
                format_duration(self.timeout.0)
            )
            .into()),
        }
    }

    // Waits and reads.
    fn idempotent(&self) -> bool {
        true
    }

    // Waits and reads.
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}
