//! `mysql.ready`: a read-only gate right before the freeze. Reads the
//! channel's executed position against the source's binary log end twice,
//! `sample` apart, and fails when the lag (bytes of binary log not executed
//! yet) or the catch-up predicted after a freeze is over its limit, or when
//! a replication thread is stopped — while the application can still write.

use std::time::{Duration, Instant};

use anyhow::anyhow;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::channel::{
    binary_logs, binlog_distance, channel_name, default_channel, ChannelStatus, Dialect,
};
use super::connect::{label, Endpoint};
use super::position::{self, BinlogPosition};
use super::session::connect_pinned;
use crate::actions::shared::readiness::{
    default_max_catch_up, default_max_lag, default_sample, Sample, Verdict,
};
use crate::actions::shared::units::{human_bytes, ByteSize};
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};
use crate::duration::{format_duration, DurationText};

/// Parameters of `mysql.ready`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ready {
    /// The source.
    pub source: String,
    /// The replica.
    pub target: String,
    /// The replication channel (default `cutover`).
    #[serde(default = "default_channel", deserialize_with = "channel_name")]
    pub channel: String,
    /// Binary log the replica may not have executed yet at the end of the sample (default `64MB`).
    #[serde(default = "default_max_lag")]
    pub max_lag: ByteSize,
    /// Longest catch-up predicted after a freeze: lag ÷ apply rate (default `30s`).
    #[serde(default = "default_max_catch_up")]
    pub max_catch_up: DurationText,
    /// How long to measure the apply rate over (default `5s`).
    #[serde(default = "default_sample")]
    pub sample: DurationText,
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "mysql.ready",
    Ready,
    "check before the freeze: replication running, lag and predicted catch-up within limits"
);

/// One reading: the source's binary log end, the channel's state, and the
/// source's binary logs (to measure across files).
struct Reading {
    at: Instant,
    end: BinlogPosition,
    status: ChannelStatus,
    logs: Vec<(String, u64)>,
}

impl Ready {
    async fn read(
        &self,
        src: &mut mysql_async::Conn,
        dst: &mut mysql_async::Conn,
        source: &Endpoint,
        target: &Endpoint,
        dialect: Dialect,
    ) -> anyhow::Result<Reading> {
        let status = dialect
            .status(dst, target, &self.channel)
            .await?
            .ok_or_else(|| {
                anyhow!(
                    "the target has no replication channel `{}` (hint: run `mysql.replicate` first)",
                    self.channel
                )
            })?;
        let end = position::current(src, source).await?.ok_or_else(|| {
            anyhow!("the source has no binary log (`log_bin` is OFF): there is no replication to measure")
        })?;
        let logs = binary_logs(src, source).await?;
        Ok(Reading {
            at: Instant::now(),
            end,
            status,
            logs,
        })
    }

    /// Bytes between two positions of the source's binary log.
    fn distance(
        &self,
        logs: &[(String, u64)],
        from: (&str, u64),
        to: (&str, u64),
    ) -> anyhow::Result<u64> {
        binlog_distance(logs, from, to).ok_or_else(|| {
            anyhow!(
                "cannot measure the lag on channel `{}`: binary log {} or {} is not among the source's (`SHOW BINARY LOGS`; purged, or the channel reads another server?)",
                self.channel,
                from.0,
                to.0
            )
        })
    }
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
            "check that {} is ready to take over from {} (channel `{}`, lag at most {}, catch-up after freeze at most {}, sampled over {})",
            label(&self.target),
            label(&self.source),
            self.channel,
            human_bytes(self.max_lag.0),
            format_duration(self.max_catch_up.0),
            format_duration(self.sample.0)
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let source = Endpoint::parse(&self.source)?.without_db();
        let target = Endpoint::parse(&self.target)?.without_db();
        let (mut src, mut dst) =
            tokio::try_join!(connect_pinned(&source), connect_pinned(&target))?;
        let dialect = Dialect::detect(&mut dst, &target).await?;
        let first = self
            .read(&mut src, &mut dst, &source, &target, dialect)
            .await?;
        let started = Instant::now();
        while started.elapsed() < self.sample.0 {
            let left = self.sample.0.saturating_sub(started.elapsed());
            cx.report(Progress::Status(format!(
                "sampling the lag ({} left)",
                format_duration(left)
            )));
            tokio::time::sleep(left.min(Duration::from_secs(1))).await;
        }
        let last = self
            .read(&mut src, &mut dst, &source, &target, dialect)
            .await?;
        let executed = |r: &Reading| (r.status.exec_file.clone(), r.status.exec_pos);
        let (first_exec, last_exec) = (executed(&first), executed(&last));
        let logs = &last.logs;
        let sample = Sample {
            lag: self.distance(
                logs,
                (&last_exec.0, last_exec.1),
                (&last.end.file, last.end.pos),
            )?,
            lag_before: self.distance(
                logs,
                (&first_exec.0, first_exec.1),
                (&first.end.file, first.end.pos),
            )?,
            written: self.distance(
                logs,
                (&first.end.file, first.end.pos),
                (&last.end.file, last.end.pos),
            )?,
            applied: self.distance(
                logs,
                (&first_exec.0, first_exec.1),
                (&last_exec.0, last_exec.1),
            )?,
            seconds: (last.at - first.at).as_secs_f64(),
        };
        let verdict = Verdict::from(sample);
        let behind = last.status.seconds_behind_text();
        // A stopped thread never catches up, whatever the figures say now.
        let stopped = if last.status.sql_stopped() {
            Some(format!(
                "the SQL thread of channel `{}` is stopped{}",
                self.channel,
                error_text(&last.status.sql_error)
            ))
        } else if last.status.io_stopped() {
            Some(format!(
                "the IO thread of channel `{}` is stopped{}",
                self.channel,
                error_text(&last.status.io_error)
            ))
        } else {
            None
        };
        let against = verdict.against(self.max_lag.0, self.max_catch_up.0);
        if let Some(stopped) = stopped {
            return Err(anyhow!(
                "replication not ready: {stopped} (hint: `START SLAVE '{}'` on the target); {against}; Seconds_Behind_Master {behind}",
                self.channel
            )
            .into());
        }
        if !verdict.within(self.max_lag.0, self.max_catch_up.0) {
            return Err(anyhow!(
                "replication not ready: {against}; Seconds_Behind_Master {behind}"
            )
            .into());
        }
        cx.report(Progress::Status(format!(
            "ready: {}; Seconds_Behind_Master {behind}",
            verdict.figures()
        )));
        let mut data = verdict.data();
        data["position"] = serde_json::json!(last.end.to_string());
        data["seconds_behind"] = serde_json::json!(last.status.seconds_behind);
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

fn error_text(error: &str) -> String {
    if error.is_empty() {
        String::new()
    } else {
        format!(": {error}")
    }
}
