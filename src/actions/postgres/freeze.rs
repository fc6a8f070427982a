//! The freeze shared by `postgres.read_only` and `postgres.read_write`, each
//! the other's inverse: their parameters, and what both need to know about
//! roles and sessions.
//!
//! `default_transaction_read_only` alone is only a default (`BEGIN READ WRITE`
//! still writes), so the freeze also takes LOGIN away from the application
//! roles named in `roles` and ends their sessions: nothing of theirs runs until
//! the thaw. The roles frozen are remembered in the database's own settings
//! (`cutover.frozen_roles`), so the thaw gives LOGIN back to exactly those.

use std::time::Duration;

use anyhow::{anyhow, Context};
use schemars::JsonSchema;
use serde::Deserialize;
use tokio_postgres::Client;

use super::connect::pg;

/// The database setting that remembers which roles a freeze took LOGIN from.
pub const MARKER: &str = "cutover.frozen_roles";

/// Parameters of `postgres.read_only` and `postgres.read_write`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PostgresFreeze")]
pub struct FreezeParams {
    /// The database to freeze or thaw (`postgres://user:password@host:port/db`).
    pub url: String,
    /// End every client session on the database when freezing (default), not
    /// only those of `roles`.
    #[serde(default = "yes")]
    pub terminate: bool,
    /// Application roles whose LOGIN is taken away until the thaw. The thaw
    /// gives LOGIN back to the roles the freeze recorded, or to these when it
    /// left no record.
    #[serde(default)]
    pub roles: Vec<String>,
}

fn yes() -> bool {
    true
}

pub async fn check_roles(client: &Client, roles: &[String]) -> anyhow::Result<()> {
    let known: Vec<String> = client
        .query(
            "SELECT rolname::text FROM pg_roles WHERE rolname = ANY($1)",
            &[&roles],
        )
        .await
        .map_err(pg)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let missing: Vec<&String> = roles.iter().filter(|r| !known.contains(r)).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        let names: Vec<String> = missing.iter().map(|r| format!("`{r}`")).collect();
        Err(anyhow!("no such role: {}", names.join(", ")))
    }
}

/// The roles an earlier freeze of this database recorded.
pub async fn recorded_roles(client: &Client, dbname: &str) -> anyhow::Result<Vec<String>> {
    let row = client
        .query_opt(
            "SELECT cfg FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase,
                    unnest(s.setconfig) AS cfg
             WHERE d.datname = $1 AND s.setrole = 0 AND cfg LIKE $2",
            &[&dbname, &format!("{MARKER}=%")],
        )
        .await
        .map_err(pg)?;
    Ok(row
        .map(|r| {
            let cfg: String = r.get(0);
            cfg[MARKER.len() + 1..]
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default())
}

/// Ends client sessions on the database (all, or those of `roles`), never
/// our own and never a walsender; waits until they are gone.
pub async fn terminate(
    client: &Client,
    dbname: &str,
    all: bool,
    roles: &[String],
) -> anyhow::Result<u64> {
    let filter = "datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'
                  AND ($2 OR usename = ANY($3))";
    let ended = client
        .query(
            &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {filter}"),
            &[&dbname, &all, &roles],
        )
        .await
        .map_err(pg)
        .context("failed to end sessions")?
        .len() as u64;
    for _ in 0..200 {
        let left: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM pg_stat_activity WHERE {filter}"),
                &[&dbname, &all, &roles],
            )
            .await
            .map_err(pg)?
            .get(0);
        if left == 0 {
            return Ok(ended);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Err(anyhow!("sessions were still open 5 s after being ended"))
}
