//! `mysql.health`: the MySQL/MariaDB twin of `postgres.health` — client
//! connections against `max_connections` (by user and by command), how far
//! behind every replication channel is, transactions waiting on row locks
//! with who blocks them — failing with every limit exceeded and its figures.

use std::time::Duration;

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use schemars::JsonSchema;
use serde::Deserialize;

use super::channel::Dialect;
use super::connect::{describe, label, Endpoint};
use super::freeze::NOT_CLIENTS;
use crate::actions::shared::health;
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};
use crate::duration::{format_duration, DurationText};

/// Parameters of `mysql.health`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// The server to check (`mysql://user:password@host:port/db`); `PROCESS`
    /// shows every user's connections, `REPLICATION CLIENT` the channels.
    pub url: String,
    /// Fail when client connections exceed this percentage of `max_connections` (default 80).
    #[serde(default = "default_pct")]
    pub max_connections_pct: f64,
    /// Fail when a replication channel is further behind than this (default `60s`),
    /// or stopped.
    #[serde(default = "default_lag")]
    pub max_replication_lag: DurationText,
    /// Fail when more transactions than this wait on a lock (default 0).
    #[serde(default)]
    pub max_lock_waits: u32,
}

fn default_pct() -> f64 {
    80.0
}

fn default_lag() -> DurationText {
    DurationText(Duration::from_secs(60))
}

/// One transaction waiting on a lock.
struct Waiter {
    waiting: i64,
    user: String,
    seconds: i64,
    blocking: i64,
    what: String,
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "mysql.health",
    Health,
    "check a MySQL/MariaDB server before or after a swap: connections against max_connections, replication lag, transactions waiting on locks"
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
            "check the health of {}: connections at most {}% of max_connections, replication at most {} behind, at most {} transaction(s) waiting on locks",
            label(&self.url),
            self.max_connections_pct,
            format_duration(self.max_replication_lag.0),
            self.max_lock_waits
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        health::check_pct(self.max_connections_pct)?;
        let endpoint = Endpoint::parse(&self.url)?;
        let mut conn = endpoint.connect().await?;
        let failed = |e: mysql_async::Error| anyhow!("{}: {}", endpoint.label(), describe(&e));
        let mut exceeded = Vec::new();

        let (used, max, by_user, by_command) = connections(&mut conn)
            .await
            .map_err(failed)
            .context("failed to count connections")?;
        let pct = used as f64 * 100.0 / max.max(1) as f64;
        cx.report(Progress::Output(format!(
            "connections  {used} of {max} ({pct:.1}%): {by_command}; by user: {by_user}"
        )));
        if pct > self.max_connections_pct {
            exceeded.push(format!(
                "{used} client connections of max_connections {max} ({pct:.1}%) exceed max_connections_pct {}% ({by_command}; by user: {by_user})",
                self.max_connections_pct
            ));
        }

        let dialect = Dialect::detect(&mut conn, &endpoint).await?;
        let channels = dialect
            .all_statuses(&mut conn, &endpoint)
            .await
            .context("failed to read the replication channels")?;
        for (name, status) in &channels {
            let name = if name.is_empty() { "(default)" } else { name };
            let running = status.io_running == "Yes" && status.sql_running == "Yes";
            let behind = match status.seconds_behind {
                Some(s) => format!("{} behind", format_duration(Duration::from_secs(s))),
                None => "lag unknown".to_string(),
            };
            cx.report(Progress::Output(format!(
                "replication  channel {name} from {}:{} (io {}, sql {}): {behind}",
                status.host, status.port, status.io_running, status.sql_running
            )));
            if !running {
                let error = [&status.io_error, &status.sql_error]
                    .into_iter()
                    .filter(|e| !e.is_empty())
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ");
                exceeded.push(format!(
                    "replication channel {name} is not running (io {}, sql {}){}",
                    status.io_running,
                    status.sql_running,
                    if error.is_empty() {
                        String::new()
                    } else {
                        format!(": {error}")
                    }
                ));
            } else if let Some(s) = status
                .seconds_behind
                .filter(|s| Duration::from_secs(*s) > self.max_replication_lag.0)
            {
                exceeded.push(format!(
                    "replication channel {name} is {} behind, more than max_replication_lag {}",
                    format_duration(Duration::from_secs(s)),
                    format_duration(self.max_replication_lag.0)
                ));
            }
        }
        if channels.is_empty() {
            cx.report(Progress::Output("replication  none".into()));
        }

