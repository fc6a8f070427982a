//! `postgres.ready`: a read-only gate right before the freeze. Checks the
//! schema against the fingerprint `postgres.replicate` recorded (the DDL
//! guard), then reads the subscription's lag twice, `sample` apart, and
//! fails when the lag or the catch-up predicted after a freeze is over its
//! limit — while the application can still write, instead of during the
//! freeze.

use std::time::{Duration, Instant};

use anyhow::anyhow;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use tokio_postgres::Client;

use super::catalog::require_enabled;
use super::connect::{label, pg, Endpoint};
use super::schema_guard;
use super::session::connect_pinned;
use crate::actions::shared::readiness::{
    default_max_catch_up, default_max_lag, default_sample, Sample, Verdict,
};
use crate::actions::shared::units::{human_bytes, ByteSize};
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};
use crate::duration::{format_duration, DurationText};

/// Parameters of `postgres.ready`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ready {
    /// The publisher.
    pub source: String,
    /// The subscriber.
    pub target: String,
    /// The subscription (and slot) name (default `cutover`).
    #[serde(default = "default_name")]
    pub subscription: String,
    /// WAL the subscriber may be behind at the end of the sample (default `64MB`).
    #[serde(default = "default_max_lag")]
    pub max_lag: ByteSize,
    /// Longest catch-up predicted after a freeze: lag ÷ apply rate (default `30s`).
    #[serde(default = "default_max_catch_up")]
    pub max_catch_up: DurationText,
    /// How long to measure the apply rate over (default `5s`).
    #[serde(default = "default_sample")]
    pub sample: DurationText,
}

fn default_name() -> String {
    "cutover".to_string()
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "postgres.ready",
    Ready,
    "check before the freeze: schema unchanged since replicate, lag and predicted catch-up within limits"
);

/// One reading: the source's WAL end, how far the subscriber has applied
/// (the later of the slot's confirmed position and the subscription's
/// replication origin), and whether a subscriber is connected to the slot.
struct Reading {
    at: Instant,
    current: String,
    confirmed: Option<String>,
    active: bool,
}

impl Ready {
    async fn read(&self, src: &Client, dst: &Client) -> anyhow::Result<Reading> {
        let row = src
            .query_opt(
                "SELECT pg_current_wal_lsn()::text, confirmed_flush_lsn::text, active
                   FROM pg_replication_slots WHERE slot_name = $1",
                &[&self.subscription],
            )
            .await
            .map_err(pg)?
            .ok_or_else(|| {
                anyhow!(
                    "the source has no replication slot `{}` (hint: run `postgres.replicate` first)",
                    self.subscription
                )
            })?;
        let confirmed: Option<String> = row.get(1);
        // The subscriber confirms to the slot only between batches: under a
        // backlog, `confirmed_flush_lsn` stands still for up to
        // `wal_sender_timeout` / 2 while transactions are applied. Its
        // replication origin moves with every transaction it commits.
        let origin: Option<String> = dst
            .query_opt(
                "SELECT o.remote_lsn::text FROM pg_replication_origin_status o
                   JOIN pg_subscription s ON o.external_id = 'pg_' || s.oid::text
                  WHERE s.subname = $1",
                &[&self.subscription],
            )
            .await
            .ok()
            .flatten()
            .and_then(|r| r.get(0));
        let applied = match (confirmed, origin) {
            (Some(c), Some(o)) => Some(if distance(src, Some(&c), Some(&o)).await? > 0 {
                o
            } else {
                c
            }),
            (c, o) => c.or(o),
        };
        Ok(Reading {
            at: Instant::now(),
            current: row.get(0),
            confirmed: applied,
            active: row.get(2),
        })
    }
}

/// Bytes from `from` to `to` (0 when unknown or backwards).
async fn distance(src: &Client, from: Option<&str>, to: Option<&str>) -> anyhow::Result<u64> {
    let (Some(from), Some(to)) = (from, to) else {
        return Ok(0);
    };
    let bytes: i64 = src
        .query_one(
            "SELECT pg_wal_lsn_diff($2::text::pg_lsn, $1::text::pg_lsn)::bigint",
            &[&from, &to],
        )
        .await
        .map_err(pg)?
        .get(0);
    Ok(bytes.max(0) as u64)
}

#[async_trait(?Send)]
impl Action for Ready {
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
            "check that {} is ready to take over from {} (schema unchanged, lag at most {}, catch-up after freeze at most {}, sampled over {})",
            label(&self.target),
            label(&self.source),
            human_bytes(self.max_lag.0),
            format_duration(self.max_catch_up.0),
            format_duration(self.sample.0)
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let source = Endpoint::parse(&self.source)?;
        let target = Endpoint::parse(&self.target)?;
        let (src, dst) = tokio::try_join!(connect_pinned(&source), connect_pinned(&target))?;
        require_enabled(&dst, &self.subscription).await?;
        cx.report(Progress::Status("comparing the source's schema".into()));
        let guarded = schema_guard::check(&src, &dst, &self.subscription).await?;
        let first = self.read(&src, &dst).await?;
        let started = Instant::now();
        while started.elapsed() < self.sample.0 {
            let left = self.sample.0.saturating_sub(started.elapsed());
            cx.report(Progress::Status(format!(
                "sampling the lag ({} left)",
                format_duration(left)
            )));
            tokio::time::sleep(left.min(Duration::from_secs(1))).await;
        }
        let last = self.read(&src, &dst).await?;
        let lag = distance(&src, last.confirmed.as_deref(), Some(&last.current)).await?;
        let sample = Sample {
            lag: if last.confirmed.is_some() {
                lag
            } else {
                u64::MAX
            },
            lag_before: distance(&src, first.confirmed.as_deref(), Some(&first.current)).await?,
            written: distance(&src, Some(&first.current), Some(&last.current)).await?,
            applied: distance(&src, first.confirmed.as_deref(), last.confirmed.as_deref()).await?,
            seconds: (last.at - first.at).as_secs_f64(),
        };
        let verdict = Verdict::from(sample);
        if let Err(refusal) = verdict.check(self.max_lag.0, self.max_catch_up.0) {
            let detached = if last.active {
                String::new()
            } else {
                format!(
                    "; no subscriber is connected to slot `{}` (hint: is {} up, and its subscription enabled?)",
                    self.subscription,
                    label(&self.target)
                )
            };
            return Err(anyhow!("{refusal}{detached}").into());
        }
        cx.report(Progress::Status(format!("ready: {}", verdict.figures())));
        let mut data = verdict.data();
        data["lsn"] = serde_json::json!(last.current);
        data["schema_checked"] = serde_json::json!(guarded > 0);
        Ok(Applied {
            data,
            ..Applied::default()
        })
    }

    // Reads only.
    fn idempotent(&self) -> bool {
        true
    }

    // Reads only: nothing to undo.
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}
