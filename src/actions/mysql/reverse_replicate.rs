//! `mysql.reverse_replicate`: binlog replication from the new primary (the
//! cutover's target) back to the old one (its source), started inside the
//! freeze from the new server's binlog position — its GTID position on
//! MariaDB — so that going back after the swap loses no write. The old server
//! stays frozen for the application (`read_only` stays on; replication threads
//! are not bound by it). The same checks as `mysql.replicate`, in reverse, and
//! a loop refused. Its inverse is `mysql.drop_reverse_replication`.

use std::sync::Arc;

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use schemars::JsonSchema;
use serde::Deserialize;

use super::channel::{channel_name, failed, gtid_behind_in_a_domain, wild_do_pattern, Dialect};
use super::connect::{label, Endpoint};
use super::drop_reverse_replication::{
    default_reverse_channel, DropReverseReplication, NOTE_ADDRESS, NOTE_CHANNEL,
};
use super::position::{self, BinlogPosition};
use super::replicate::setup::{Setup, Start};
use super::replicate::{address, replication_grant, sender_address, Sender};
use crate::actions::{
    descriptor, Action, ActionFailure, ActionRef, Applied, Descriptor, Progress, StepContext,
};

/// Parameters of `mysql.reverse_replicate`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReverseReplicate {
    /// The cutover's source: the old primary, frozen by `mysql.read_only`,
    /// which receives; the URL names its database.
    pub source: String,
    /// The cutover's target: the new primary, which sends. Its user and
    /// password are the replication account on it (`REPLICATION SLAVE`).
    pub target: String,
    /// The replication channel (MariaDB connection name) on the source
    /// (default `cutover_reverse`).
    #[serde(default = "default_reverse_channel", deserialize_with = "channel_name")]
    pub channel: String,
    /// `host:port` of the target as the source server reaches it (default: the target URL's).
    #[serde(default, deserialize_with = "address")]
    pub target_address: Option<String>,
}

/// The old and the new server, connected, with what the channel needs.
struct Sides {
    old: Endpoint,
    new: Endpoint,
    host: String,
    port: u16,
    /// The database on the old server, and the new server's when it differs.
    db: String,
    new_db: String,
}

impl ReverseReplicate {
    fn sides(&self) -> anyhow::Result<Sides> {
        let old = Endpoint::parse(&self.source)?;
        let new = Endpoint::parse(&self.target)?;
        let db = old.db().to_string();
        if db.is_empty() {
            return Err(anyhow!(
                "the source URL names no database: name the one the cutover moves ({}/DB), the only one replicated back",
                old.label().trim_end_matches('/')
            ));
        }
        let new_db = match new.db() {
            "" => db.clone(),
            name => name.to_string(),
        };
        let (host, port) = sender_address(&new, self.target_address.as_deref())?;
        Ok(Sides {
            old,
            new,
            host,
            port,
            db,
            new_db,
        })
    }

