//! `postgres.health`: a check for just before and just after a swap — client
//! connections against `max_connections`, how far behind every replication
//! slot is, sessions waiting on locks — failing with every limit exceeded and
//! its figures. (An incident ran a database out of connections.)

use anyhow::Context;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use tokio_postgres::Client;

use super::connect::label;
use super::connect::{pg, Endpoint};
use crate::actions::shared::health;
use crate::actions::shared::units::{human_bytes, ByteSize};
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};

/// Parameters of `postgres.health`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// The server to check (`postgres://user:password@host:port/db`).
    pub url: String,
    /// Fail when client connections exceed this percentage of `max_connections` (default 80).
    #[serde(default = "default_pct")]
    pub max_connections_pct: f64,
    /// Fail when a replication slot is further behind than this (default `1GB`).
    #[serde(default = "default_lag")]
    pub max_replication_lag: ByteSize,
    /// Fail when more sessions than this wait on a lock (default 0).
    #[serde(default)]
    pub max_lock_waits: u32,
}

fn default_pct() -> f64 {
    80.0
}

fn default_lag() -> ByteSize {
    ByteSize(1 << 30)
}

/// Client connections, as the server counts them against `max_connections`.
struct Connections {
    used: i64,
    max: i64,
    reserved: i64,
    by_state: String,
    by_role: String,
}

/// One replication slot.
struct Slot {
    name: String,
    kind: String,
    active: bool,
    /// Bytes behind the server's WAL position; None before its first position.
    lag: Option<i64>,
    wal_status: Option<String>,
}

/// One session waiting on a lock.
struct Waiter {
    pid: i32,
    user: String,
    database: String,
    lock: String,
    waited: f64,
    blockers: Vec<i32>,
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "postgres.health",
    Health,
    "check a server before or after a swap: connections against max_connections, replication slot lag, sessions waiting on locks"
);

#[async_trait(?Send)]
impl Action for Health {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn endpoints(&self) -> Vec<String> {
        vec![crate::actions::shared::endpoint::database(&self.url)]
    }

