//! `rds.promote`'s lag check: before it promotes, the replica must have
//! replayed everything — read from CloudWatch's `ReplicaLag`, or, with a
//! `sql_url`, from the engine's own view of replay — waiting up to
//! `lag_timeout` for it. Writes must be frozen by then: a replica that is
//! caught up while the source still takes writes is behind again at once.

use crate::actions::shared::engine::Engine;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use anyhow::bail;

use crate::actions::shared::cloudwatch::{Metrics, Series};
use crate::actions::shared::replica_lag::LagReading;
use crate::actions::Progress;
use crate::duration::format_duration;

/// Where a lag reading comes from.
#[async_trait::async_trait(?Send)]
pub trait LagProbe {
    /// One reading; `started` is when the check began (readings from before
    /// it do not count).
    async fn read(&self, started: SystemTime) -> anyhow::Result<LagReading>;
    /// `ReplicaLag (CloudWatch)`, `the replica's replay (postgres://…)`.
    fn source(&self) -> String;
}

/// The `ReplicaLag` metric of one instance, one-minute periods, `Maximum`.
pub struct CloudWatchLag<'a, M: Metrics> {
    pub metrics: &'a M,
    pub instance: String,
}

const PERIOD: Duration = Duration::from_secs(60);

#[async_trait::async_trait(?Send)]
impl<M: Metrics> LagProbe for CloudWatchLag<'_, M> {
    async fn read(&self, started: SystemTime) -> anyhow::Result<LagReading> {
        let dimensions =
            BTreeMap::from([("DBInstanceIdentifier".to_string(), self.instance.clone())]);
        let series = Series {
            namespace: "AWS/RDS",
            dimensions: &dimensions,
            name: "ReplicaLag",
            stat: "Maximum",
            period: PERIOD,
        };
        // A datapoint counts only if its period reaches past the moment the
        // check began (writes were frozen before it): an older zero says
        // nothing about the writes made since. CloudWatch rounds the start
        // down to a period boundary, so the period holding `started` comes
        // back; half a period earlier keeps an emulator that buckets from the
        // start time as it is (moto) from cutting the same period in two.
        let since = started.checked_sub(PERIOD / 2).unwrap_or(started);
        let point = self.metrics.latest(&series, since).await?;
        Ok(match point {
            Some(p) if p.at + PERIOD > started => LagReading {
                caught_up: p.value <= 0.0,
                shown: format!("ReplicaLag {} s", p.value),
            },
            _ => LagReading {
                caught_up: false,
                shown: "no ReplicaLag datapoint since the check began".into(),
            },
        })
    }

    fn source(&self) -> String {
        format!("CloudWatch ReplicaLag of `{}`", self.instance)
    }
}

/// Polls `probe` until the replica is caught up, for at most `timeout`.
/// Returns the last reading.
pub async fn wait_caught_up(
    probe: &dyn LagProbe,
    instance: &str,
    timeout: Duration,
    every: Duration,
    report: &dyn Fn(Progress),
) -> anyhow::Result<LagReading> {
    let started = SystemTime::now();
    let clock = tokio::time::Instant::now();
    let mut last_shown = String::new();
    loop {
        let reading = probe.read(started).await?;
        if reading.caught_up {
            report(Progress::Status(format!(
                "replica `{instance}` caught up: {}",
                reading.shown
            )));
            return Ok(reading);
        }
        if reading.shown != last_shown {
            report(Progress::Status(format!(
                "replica `{instance}` not caught up yet: {} ({})",
                reading.shown,
                probe.source()
            )));
            last_shown = reading.shown.clone();
        }
        if clock.elapsed() >= timeout {
            bail!(
                "replica `{instance}` is not caught up after {}: {} ({}); not promoting — \
                 a promotion now loses what it has not replayed (hint: freeze writes on the \
                 source before this step; `force: true` promotes anyway)",
                format_duration(timeout),
                reading.shown,
                probe.source()
            );
        }
        tokio::time::sleep(
            every
                .min(timeout.saturating_sub(clock.elapsed()))
                .max(Duration::from_millis(10)),
        )
        .await;
    }
}

/// The engine's own view, through a SQL connection to the replica.
pub struct SqlLag {
    pub url: String,
}

#[async_trait::async_trait(?Send)]
impl LagProbe for SqlLag {
    async fn read(&self, _started: SystemTime) -> anyhow::Result<LagReading> {
        let url = self.url.replacen("mariadb://", "mysql://", 1);
        match Engine::of(&url) {
            Some(Engine::Postgres) => crate::actions::postgres::replica_lag::read(&url).await,
            Some(Engine::Mysql) => crate::actions::mysql::replica_lag::read(&url).await,
            None => bail!("`sql_url` must be a postgres:// or mysql:// URL"),
        }
    }

    fn source(&self) -> String {
        format!("replay on {}", crate::redact::redact_urls(&self.url))
    }
}