    /// Every missing prerequisite in one error; else where to start: the
    /// new server's binlog position now, while nobody writes to it.
    async fn check(
        &self,
        new_conn: &mut mysql_async::Conn,
        old_conn: &mut mysql_async::Conn,
        sides: &Sides,
        dialect: &Dialect,
        cx: &StepContext<'_>,
    ) -> anyhow::Result<Start> {
        let (old, new) = (&sides.old, &sides.new);
        refuse_a_loop(new_conn, new).await?;
        let sender = Sender::read(new_conn, new, old_conn, old, dialect).await?;
        let mut problems = Vec::new();
        if !sender.log_bin {
            problems.push(

                "the target has no binary log (`log_bin` is OFF), so nothing it takes could flow back: enable it in the target's configuration (`log_bin`, `binlog_format = ROW`, a unique `server_id`) and restart it — before the freeze (writes made without it cannot be sent back)".to_string(),
            );
        }
        problems.extend(sender.problems());
        if let Some(problem) = replication_grant(new_conn, new).await? {
            problems.push(problem);
        }
        let check = || {
            format!(
                "in reverse, the sender (\"source\" above) is the new primary {} and the replica (\"target\") the old one {}",
                new.label(),
                old.label()
            )
        };
        if !problems.is_empty() {
            return Err(anyhow!(
                "reverse binlog replication cannot start:\n  - {}",
                problems.join("\n  - ")
            ))
            .with_context(check);
        }
        let from = position::current(new_conn, new)
            .await?
            .ok_or_else(|| anyhow!("the target writes no binary log"))?;
        let by_gtid = match from.gtid.as_deref().filter(|g| !g.is_empty()) {
            Some(gtid) if dialect.mariadb => strict_mode_allows(old_conn, old, gtid, cx).await?,
            _ => false,
        };
        Ok(Start {
            gtid: by_gtid,
            from,
            until: None,
        })
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "mysql.reverse_replicate",
    ReverseReplicate,
    "inside the freeze, replicate the new primary back to the old one (kept frozen for the application) so going back loses no write"
);

#[async_trait(?Send)]
impl Action for ReverseReplicate {
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
            "replicate {} back to {} (binlog, channel `{}`, from the target's position now); {} stays frozen for the application",
            label(&self.target),
            label(&self.source),
            self.channel,
            label(&self.source)
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let sides = self.sides()?;
        let (old, new) = (&sides.old, &sides.new);
        let (old_admin, new_admin) = (old.without_db(), new.without_db());
        let (mut old_conn, mut new_conn) =
            tokio::try_join!(old_admin.connect(), new_admin.connect())?;
        let dialect = Dialect::detect(&mut old_conn, old).await?;
        Dialect::plain_escapes(&mut old_conn, old).await?;
        refuse_unfrozen(&mut old_conn, old).await?;
        let wild_do = wild_do_pattern(&sides.db);
        let rewrite = if sides.new_db == sides.db {
            String::new()
        } else {
            format!("{}->{}", sides.new_db, sides.db)
        };
        let setup = Setup {
            dialect,
            target: old,
            channel: &self.channel,
            wild_do: &wild_do,
            rewrite: &rewrite,
            drop: super::drop_reverse_replication::DESCRIPTOR.name,
            address_field: "target_address",
        };
        let (host, port) = (sides.host.as_str(), sides.port);
        let existing = dialect.status(&mut old_conn, old, &self.channel).await?;
        let (gtid, from) = match &existing {
            Some(status) => match setup.restart(&mut old_conn, status, host, port, cx).await? {
                Some(gtid) => (gtid, None),
                None => return Ok(self.applied(cx, &sides, None, true)),
            },
            None => {
                let start = self
                    .check(&mut new_conn, &mut old_conn, &sides, &dialect, cx)
                    .await?;
                // Noted before it exists: the undo after a failure or a
                // crash from here on removes it, and only it.
                cx.note(serde_json::json!({
                    (NOTE_CHANNEL): self.channel,
                    (NOTE_ADDRESS): format!("{host}:{port}"),
                }))?;
                setup
                    .configure(&mut old_conn, new, host, port, &start, cx)
                    .await?;
                (start.gtid, Some(start.from))
            }
        };
        if let Err(error) = setup.start(&mut old_conn, None, gtid, host, port, cx).await {
            setup.clean_up(&mut old_conn, cx).await;
            return Err(error.into());
        }
        Ok(self.applied(cx, &sides, from, false))
    }

    fn inverse(&self) -> Option<ActionRef> {
        Some(Arc::new(DropReverseReplication {
            source: self.source.clone(),
            target: self.target.clone(),
            channel: self.channel.clone(),
            target_address: self.target_address.clone(),
        }))
    }

    // Finds the channel an earlier attempt set up and goes on (restarting it
    // where it stopped, never from the position again).
    fn idempotent(&self) -> bool {
        true
    }

    // The channel's name and address are noted before `CHANGE MASTER`:
    // `mysql.drop_reverse_replication` removes that channel however far its
    // setup got, and leaves one replicating from elsewhere alone.
    fn undoes_partial_failure(&self) -> bool {
        true
    }
}