        let waiters = match waiters(&mut conn).await {
            Ok(waiters) => waiters,
            Err(why) => {
                cx.report(Progress::Output(format!(
                    "lock waits   not readable on this server ({why})"
                )));
                Vec::new()
            }
        };
        let lines: Vec<String> = waiters.iter().map(Waiter::describe).collect();
        health::lock_waits(
            cx,
            &lines,
            self.max_lock_waits,
            "transaction(s)",
            &mut exceeded,
        );
        health::verdict(endpoint.label(), &exceeded)?;
        cx.report(Progress::Status(format!(
            "{} healthy: {used} of {max} connections ({pct:.1}%), {} channel(s), {} lock wait(s)",
            endpoint.label(),
            channels.len(),
            waiters.len()
        )));
        Ok(Applied {
            data: serde_json::json!({
                "server": endpoint.label(),
                "connections": { "used": used, "max": max, "pct": (pct * 10.0).round() / 10.0 },
                "channels": channels.iter().map(|(name, s)| serde_json::json!({
                    "name": name, "io": s.io_running, "sql": s.sql_running, "seconds_behind": s.seconds_behind,
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
            "connection {} ({}) waiting {} s for {}, blocked by connection {}",
            self.waiting, self.user, self.seconds, self.what, self.blocking
        )
    }
}

/// Client connections (this one, replication and server threads left out)
/// against `max_connections`, with the five largest users and commands.
async fn connections(
    conn: &mut mysql_async::Conn,
) -> Result<(i64, i64, String, String), mysql_async::Error> {
    let clients = format!(
        "FROM information_schema.processlist WHERE id <> CONNECTION_ID() AND command NOT IN {NOT_CLIENTS} AND user NOT IN ('system user', 'event_scheduler')"
    );
    let used: Option<i64> = conn
        .query_first(format!("SELECT count(*) {clients}"))
        .await?;
    let max: Option<i64> = conn.query_first("SELECT @@max_connections").await?;
    let breakdown = |column: &str| {
        format!("SELECT {column}, count(*) n {clients} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5")
    };
    let by_user: Vec<(String, i64)> = conn.query(breakdown("user")).await?;
    let by_command: Vec<(String, i64)> = conn.query(breakdown("lower(command)")).await?;
    let join = |rows: Vec<(String, i64)>, count_first: bool| {
        if rows.is_empty() {
            return "none".to_string();
        }
        rows.iter()
            .map(|(name, n)| {
                if count_first {
                    format!("{n} {name}")
                } else {
                    format!("{name} {n}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    Ok((
        used.unwrap_or(0),
        max.unwrap_or(0),
        join(by_user, false),
        join(by_command, true),
    ))
}

/// waiting connection, its user, seconds waited, blocking connection, table.
type WaitRow = (i64, String, Option<i64>, i64, String);

/// Transactions waiting on InnoDB row locks with the one blocking each:
/// MariaDB's `information_schema.INNODB_LOCK_WAITS`, else MySQL 8's
/// `sys.innodb_lock_waits`. A server that has neither reports none.
async fn waiters(conn: &mut mysql_async::Conn) -> Result<Vec<Waiter>, String> {
    let mariadb = "SELECT r.trx_mysql_thread_id, coalesce(p.user, '?'), \
                          timestampdiff(SECOND, r.trx_wait_started, now()), \
                          b.trx_mysql_thread_id, coalesce(l.lock_table, '?') \
                   FROM information_schema.innodb_lock_waits w \
                   JOIN information_schema.innodb_trx r ON r.trx_id = w.requesting_trx_id \
                   JOIN information_schema.innodb_trx b ON b.trx_id = w.blocking_trx_id \
                   LEFT JOIN information_schema.innodb_locks l ON l.lock_id = w.requested_lock_id \
                   LEFT JOIN information_schema.processlist p ON p.id = r.trx_mysql_thread_id \
                   ORDER BY 3 DESC";
    let mysql = "SELECT waiting_pid, '?', wait_age_secs, blocking_pid, locked_table \
                 FROM sys.innodb_lock_waits ORDER BY 3 DESC";
    let mut errors = Vec::new();
    for sql in [mariadb, mysql] {
        match conn.query::<WaitRow, _>(sql).await {
            Ok(rows) => {
                return Ok(rows
                    .into_iter()
                    .map(|(waiting, user, seconds, blocking, what)| Waiter {
                        waiting,
                        user,
                        seconds: seconds.unwrap_or(0),
                        blocking,
                        what,
                    })
                    .collect())
            }
            Err(error) => errors.push(describe(&error)),
        }
    }
    Err(errors.join("; "))
}
