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
    #[serde(default, deserialize_with = "role_names")]
    pub roles: Vec<String>,
}

/// Role names the freeze can record and give back. Statements quote them
/// (`quote_ident`), but the freeze remembers them as one comma-separated
/// setting (`cutover.frozen_roles = 'a,b'`), so a role named `a,b` would
/// thaw `a` and `b`: refused, with the other characters that have no place in
/// an application role's name (quotes, backslash, control characters, leading
/// or trailing space) and names longer than PostgreSQL keeps (63 bytes).
pub fn check_role_name(name: &str) -> Result<(), String> {
    let bad = name
        .chars()
        .find(|c| c.is_control() || matches!(c, ',' | '"' | '\'' | '\\'));
    let problem = if name.is_empty() {
        Some("is empty".to_string())
    } else if name.len() > 63 {
        Some(format!("is {} bytes long; PostgreSQL keeps 63", name.len()))
    } else if let Some(c) = bad {
        Some(format!("holds `{}`", c.escape_debug()))
    } else if name.trim() != name {
        Some("starts or ends with a space".to_string())
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(format!(
            "role name `{}` {problem}: a role name here may not hold `,`, quotes, a backslash or control characters (the freeze records its roles as one comma-separated list)",
            name.escape_debug()
        )),
    }
}

fn role_names<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let names = Vec::<String>::deserialize(deserializer)?;
    for name in &names {
        check_role_name(name).map_err(serde::de::Error::custom)?;
    }
    Ok(names)
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

#[cfg(test)]
mod tests {
    use super::check_role_name;

    #[test]
    fn role_names_that_cannot_be_recorded_are_refused() {
        assert!(check_role_name("app_rw").is_ok());
        assert!(check_role_name("App User-2").is_ok());
        for bad in [
            "",
            "a,b",
            "a\"b",
            "o'brien",
            "a\nb",
            " app",
            "a\\b",
            &"x".repeat(64),
        ] {
            assert!(check_role_name(bad).is_err(), "{bad:?}");
        }
    }
}