impl ReverseReplicate {
    fn applied(
        &self,
        cx: &StepContext<'_>,
        sides: &Sides,
        from: Option<BinlogPosition>,
        already: bool,
    ) -> Applied {
        let address = format!("{}:{}", sides.host, sides.port);
        cx.report(Progress::Status(format!(
            "replicating {} back to {} (channel `{}`{}): the application stays locked out of {} (read_only ON)",
            sides.new.label(),
            sides.old.label(),
            self.channel,
            from.as_ref()
                .map(|p| format!(", from {p}"))
                .unwrap_or_default(),
            sides.old.label()
        )));
        Applied {
            data: serde_json::json!({
                "channel": self.channel,
                "source": sides.new.label(),
                "address": address,
                "from": from.map(|p| p.to_string()),
                "already_replicating": already,
            }),
            ..Applied::default()
        }
    }
}

/// Whether the old server takes the new one's GTID position as its
/// `gtid_slave_pos`. In `gtid_strict_mode` it refuses one its own binary
/// log has passed in the same domain (the new server's own writes before the
/// freeze numbered lower than the old one's): the channel then starts from
/// the same point by file and position — the GTIDs the new server gives its
/// writes from now on follow the forward replication's, so strict mode
/// takes them.
async fn strict_mode_allows(
    conn: &mut mysql_async::Conn,
    old: &Endpoint,
    gtid: &str,
    cx: &StepContext<'_>,
) -> anyhow::Result<bool> {
    let (strict, binlog): (u64, Option<String>) = conn
        .query_first("SELECT @@GLOBAL.gtid_strict_mode, @@GLOBAL.gtid_binlog_pos")
        .await
        .map_err(failed(old))?
        .unwrap_or((0, None));
    let binlog = binlog.unwrap_or_default();
    if strict == 0 || !gtid_behind_in_a_domain(gtid, &binlog) {
        return Ok(true);
    }
    cx.report(Progress::Status(format!(
        "{} runs in gtid_strict_mode and its binary log ({binlog}) has passed {gtid} in a domain: starting by file and position instead",
        old.label()
    )));
    Ok(false)
}

/// The old server must refuse the application while it takes the new one's
/// writes: `read_only` on (its replication threads are not bound by it).
async fn refuse_unfrozen(conn: &mut mysql_async::Conn, old: &Endpoint) -> anyhow::Result<()> {
    let read_only: Option<u64> = conn
        .query_first("SELECT @@GLOBAL.read_only")
        .await
        .map_err(failed(old))?;
    if read_only.unwrap_or(0) == 0 {
        return Err(anyhow!(
            "the source {} is not frozen (`read_only` is OFF): the application could write to it while it receives the target's writes (hint: run `mysql.read_only` on it first, after the catch-up the order is freeze → catch_up → drop_replication → reverse_replicate → swap)",
            old.label()
        ));
    }
    Ok(())
}

/// A channel still on the new server (the forward `cutover`) and one back
/// would send every change round in a circle.
async fn refuse_a_loop(conn: &mut mysql_async::Conn, new: &Endpoint) -> anyhow::Result<()> {
    let dialect = Dialect::detect(conn, new).await?;
    let channels = dialect.all_statuses(conn, new).await.with_context(|| {
        format!(
            "cannot tell whether the target still replicates (the forward replication must end first): `GRANT SLAVE MONITOR ON *.* TO` user `{}` on the target (MySQL: `REPLICATION CLIENT`)",
            new.user()
        )
    })?;
    if channels.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = channels
        .iter()
        .map(|(name, status)| format!("channel `{name}` from {}:{}", status.host, status.port))
        .collect();
    Err(anyhow!(
        "the target {} still replicates ({}): replicating back at the same time would send every change round in a circle (hint: end the forward replication first with `mysql.drop_replication`, after `mysql.catch_up`)",
        new.label(),
        names.join(", ")
    ))
}
