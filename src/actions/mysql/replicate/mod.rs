//! `mysql.replicate`: binlog replication source → target from the position `mysql.copy` recorded on the
//! target. Checks the prerequisites first and says how to fix each one missing,
//! points a named channel at the source (GTID where the servers have it), and
//! waits until its threads run. A copy resumed from several snapshots is
//! replayed idempotently up to the last snapshot, strictly after it. Its
//! inverse is `mysql.drop_replication`.

mod prerequisites;
pub(in crate::actions::mysql) mod setup;

pub(in crate::actions::mysql) use self::prerequisites::{replication_grant, Sender};

use std::sync::Arc;

use anyhow::anyhow;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

use self::setup::{Setup, Start};
use super::channel::{
    binary_logs, channel_name, default_channel, wild_do_pattern, ChannelStatus, Dialect,
};
use super::connect::{label, Endpoint};
use super::drop_replication::DropReplication;
use super::position::{self, BinlogPosition, RecordedCopy};
use crate::actions::{
    descriptor, Action, ActionFailure, ActionRef, Applied, Descriptor, StepContext,
};

/// Parameters of `mysql.replicate`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Replicate {
    /// `mysql://user:password@host:port/db` of the source; its user and
    /// password are the replication account (`REPLICATION SLAVE`).
    pub source: String,
    /// The target, naming the database `mysql.copy` copied.
    pub target: String,
    /// The replication channel (MariaDB connection name) on the target (default `cutover`).
    #[serde(default = "default_channel", deserialize_with = "channel_name")]
    pub channel: String,
    /// `host:port` of the source as the target reaches it (default: the source URL's).
    #[serde(default, deserialize_with = "address")]
    pub source_address: Option<String>,
}

pub(in crate::actions::mysql) fn address<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(deserializer)?;
    split_address(&text, 3306)
        .map(|_| Some(text.clone()))
        .map_err(serde::de::Error::custom)
}

/// The sender as the replica reaches it: `address` (`host[:port]`, the
/// URL's port by default) when given, else the URL's host and port.
pub(in crate::actions::mysql) fn sender_address(
    sender: &Endpoint,
    address: Option<&str>,
) -> anyhow::Result<(String, u16)> {
    match address {
        Some(text) => split_address(text, sender.port()).map_err(|e| anyhow!(e)),
        None => Ok((sender.host(), sender.port())),
    }
}

