//! `postgres.read_only` and `postgres.read_write`: freeze writes on a
//! database and thaw them, each the other's inverse.
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

use super::connect::{pg, quote_ident, quote_literal, Endpoint};
use crate::actions::{ActionFailure, Applied, Progress, StepContext};

/// The database setting that remembers which roles a freeze took LOGIN from.
const MARKER: &str = "cutover.frozen_roles";

/// Parameters of `postgres.read_only`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadOnly {
    /// The database to freeze (`postgres://user:password@host:port/db`).
    pub url: String,
    /// End every client session on the database (default), not only those of `roles`.
    #[serde(default = "yes")]
    pub terminate: bool,
    /// Application roles whose LOGIN is taken away until the thaw.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// Parameters of `postgres.read_write`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadWrite {
    /// The database to thaw.
    pub url: String,
    /// Used only by the inverse (`postgres.read_only`).
    #[serde(default = "yes")]
    pub terminate: bool,
    /// Roles to give LOGIN back to when the freeze left no record of its own.
    #[serde(default)]
    pub roles: Vec<String>,
}

fn yes() -> bool {
    true
}

impl ReadOnly {
    pub fn describe(&self) -> String {
        let db = label(&self.url);
        let hold = if self.roles.is_empty() {
            " (default only: a session may still `BEGIN READ WRITE`)".to_string()
        } else {
            format!(", take LOGIN from {}", self.roles.join(", "))
        };
        let end = if self.terminate {
            ", end its client sessions"
        } else {
            ""
        };
        format!("freeze writes on {db}{hold}{end}")
    }

    pub async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let endpoint = Endpoint::parse(&self.url)?;
        let client = endpoint.connect().await?;
        let db = quote_ident(endpoint.dbname());
        client
            .batch_execute(&format!(
                "ALTER DATABASE {db} SET default_transaction_read_only = on"
            ))
            .await
            .map_err(pg)
            .context("failed to make the database read-only by default")?;
        check_roles(&client, &self.roles).await?;
        // Record first, then take LOGIN: a crash in between leaves a record of
        // roles that still log in, and the thaw grants what they already have.
        let mut frozen = recorded_roles(&client, endpoint.dbname()).await?;
        let can_login: Vec<String> = client
            .query(
                "SELECT rolname::text FROM pg_roles WHERE rolname = ANY($1) AND rolcanlogin",
                &[&self.roles],
            )
            .await
            .map_err(pg)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for role in &can_login {
            if !frozen.contains(role) {
                frozen.push(role.clone());
            }
        }
        if !frozen.is_empty() {
            client
                .batch_execute(&format!(
                    "ALTER DATABASE {db} SET {MARKER} = {}",
                    quote_literal(&frozen.join(","))
                ))
                .await
                .map_err(pg)
                .context("failed to record the frozen roles")?;
        }
        for role in &can_login {
            client
                .batch_execute(&format!("ALTER ROLE {} NOLOGIN", quote_ident(role)))
                .await
                .map_err(pg)
                .with_context(|| format!("failed to take LOGIN from `{role}`"))?;
        }
        let ended = terminate(&client, endpoint.dbname(), self.terminate, &self.roles).await?;
        cx.report(Progress::Status(format!(
            "{} read-only; LOGIN taken from: {}; {ended} session(s) ended",
            endpoint.label(),
            if frozen.is_empty() {
                "nobody".to_string()
            } else {
                frozen.join(", ")
            }
        )));
        Ok(Applied {
            data: serde_json::json!({
                "database": endpoint.label(),
                "frozen_roles": frozen,
                "sessions_ended": ended,
            }),
            ..Applied::default()
        })
    }

    pub fn inverse(&self) -> ReadWrite {
        ReadWrite {
            url: self.url.clone(),
            terminate: self.terminate,
            roles: self.roles.clone(),
        }
    }
}

impl ReadWrite {
    pub fn describe(&self) -> String {
        format!("thaw writes on {}", label(&self.url))
    }

    pub async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let endpoint = Endpoint::parse(&self.url)?;
        let client = endpoint.connect().await?;
        let db = quote_ident(endpoint.dbname());
        let recorded = recorded_roles(&client, endpoint.dbname()).await?;
        let roles = if recorded.is_empty() {
            check_roles(&client, &self.roles).await?;
            self.roles.clone()
        } else {
            recorded
        };
        for role in &roles {
            let exists = client
                .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[role])
                .await
                .map_err(pg)?
                .is_some();
            if exists {
                client
                    .batch_execute(&format!("ALTER ROLE {} LOGIN", quote_ident(role)))
                    .await
                    .map_err(pg)
                    .with_context(|| format!("failed to give LOGIN back to `{role}`"))?;
            }
        }
        client
            .batch_execute(&format!(
                "ALTER DATABASE {db} RESET default_transaction_read_only; ALTER DATABASE {db} RESET {MARKER}"
            ))
            .await
            .map_err(pg)
            .context("failed to make the database writable again")?;
        cx.report(Progress::Status(format!(
            "{} writable; LOGIN given back to: {}",
            endpoint.label(),
            if roles.is_empty() {
                "nobody".to_string()
            } else {
                roles.join(", ")
            }
        )));
        Ok(Applied {
            data: serde_json::json!({ "database": endpoint.label(), "thawed_roles": roles }),
            ..Applied::default()
        })
    }

    pub fn inverse(&self) -> ReadOnly {
        ReadOnly {
            url: self.url.clone(),
            terminate: self.terminate,
            roles: self.roles.clone(),
        }
    }
}

/// `user@host:port/db`, or a placeholder for a URL that does not parse (the
/// step fails on it later, with the reason).
pub fn label(url: &str) -> String {
    match Endpoint::parse(url) {
        Ok(endpoint) => endpoint.label().to_string(),
        // `plan` shows an unset variable as `<unset NAME>`: keep it readable.
        Err(_) if url.starts_with('<') && !url.contains('@') => url.to_string(),
        Err(_) => "<invalid URL>".to_string(),
    }
}

async fn check_roles(client: &Client, roles: &[String]) -> anyhow::Result<()> {
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
pub(super) async fn recorded_roles(client: &Client, dbname: &str) -> anyhow::Result<Vec<String>> {
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
async fn terminate(
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
