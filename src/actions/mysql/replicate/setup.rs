//! `Setup`: one replication channel being created on the target at the
//! position the copy recorded, started, and watched until its threads run —
//! replaying a resumed copy idempotently first — or removed again when that fails.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use mysql_async::prelude::Queryable;

use crate::actions::mysql::channel::{
    failed, gtid_reached, literal, position_reached, ChangeMaster, ChannelStatus, Dialect,
};
use crate::actions::mysql::connect::{describe, Endpoint};
use crate::actions::mysql::position::BinlogPosition;
use crate::actions::{Progress, StepContext};

/// Where replication starts, decided from what the copy recorded.
pub struct Start {
    pub from: BinlogPosition,
    /// Replay idempotently until here (the last snapshot of a resumed copy).
    pub until: Option<BinlogPosition>,
    /// Start by GTID (MariaDB, position with a GTID) rather than file:pos.
    pub gtid: bool,
}

/// How long the threads may take to start (the step's timeout bounds the rest).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The channel being set up on the target.
pub struct Setup<'a> {
    pub dialect: Dialect,
    pub target: &'a Endpoint,
    pub channel: &'a str,
    pub wild_do: &'a str,
    pub rewrite: &'a str,
    /// The action that removes the channel, for the refusal of one pointed elsewhere.
    pub drop: &'static str,
    /// The parameter giving the sender's address as this server reaches it, for hints.
    pub address_field: &'static str,
}