/// `host`, `host:port` or `[v6]:port` → (host, port).
fn split_address(text: &str, default_port: u16) -> Result<(String, u16), String> {
    let bad = || format!("expected `host:port` (or `host`), found `{text}`");
    let (host, port) = match text.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            (host, after.strip_prefix(':'))
        }
        None => match text.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host, Some(port)),
            _ => (text, None),
        },
    };
    let port = match port {
        Some(port) => port.parse().map_err(|_| bad())?,
        None => default_port,
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

impl Replicate {
    /// A channel of this name is on the target already. None when it
    /// replicates as wanted; else how to restart it where it stopped (an
    /// earlier attempt set it up): up to which position idempotently, by GTID.
    #[allow(clippy::too_many_arguments)]
    async fn restart(
        &self,
        setup: &Setup<'_>,
        dst: &mut mysql_async::Conn,
        status: &ChannelStatus,
        host: &str,
        port: u16,
        recorded: Option<&RecordedCopy>,
        cx: &StepContext<'_>,
    ) -> anyhow::Result<Option<(Option<BinlogPosition>, bool)>> {
        let Some(gtid) = setup.restart(dst, status, host, port, cx).await? else {
            return Ok(None);
        };
        // Not back to the copy's position: that would replay changes twice.
        let until = recorded
            .filter(|r| r.first != r.last)
            .and_then(|r| r.last.clone());
        Ok(Some((until, gtid)))
    }

    /// Every missing prerequisite, each with its fix, in one error; else where to start.
    async fn check(
        &self,
        src: &mut mysql_async::Conn,
        source: &Endpoint,
        dst: &mut mysql_async::Conn,
        target: &Endpoint,
        dialect: &Dialect,
        recorded: Option<&RecordedCopy>,
    ) -> anyhow::Result<Start> {
        let db = target.db();
        let mut problems = Vec::new();
        let sender = Sender::read(src, source, dst, target, dialect).await?;
        let log_bin = sender.log_bin;
        let first = recorded.and_then(|r| r.first.clone());
        match (recorded, log_bin, &first) {
            (None, _, _) => problems.push(format!(
                "the target has no record of a `mysql.copy` of `{db}`, so there is no position to start from: copy with `mysql.copy` first (replication starts where its snapshot was taken)"
            )),
            (Some(_), false, None) => problems.push(format!(
                "the source has no binary log (`log_bin` is OFF) and had none when `{db}` was copied, so there is no position to replicate from: enable it in the source's configuration (`log_bin`, `binlog_format = ROW`, a unique `server_id`), restart the source, and run `mysql.copy` again"
            )),
            (Some(_), true, None) => problems.push(format!(
                "the source had no binary log (`log_bin` OFF) when `{db}` was copied, so the copy recorded no position to replicate from: run `mysql.copy` again now that `log_bin` is on"
            )),
            (Some(_), false, Some(_)) => problems.push(format!(
                "the source's binary log is off now (`log_bin` is OFF; it was on when `{db}` was copied): turn `log_bin` back on in its configuration, restart it, and run `mysql.copy` again (writes made meanwhile were not logged)"
            )),
            (Some(_), true, Some(_)) => {}
        }
        if let Some(copy) = recorded {
            if !copy.done {
                problems.push(format!(
                    "the copy of `{db}` on the target did not finish: run `mysql.copy` again (it resumes), then replicate"
                ));
            }
            let server = |label: &str| {
                label
                    .split_once('@')
                    .map(|(_, s)| s.to_string())
                    .unwrap_or_default()
            };
            if server(&copy.source) != server(source.label()) {
                problems.push(format!(
                    "`{db}` on the target was copied from {}, not from {}: replicate from the server that was copied (the same URL), or copy again",
                    copy.source,
                    source.label()
                ));
            }
        }
        problems.extend(sender.problems());
        if log_bin {
            match binary_logs(src, source).await {
                Ok(logs) => {
                    let recorded_files = [first.as_ref(), recorded.and_then(|r| r.last.as_ref())];
                    for position in recorded_files.into_iter().flatten() {
                        if !logs.iter().any(|(file, _)| file == &position.file) {
                            let kept = match (logs.first(), logs.last()) {
                                (Some(a), Some(b)) => format!("it keeps {} … {}", a.0, b.0),
                                _ => "it lists none".to_string(),
                            };
                            problems.push(format!(
                                "the binary log at the recorded position, `{}` (position {position}), was purged from the source ({kept}), so the changes since the copy are gone: raise `binlog_expire_logs_seconds` (MariaDB ≤ 10.5, MySQL 5.7: `expire_logs_days`) on the source so logs outlive the copy, and run `mysql.copy` again",
                                position.file
                            ));
                            break;
                        }
                    }
                }
                Err(error) => problems.push(format!(
                    "cannot list the source's binary logs ({error:#}): `GRANT BINLOG MONITOR ON *.* TO` the source user (MySQL: `REPLICATION CLIENT`)"
                )),
            }
        }
        if let Some(problem) = replication_grant(src, source).await? {
            problems.push(problem);
        }
        if !problems.is_empty() {
            return Err(anyhow!(
                "binlog replication cannot start:\n  - {}",
                problems.join("\n  - ")
            ));
        }
        let from = first.ok_or_else(|| anyhow!("no recorded position"))?;
        let last = recorded.and_then(|r| r.last.clone());
        let until = last.filter(|last| *last != from);
        let has_gtid = |p: &BinlogPosition| p.gtid.as_deref().is_some_and(|g| !g.is_empty());
        let gtid = dialect.mariadb && has_gtid(&from) && until.as_ref().is_none_or(has_gtid);
        Ok(Start { from, until, gtid })
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "mysql.replicate",
    Replicate,
    "binlog replication source → target from the position mysql.copy recorded (GTID where the servers have it)"
);

#[async_trait(?Send)]
impl Action for Replicate {
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
            "replicate {} to {} (binlog, channel `{}`)",
            label(&self.source),
            label(&self.target),
            self.channel
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let source = Endpoint::parse(&self.source)?;
        let target = Endpoint::parse(&self.target)?;
        let db = target.db().to_string();
        if db.is_empty() {
            return Err(anyhow!(
                "the target URL names no database: name the one `mysql.copy` copied ({}/DB)",
                target.label().trim_end_matches('/')
            )
            .into());
        }
        let source_db = match source.db() {
            "" => db.clone(),
            name => name.to_string(),
        };
        let (host, port) = sender_address(&source, self.source_address.as_deref())?;
        let target_admin = target.without_db();
        // The replication account needs no rights on the source's database.
        let source_admin = source.without_db();
        let (mut src, mut dst) = tokio::try_join!(source_admin.connect(), target_admin.connect())?;
        let dialect = Dialect::detect(&mut dst, &target).await?;
        Dialect::plain_escapes(&mut dst, &target).await?;
        let recorded = position::recorded(&mut dst, &target, &db).await?;
        let wild_do = wild_do_pattern(&db);
        let rewrite = if source_db == db {
            String::new()
        } else {
            format!("{source_db}->{db}")
        };
        let setup = Setup {
            dialect,
            target: &target,
            channel: &self.channel,
            wild_do: &wild_do,
            rewrite: &rewrite,
            drop: super::drop_replication::DESCRIPTOR.name,
            address_field: "source_address",
        };
        let existing = dialect.status(&mut dst, &target, &self.channel).await?;
        let (until, gtid, from) = match &existing {
            Some(status) => match self
                .restart(&setup, &mut dst, status, &host, port, recorded.as_ref(), cx)
                .await?
            {
                Some((until, gtid)) => (until, gtid, None),
                None => {
                    return Ok(applied(
                        &self.channel,
                        &source,
                        &host,
                        port,
                        None,
                        None,
                        true,
                    ))
                }
            },
            None => {
                let start = self
                    .check(
                        &mut src,
                        &source,
                        &mut dst,
                        &target,
                        &dialect,
                        recorded.as_ref(),
                    )
                    .await?;
                setup
                    .configure(&mut dst, &source, &host, port, &start, cx)
                    .await?;
                (start.until, start.gtid, Some(start.from))
            }
        };
        let started = setup
            .start(&mut dst, until.as_ref(), gtid, &host, port, cx)
            .await;
        if let Err(error) = started {
            setup.clean_up(&mut dst, cx).await;
            return Err(error.into());
        }
        Ok(applied(
            &self.channel,
            &source,
            &host,
            port,
            from,
            until,
            false,
        ))
    }

    fn inverse(&self) -> Option<ActionRef> {
        Some(Arc::new(DropReplication {
            source: self.source.clone(),
            target: self.target.clone(),
            channel: self.channel.clone(),
        }))
    }

    // Finds the channel an earlier attempt set up and goes on.
    fn idempotent(&self) -> bool {
        true
    }

    // `mysql.drop_replication` stops and removes the channel however far its setup got.
    fn undoes_partial_failure(&self) -> bool {
        true
    }
}

fn applied(
    channel: &str,
    source: &Endpoint,
    host: &str,
    port: u16,
    from: Option<BinlogPosition>,
    until: Option<BinlogPosition>,
    already: bool,
) -> Applied {
    Applied {
        data: serde_json::json!({
            "channel": channel,
            "source": source.label(),
            "address": format!("{host}:{port}"),
            "from": from.map(|p| p.to_string()),
            "idempotent_until": until.map(|p| p.to_string()),
            "already_replicating": already,
        }),
        ..Applied::default()
    }
}

#[cfg(test)]
mod tests {
    use super::split_address;

    #[test]
    fn addresses_split_into_host_and_port() {
        assert_eq!(split_address("db:3307", 1), Ok(("db".into(), 3307)));
        assert_eq!(split_address("db", 3306), Ok(("db".into(), 3306)));
        assert_eq!(split_address("[::1]:3310", 1), Ok(("::1".into(), 3310)));
        assert!(split_address("db:port", 1).is_err());
        assert!(split_address(":3306", 1).is_err());
    }
}
