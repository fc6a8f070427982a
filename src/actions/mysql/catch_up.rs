//! `mysql.catch_up`: waits until the replica has executed the source's
//! current binlog position (or is within `max_lag` bytes of it), showing the
//! lag; fails at once when a replication thread stops with an error, and on
//! timeout.

use std::time::{Duration, Instant};

use anyhow::anyhow;
use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use schemars::JsonSchema;
use serde::Deserialize;

use super::channel::{
    binary_logs, binlog_distance, channel_name, default_channel, failed, gtid_behind,
    ChannelStatus, Dialect,
};
use super::connect::{label, Endpoint};
use super::position::{self, BinlogPosition};
use super::session::connect_pinned;
use crate::actions::shared::units::human_bytes;
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};
use crate::duration::{format_duration, DurationText};

/// Parameters of `mysql.catch_up`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CatchUp {
    /// The source.
    pub source: String,
    /// The replica.
    pub target: String,
    /// The replication channel (default `cutover`).
    #[serde(default = "default_channel", deserialize_with = "channel_name")]
    pub channel: String,
    /// Bytes of binary log the replica may still be behind (default 0: it has
    /// executed the source's position).
    #[serde(default)]
    pub max_lag: u64,
    /// Give up after this long (default `5m`).
    #[serde(
        default = "default_timeout",
        deserialize_with = "crate::duration::positive"
    )]
    pub timeout: DurationText,
}

fn default_timeout() -> DurationText {
    DurationText(Duration::from_secs(300))
}

/// How long one server-side wait lasts, so progress and errors show between waits.
const SLICE: Duration = Duration::from_millis(500);

/// The position to reach, and how the replica tells it has.
struct Goal {
    dialect: Dialect,
    position: BinlogPosition,
    /// MariaDB GTID position to wait for; None: wait for file:pos.
    gtid: Option<String>,
}

impl CatchUp {
    /// Waits up to `seconds` on the target until its SQL thread has executed the goal.
    async fn reached(
        &self,
        dst: &mut mysql_async::Conn,
        target: &Endpoint,
        goal: &Goal,
        seconds: f64,
    ) -> anyhow::Result<bool> {
        let sql = match &goal.gtid {
            Some(gtid) => format!(
                "SELECT MASTER_GTID_WAIT({}, {seconds:.3})",
                super::channel::literal(gtid)
            ),
            None => goal.dialect.pos_wait(
                &self.channel,
                &goal.position.file,
                goal.position.pos,
                seconds,
            ),
        };
        let result: Option<Option<i64>> = dst.query_first(sql).await.map_err(failed(target))?;
        // GTID wait: 0 reached, -1 timed out; position wait: events waited, -1, or NULL.
        Ok(match (&goal.gtid, result.flatten()) {
            (Some(_), Some(0)) => true,
            (None, Some(n)) => n >= 0,
            _ => false,
        })
    }

    /// What the replica has executed, for messages.
    async fn executed(
        &self,
        dst: &mut mysql_async::Conn,
        target: &Endpoint,
        status: &ChannelStatus,
        goal: &Goal,
    ) -> anyhow::Result<String> {
        let mut text = format!(
            "Seconds_Behind_Master {}, executed {}:{}",
            status.seconds_behind_text(),
            status.exec_file,
            status.exec_pos
        );
        if goal.gtid.is_some() {
            let at: Option<String> = dst
                .query_first("SELECT @@GLOBAL.gtid_slave_pos")
                .await
                .map_err(failed(target))?;
            text.push_str(&format!(" (GTID {})", at.unwrap_or_default()));
        }
        Ok(text)
    }