impl Setup<'_> {
    async fn run(&self, dst: &mut mysql_async::Conn, sql: &str) -> anyhow::Result<()> {
        dst.query_drop(sql)
            .await
            .map_err(failed(self.target))
            .with_context(|| format!("failed to run `{sql}`"))
    }

    pub async fn exec_mode(&self, dst: &mut mysql_async::Conn) -> anyhow::Result<String> {
        let mode: Option<String> = dst
            .query_first(format!(
                "SELECT @@GLOBAL.{}",
                self.dialect.exec_mode_variable()
            ))
            .await
            .map_err(failed(self.target))?;
        Ok(mode.unwrap_or_default())
    }

    async fn set_exec_mode(&self, dst: &mut mysql_async::Conn, mode: &str) -> anyhow::Result<()> {
        let sql = format!(
            "SET GLOBAL {} = '{mode}'",
            self.dialect.exec_mode_variable()
        );
        self.run(dst, &sql).await
    }

    async fn status(&self, dst: &mut mysql_async::Conn) -> anyhow::Result<ChannelStatus> {
        self.dialect
            .status(dst, self.target, self.channel)
            .await?
            .ok_or_else(|| anyhow!("channel `{}` vanished from the target", self.channel))
    }

    /// A channel of this name is on the target already. None when it
    /// replicates from `host:port` as wanted; else whether to restart it by
    /// GTID where it stopped (an earlier attempt set it up). One replicating
    /// from elsewhere is refused.
    pub async fn restart(
        &self,
        dst: &mut mysql_async::Conn,
        status: &ChannelStatus,
        host: &str,
        port: u16,
        cx: &StepContext<'_>,
    ) -> anyhow::Result<Option<bool>> {
        if (status.host.as_str(), status.port) != (host, port) {
            return Err(anyhow!(
                "channel `{}` on the target already replicates from {}:{}, not {host}:{port}: drop it (`{}`) or choose another `channel`",
                self.channel,
                status.host,
                status.port,
                self.drop
            ));
        }
        let strict = self.exec_mode(dst).await?.eq_ignore_ascii_case("STRICT");
        if status.running()
            && strict
            && status.wild_do_table == self.wild_do
            && status.rewrite_db == self.rewrite
        {
            cx.report(Progress::Status(format!(
                "channel `{}` already replicates from {host}:{port}",
                self.channel
            )));
            return Ok(None);
        }
        cx.report(Progress::Status(format!(
            "channel `{}` exists (IO {}, SQL {}): restarting it where it stopped",
            self.channel, status.io_running, status.sql_running
        )));
        Ok(Some(status.using_gtid.eq_ignore_ascii_case("Slave_Pos")))
    }

    /// Creates the channel at the recorded position (`start` limits it to the
    /// copied database).
    pub async fn configure(
        &self,
        dst: &mut mysql_async::Conn,
        source: &Endpoint,
        host: &str,
        port: u16,
        start: &Start,
        cx: &StepContext<'_>,
    ) -> anyhow::Result<()> {
        if start.gtid {
            let gtid = start.from.gtid.as_deref().unwrap_or_default();
            self.run(
                dst,
                &format!("SET GLOBAL gtid_slave_pos = {}", literal(gtid)),
            )
            .await?;
        }
        if source.uses_iam() {
            return Err(anyhow!(
                "{} uses `auth=iam`, whose tokens expire after 15 minutes, but the channel keeps its password to reconnect for as long as it replicates (hint: give the source URL a replication user with a password)",
                source.label()
            ));
        }
        let password = source.password();
        let change = self.dialect.change_master(
            self.channel,
            &ChangeMaster {
                host,
                port,
                user: source.user(),
                password: &password,
                gtid: start.gtid,
                file: &start.from.file,
                pos: start.from.pos,
                ssl: source.tls().channel_options(self.dialect.source_word()),
            },
        );
        // Not `run`: the statement carries the password, so no message quotes it.
        if let Err(error) = dst.query_drop(change).await {
            let mut message = failed(self.target)(error).to_string();
            if !password.is_empty() {
                message = message.replace(&password, "***");
            }
            return Err(anyhow!(
                "failed to point channel `{}` at {host}:{port} as `{}`: {message}",
                self.channel,
                source.user()
            ));
        }
        cx.report(Progress::Status(format!(
            "channel `{}` → {host}:{port} from {}{}",
            self.channel,
            start.from,
            if start.gtid { " by GTID" } else { "" }
        )));
        Ok(())
    }

    /// Starts the channel (first replaying idempotently up to `until` when
    /// the copy was resumed) and waits until both threads run.
    pub async fn start(
        &self,
        dst: &mut mysql_async::Conn,
        until: Option<&BinlogPosition>,
        gtid: bool,
        host: &str,
        port: u16,
        cx: &StepContext<'_>,
    ) -> anyhow::Result<()> {
        self.run(dst, &self.dialect.stop(self.channel)).await?;
        // Only the copied database: the source's others are not on the target.
        for sql in self
            .dialect
            .filters(self.channel, self.wild_do, self.rewrite)
        {
            self.run(dst, &sql)
                .await
                .context("failed to limit the channel to the copied database")?;
        }
        if let Some(last) = until {
            if !self.passed(dst, last, gtid).await? {
                self.replay_until(dst, last, gtid, host, port, cx).await?;
            }
        }
        self.set_exec_mode(dst, "STRICT").await?;
        self.run(dst, &self.dialect.start(self.channel)).await?;
        let started = Instant::now();
        loop {
            let status = self.status(dst).await?;
            self.fail_on_errors(&status, host, port)?;
            if status.running() {
                cx.report(Progress::Status(format!(
                    "channel `{}` replicating from {host}:{port} (Seconds_Behind_Master {})",
                    self.channel,
                    status.seconds_behind_text()
                )));
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(anyhow!(
                    "channel `{}` did not start within {}s (IO thread `{}`, SQL thread `{}`): can the target reach the source at {host}:{port}? (hint: set `{}`)",
                    self.channel,
                    START_TIMEOUT.as_secs(),
                    status.io_running,
                    status.sql_running,
                    self.address_field
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A resumed copy's tables come from snapshots taken at different
    /// positions: replaying from the first one re-applies changes some tables
    /// already hold, which only `IDEMPOTENT` mode tolerates (duplicate keys
    /// and missing rows are skipped). Past the last snapshot every table is
    /// exact again, and STRICT mode catches real divergence.
    async fn replay_until(
        &self,
        dst: &mut mysql_async::Conn,
        last: &BinlogPosition,
        gtid: bool,
        host: &str,
        port: u16,
        cx: &StepContext<'_>,
    ) -> anyhow::Result<()> {
        cx.report(Progress::Status(format!(
            "the copy was resumed: replaying idempotently up to its last snapshot at {last}"
        )));
        self.set_exec_mode(dst, "IDEMPOTENT").await?;
        let until_gtid = last.gtid.as_deref().filter(|_| gtid);
        self.run(
            dst,
            &self
                .dialect
                .start_until(self.channel, until_gtid, &last.file, last.pos),
        )
        .await?;
        let mut reported = Instant::now();
        loop {
            let status = self.status(dst).await?;
            self.fail_on_errors(&status, host, port)?;
            if status.sql_stopped() {
                if self.passed(dst, last, gtid).await? {
                    self.run(dst, &self.dialect.stop(self.channel)).await?;
                    return Ok(());
                }
                return Err(anyhow!(
                    "the SQL thread of channel `{}` stopped at {}:{} before the last snapshot's position {last}",
                    self.channel,
                    status.exec_file,
                    status.exec_pos
                ));
            }
            if reported.elapsed() >= Duration::from_secs(1) {
                cx.report(Progress::Status(format!(
                    "replaying idempotently: at {}:{}, up to {last}",
                    status.exec_file, status.exec_pos
                )));
                reported = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The channel's SQL thread has executed `last`.
    async fn passed(
        &self,
        dst: &mut mysql_async::Conn,
        last: &BinlogPosition,
        gtid: bool,
    ) -> anyhow::Result<bool> {
        if let (true, Some(goal)) = (gtid, last.gtid.as_deref()) {
            let at: Option<String> = dst
                .query_first("SELECT @@GLOBAL.gtid_slave_pos")
                .await
                .map_err(failed(self.target))?;
            return Ok(gtid_reached(&at.unwrap_or_default(), goal));
        }
        let status = self.status(dst).await?;
        Ok(!status.exec_file.is_empty()
            && position_reached((&status.exec_file, status.exec_pos), (&last.file, last.pos)))
    }

    fn fail_on_errors(&self, status: &ChannelStatus, host: &str, port: u16) -> anyhow::Result<()> {
        if !status.sql_error.is_empty() {
            return Err(anyhow!(
                "the SQL thread of channel `{}` stopped: {}",
                self.channel,
                status.sql_error
            ));
        }
        if !status.io_error.is_empty() {
            return Err(anyhow!(
                "the target cannot read the source's binary log (IO thread `{}`): {} (hint: can the target reach the source at {host}:{port} with the source URL's user and password? set `{}` to the address the target uses)",
                status.io_running,
                status.io_error,
                self.address_field
            ));
        }
        Ok(())
    }

    /// After a failed start: no half-made channel stays behind, and
    /// `slave_exec_mode` is STRICT again.
    pub async fn clean_up(&self, dst: &mut mysql_async::Conn, cx: &StepContext<'_>) {
        let _ = dst.query_drop(self.dialect.stop(self.channel)).await;
        let reset = dst.query_drop(self.dialect.reset_all(self.channel)).await;
        let _ = self.set_exec_mode(dst, "STRICT").await;
        cx.report(Progress::Status(match reset {
            Ok(()) => format!(
                "replication did not start: channel `{}` removed",
                self.channel
            ),
            Err(error) => format!(
                "replication did not start, and removing channel `{}` failed too: {}",
                self.channel,
                describe(&error)
            ),
        }));
    }
}