    fn describe(&self) -> String {
        format!(
            "check the health of {}: connections at most {}% of max_connections, replication slots at most {} behind, at most {} session(s) waiting on locks",
            label(&self.url),
            self.max_connections_pct,
            human_bytes(self.max_replication_lag.0),
            self.max_lock_waits
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        health::check_pct(self.max_connections_pct)?;
        let endpoint = Endpoint::parse(&self.url)?;
        let client = endpoint.connect().await?;
        let conns = connections(&client)
            .await
            .context("failed to count connections")?;
        let slots = slots(&client)
            .await
            .context("failed to read the replication slots")?;
        let waiters = waiters(&client)
            .await
            .context("failed to read the lock waits")?;
        let mut exceeded = Vec::new();

        let pct = conns.used as f64 * 100.0 / conns.max.max(1) as f64;
        cx.report(Progress::Output(format!(
            "connections  {} of {} ({pct:.1}%; {} reserved for superusers): {}; by role: {}",
            conns.used, conns.max, conns.reserved, conns.by_state, conns.by_role
        )));
        if pct > self.max_connections_pct {
            exceeded.push(format!(
                "{} client connections of max_connections {} ({pct:.1}%) exceed max_connections_pct {}% ({}; by role: {})",
                conns.used, conns.max, self.max_connections_pct, conns.by_state, conns.by_role
            ));
        }

        for slot in &slots {
            let behind = match slot.lag {
                Some(bytes) => format!("{} behind", human_bytes(bytes.max(0) as u64)),
                None => "no position yet".to_string(),
            };
            cx.report(Progress::Output(format!(
                "slot         {} ({}, {}{}): {behind}",
                slot.name,
                slot.kind,
                if slot.active { "active" } else { "inactive" },
                slot.wal_status
                    .as_deref()
                    .map(|s| format!(", wal {s}"))
                    .unwrap_or_default()
            )));
            if let Some(bytes) = slot.lag.filter(|b| *b as u64 > self.max_replication_lag.0) {
                exceeded.push(format!(
                    "replication slot `{}` ({}, {}) is {} behind, more than max_replication_lag {}",
                    slot.name,
                    slot.kind,
                    if slot.active { "active" } else { "inactive" },
                    human_bytes(bytes as u64),
                    human_bytes(self.max_replication_lag.0)
                ));
            }
            if slot.wal_status.as_deref() == Some("lost") {
                exceeded.push(format!(
                    "replication slot `{}` has lost WAL it needs (wal_status lost): its consumer cannot continue",
                    slot.name
                ));
            }
        }
        if slots.is_empty() {
            cx.report(Progress::Output("slots        none".into()));
        }

        let lines: Vec<String> = waiters.iter().map(Waiter::describe).collect();
        health::lock_waits(cx, &lines, self.max_lock_waits, "session(s)", &mut exceeded);
        health::verdict(endpoint.label(), &exceeded)?;
        cx.report(Progress::Status(format!(
            "{} healthy: {} of {} connections ({pct:.1}%), {} slot(s), {} lock wait(s)",
            endpoint.label(),
            conns.used,
            conns.max,
            slots.len(),
            waiters.len()
        )));
        Ok(Applied {
            data: serde_json::json!({
                "server": endpoint.label(),
                "connections": { "used": conns.used, "max": conns.max, "pct": (pct * 10.0).round() / 10.0 },
                "slots": slots.iter().map(|s| serde_json::json!({
                    "name": s.name, "type": s.kind, "active": s.active, "lag_bytes": s.lag,
                })).collect::<Vec<_>>(),
                "lock_waits": waiters.len(),
            }),
            ..Applied::default()
        })
    }

    // Reads only.
    fn idempotent(&self) -> bool {
        true
    }

    // Reads only.
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}

impl Waiter {
    fn describe(&self) -> String {
        format!(
            "pid {} ({} on {}) waiting {:.1} s for {}{}",
            self.pid,
            self.user,
            self.database,
            self.waited,
            self.lock,
            if self.blockers.is_empty() {
                String::new()
            } else {
                format!(
                    ", blocked by pid {}",
                    self.blockers
                        .iter()
                        .map(i32::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        )
    }
}

/// Client backends of the whole server (max_connections is the server's),
/// this check's own session left out.
async fn connections(client: &Client) -> anyhow::Result<Connections> {
    let row = client
        .query_one(
            "WITH c AS (SELECT coalesce(state, 'unknown') AS state, coalesce(usename::text, '?') AS role
                        FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid())
             SELECT (SELECT count(*) FROM c),
                    current_setting('max_connections')::bigint,
                    current_setting('superuser_reserved_connections')::bigint,
                    coalesce((SELECT string_agg(format('%s %s', n, state), ', ' ORDER BY n DESC, state)
                              FROM (SELECT state, count(*) n FROM c GROUP BY 1) s), 'none'),
                    coalesce((SELECT string_agg(format('%s %s', role, n), ', ' ORDER BY n DESC, role)
                              FROM (SELECT role, count(*) n FROM c GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5) r), 'none')",
            &[],
        )
        .await
        .map_err(pg)?;
    Ok(Connections {
        used: row.get(0),
        max: row.get(1),
        reserved: row.get(2),
        by_state: row.get(3),
        by_role: row.get(4),
    })
}

/// Every slot, with its distance from the server's WAL position (on a
/// standby: the position received).
async fn slots(client: &Client) -> anyhow::Result<Vec<Slot>> {
    let rows = client
        .query(
            "SELECT slot_name::text, slot_type, active,
                    pg_wal_lsn_diff(
                      CASE WHEN pg_is_in_recovery()
                           THEN coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
                           ELSE pg_current_wal_lsn() END,
                      coalesce(confirmed_flush_lsn, restart_lsn))::bigint,
                    wal_status
             FROM pg_replication_slots ORDER BY 1",
            &[],
        )
        .await
        .map_err(pg)?;
    Ok(rows
        .iter()
        .map(|r| Slot {
            name: r.get(0),
            kind: r.get(1),
            active: r.get(2),
            lag: r.get(3),
            wal_status: r.get(4),
        })
        .collect())
}

/// Sessions of the whole server waiting on a heavyweight lock.
async fn waiters(client: &Client) -> anyhow::Result<Vec<Waiter>> {
    let rows = client
        .query(
            "SELECT a.pid, coalesce(a.usename::text, '?'), coalesce(a.datname::text, '?'),
                    coalesce(l.what, a.wait_event),
                    coalesce(extract(epoch FROM now() - l.waitstart), 0)::float8,
                    pg_blocking_pids(a.pid)
             FROM pg_stat_activity a
             LEFT JOIN LATERAL (
               SELECT format('%s %s%s', mode, locktype,
                        CASE WHEN relation IS NOT NULL AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                             THEN ' on ' || relation::regclass::text ELSE '' END) AS what, waitstart
               FROM pg_locks WHERE pid = a.pid AND NOT granted LIMIT 1) l ON true
             WHERE a.wait_event_type = 'Lock' AND a.pid <> pg_backend_pid()
             ORDER BY 5 DESC, 1",
            &[],
        )
        .await
        .map_err(pg)?;
    Ok(rows
        .iter()
        .map(|r| Waiter {
            pid: r.get(0),
            user: r.get(1),
            database: r.get(2),
            lock: r.get(3),
            waited: r.get(4),
            blockers: r.get(5),
        })
        .collect())
}