    /// A replication thread that has stopped: the step cannot succeed.
    /// `behind` says how far behind the replica is — what a go-back relying
    /// on this channel would lose.
    fn broken(&self, status: &ChannelStatus, goal: &Goal, behind: &str) -> Option<anyhow::Error> {
        let channel = &self.channel;
        let (thread, error) = if status.sql_stopped() {
            ("SQL", &status.sql_error)
        } else if status.io_stopped() {
            ("IO", &status.io_error)
        } else {
            return None;
        };
        let restart = goal.dialect.start(channel);
        Some(match error.as_str() {
            "" => anyhow!("the {thread} thread of channel `{channel}` is stopped; {behind} (hint: `{restart}` on the target, or run `mysql.replicate` — `mysql.reverse_replicate` for a reverse channel — again)"),
            error => anyhow!("the {thread} thread of channel `{channel}` stopped: {error}; {behind}"),
        })
    }

    /// How far behind the goal the replica is: bytes of binary log and, by
    /// GTID, transactions.
    async fn behind(
        &self,
        dst: &mut mysql_async::Conn,
        target: &Endpoint,
        goal: &Goal,
        lag: Option<u64>,
        executed: &str,
    ) -> anyhow::Result<String> {
        let mut text = format!(
            "the replica is {} of binary log behind {} ({executed}",
            lag_text(lag),
            goal.position
        );
        if let Some(wanted) = &goal.gtid {
            let at: Option<String> = dst
                .query_first("SELECT @@GLOBAL.gtid_slave_pos")
                .await
                .map_err(failed(target))?;
            let missing = gtid_behind(&at.unwrap_or_default(), wanted);
            text.push_str(&format!("; {missing} transaction(s) behind by GTID"));
        }
        text.push(')');
        if lag != Some(0) {
            text.push_str(": the source's writes since then are not on the replica");
        }
        Ok(text)
    }

    fn done(
        &self,
        cx: &StepContext<'_>,
        goal: &Goal,
        lag: Option<u64>,
        started: Instant,
    ) -> Applied {
        cx.report(Progress::Status(format!(
            "caught up: lag {} behind {} after {:.2} s",
            lag_text(lag),
            goal.position,
            started.elapsed().as_secs_f64()
        )));
        Applied {
            data: serde_json::json!({
                "position": goal.position.to_string(),
                "gtid": goal.gtid,
                "lag_bytes": lag,
                "waited_ms": started.elapsed().as_millis() as u64,
            }),
            ..Applied::default()
        }
    }

