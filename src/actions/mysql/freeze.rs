//! `mysql.read_only` / `mysql.read_write`: freeze writes on a server and thaw
//! them. `read_only` (and `super_read_only` where the server has it), then the
//! client connections are killed — replication threads and our own excepted —
//! so no open transaction goes on writing.

use mysql_async::prelude::Queryable;
use schemars::JsonSchema;
use serde::Deserialize;

use super::connect::{exec, Endpoint};
use crate::actions::{ActionFailure, Applied, Progress, StepContext};

fn yes() -> bool {
    true
}

/// Parameters of `mysql.read_only`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadOnly {
    /// `mysql://user:password@host:port/db` of the server to freeze.
    pub url: String,
    /// Kill the client connections so open transactions cannot go on writing.
    #[serde(default = "yes")]
    pub terminate: bool,
}

/// Parameters of `mysql.read_write`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadWrite {
    /// `mysql://user:password@host:port/db` of the server to thaw.
    pub url: String,
}

/// Threads that are not clients: replication and the server's own.
const NOT_CLIENTS: &str =
    "('Binlog Dump', 'Binlog Dump GTID', 'Daemon', 'Slave_IO', 'Slave_SQL', 'Slave_worker')";

impl ReadOnly {
    pub fn describe(&self) -> String {
        let label = Endpoint::parse(&self.url)
            .map(|e| e.label().to_string())
            .unwrap_or_else(|_| "?".into());
        let kill = if self.terminate {
            ", end its client connections"
        } else {
            ""
        };
        format!("freeze writes on {label} (read_only{kill})")
    }

    pub fn inverse(&self) -> ReadWrite {
        ReadWrite {
            url: self.url.clone(),
        }
    }

    pub async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let endpoint = Endpoint::parse(&self.url)?;
        let mut conn = endpoint.connect().await?;
        exec(&mut conn, &endpoint, "SET GLOBAL read_only = ON").await?;
        // MySQL 5.7+/8 has super_read_only (admins too); MariaDB does not.
        let super_read_only: Option<String> = conn
            .query_first("SHOW GLOBAL VARIABLES LIKE 'super_read_only'")
            .await
            .ok()
            .flatten()
            .map(|(_, v): (String, String)| v);
        if super_read_only.is_some() {
            exec(&mut conn, &endpoint, "SET GLOBAL super_read_only = ON").await?;
        }
        let mut killed = 0u64;
        if self.terminate {
            let ids: Vec<u64> = conn
                .query(format!(
                    "SELECT id FROM information_schema.processlist WHERE id <> CONNECTION_ID() AND command NOT IN {NOT_CLIENTS} AND user NOT IN ('system user', 'event_scheduler')"
                ))
                .await
                .map_err(|e| anyhow::anyhow!("{}: {}", endpoint.label(), super::connect::describe(&e)))?;
            for id in ids {
                // A connection that ended by itself meanwhile is fine.
                if conn
                    .query_drop(format!("KILL CONNECTION {id}"))
                    .await
                    .is_ok()
                {
                    killed += 1;
                }
            }
        }
        cx.report(Progress::Status(format!(
            "read_only on, {killed} client connection(s) ended"
        )));
        Ok(Applied {
            data: serde_json::json!({ "server": endpoint.label(), "killed": killed, "super_read_only": super_read_only.is_some() }),
            ..Applied::default()
        })
    }
}

impl ReadWrite {
    pub fn describe(&self) -> String {
        let label = Endpoint::parse(&self.url)
            .map(|e| e.label().to_string())
            .unwrap_or_else(|_| "?".into());
        format!("thaw writes on {label} (read_only off)")
    }

    pub fn inverse(&self) -> ReadOnly {
        ReadOnly {
            url: self.url.clone(),
            terminate: true,
        }
    }

    pub async fn apply(&self, _cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let endpoint = Endpoint::parse(&self.url)?;
        let mut conn = endpoint.connect().await?;
        let has_super: bool = conn
            .query_first::<(String, String), _>("SHOW GLOBAL VARIABLES LIKE 'super_read_only'")
            .await
            .ok()
            .flatten()
            .is_some();
        if has_super {
            exec(&mut conn, &endpoint, "SET GLOBAL super_read_only = OFF").await?;
        }
        exec(&mut conn, &endpoint, "SET GLOBAL read_only = OFF").await?;
        Ok(Applied {
            data: serde_json::json!({ "server": endpoint.label() }),
            ..Applied::default()
        })
    }
}