    /// The wait itself; `apply` bounds it with `timeout`.
    async fn wait(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let source = Endpoint::parse(&self.source)?;
        let target = Endpoint::parse(&self.target)?;
        let target_admin = target.without_db();
        // The replication account needs no rights on the source's database.
        let source_admin = source.without_db();
        let (mut src, mut dst) =
            tokio::try_join!(connect_pinned(&source_admin), connect_pinned(&target_admin))?;
        let dialect = Dialect::detect(&mut dst, &target).await?;
        let status = dialect
            .status(&mut dst, &target, &self.channel)
            .await?
            .ok_or_else(|| {
                anyhow!(
                    "the target has no replication channel `{}` (hint: run `mysql.replicate` first; in reverse, `mysql.reverse_replicate`)",
                    self.channel
                )
            })?;
        // The position to reach: the source's binlog end when the wait starts.
        let position = position::current(&mut src, &source).await?.ok_or_else(|| {
            anyhow!("the source has no binary log (`log_bin` is OFF): there is nothing to catch up with")
        })?;
        let gtid = position
            .gtid
            .clone()
            .filter(|g| !g.is_empty())
            .filter(|_| dialect.mariadb && !status.using_gtid.eq_ignore_ascii_case("No"));
        let goal = Goal {
            dialect,
            position,
            gtid,
        };
        let started = Instant::now();
        let mut first_lag = None;
        let mut previous: Option<(Instant, u64)> = None;
        let mut last_report = Instant::now() - Duration::from_secs(1);
        loop {
            let status = dialect
                .status(&mut dst, &target, &self.channel)
                .await?
                .ok_or_else(|| anyhow!("channel `{}` vanished from the target", self.channel))?;
            let logs = binary_logs(&mut src, &source).await.unwrap_or_default();
            let lag = binlog_distance(
                &logs,
                (&status.exec_file, status.exec_pos),
                (&goal.position.file, goal.position.pos),
            );
            let executed = self.executed(&mut dst, &target, &status, &goal).await?;
            if let Some(lag) = lag {
                let first = *first_lag.get_or_insert(lag);
                cx.report(Progress::Amount {
                    done: first.saturating_sub(lag),
                    total: Some(first.max(1)),
                    unit: "bytes",
                });
            }
            let trend = trend(previous, lag);
            let within = self.max_lag > 0 && lag.is_some_and(|lag| lag <= self.max_lag);
            if within {
                return Ok(self.done(cx, &goal, lag, started));
            }
            if status.sql_stopped() || status.io_stopped() {
                // A thread that stopped after executing the goal is not in the way.
                if self.max_lag == 0 && self.reached(&mut dst, &target, &goal, 0.0).await? {
                    return Ok(self.done(cx, &goal, lag, started));
                }
                let behind = self
                    .behind(&mut dst, &target, &goal, lag, &executed)
                    .await?;
                if let Some(error) = self.broken(&status, &goal, &behind) {
                    return Err(error.into());
                }
            }
            let elapsed = started.elapsed();
            if elapsed >= self.timeout.0 {
                return Err(anyhow!(
                    "the replica is still {} behind {} after {} ({}; {trend}; max_lag {})",
                    lag_text(lag),
                    goal.position,
                    format_duration(self.timeout.0),
                    executed,
                    human_bytes(self.max_lag)
                )
                .into());
            }
            if last_report.elapsed() >= Duration::from_secs(1) {
                let io = if status.io_error.is_empty() {
                    String::new()
                } else {
                    format!("; IO thread `{}`: {}", status.io_running, status.io_error)
                };
                cx.report(Progress::Status(format!(
                    "lag {} behind {} ({executed}; {trend}{io})",
                    lag_text(lag),
                    goal.position
                )));
                last_report = Instant::now();
                previous = lag.map(|lag| (Instant::now(), lag));
            }
            if previous.is_none() {
                previous = lag.map(|lag| (Instant::now(), lag));
            }
            let slice = SLICE.min(self.timeout.0 - elapsed);
            if self.max_lag == 0 {
                // Returns as soon as the replica gets there.
                if self
                    .reached(&mut dst, &target, &goal, slice.as_secs_f64())
                    .await?
                {
                    return Ok(self.done(cx, &goal, Some(0), started));
                }
            } else {
                tokio::time::sleep(slice.min(Duration::from_millis(200))).await;
            }
        }
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "mysql.catch_up",
    CatchUp,
    "wait until the replica has executed the source's current binlog position"
);

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
            "wait until {} has caught up with {} (channel `{}`, lag at most {}, {} at most)",
            label(&self.target),
            label(&self.source),
            self.channel,
            human_bytes(self.max_lag),
            format_duration(self.timeout.0)
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        // `timeout` holds while a server does not answer too (a replica that
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

/// Falling or rising, from the last reading.
fn trend(previous: Option<(Instant, u64)>, lag: Option<u64>) -> String {
    match (previous, lag) {
        (Some((at, before)), Some(lag)) if at.elapsed() > Duration::ZERO => {
            let rate = (before as f64 - lag as f64) / at.elapsed().as_secs_f64();
            if rate > 0.0 {
                format!("falling {}/s", human_bytes(rate as u64))
            } else if rate < 0.0 {
                format!("RISING {}/s", human_bytes(-rate as u64))
            } else {
                "steady".to_string()
            }
        }
        (_, None) => "lag in bytes unknown".to_string(),
        _ => "first reading".to_string(),
    }
}

fn lag_text(lag: Option<u64>) -> String {
    lag.map(human_bytes)
        .unwrap_or_else(|| "an unknown amount".into())
}
