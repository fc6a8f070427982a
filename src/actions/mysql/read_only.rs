//! `mysql.read_only`: freeze writes on a server. `read_only` (and
//! `super_read_only` where the server has it), then the client connections are
//! killed — replication threads and our own excepted — so no open transaction
//! goes on writing. Its inverse is `mysql.read_write`.

use std::sync::Arc;

use async_trait::async_trait;
use mysql_async::prelude::Queryable;

use super::connect::{exec, Endpoint};
use super::freeze::{FreezeParams, NOT_CLIENTS};
use crate::actions::shared::freeze::{self as freeze_note, Freeze, Frozen, Thawed};
use crate::actions::{
    descriptor, Action, ActionFailure, ActionRef, Applied, Descriptor, Progress, StepContext,
};

/// Parameters of `mysql.read_only` (shared with its inverse, see `freeze`).
pub type ReadOnly = Freeze<FreezeParams, Frozen>;

pub static DESCRIPTOR: Descriptor = descriptor!(
    "mysql.read_only",
    ReadOnly,
    "freeze writes on a MySQL/MariaDB server: read_only, client connections ended"
);

#[async_trait(?Send)]
impl Action for ReadOnly {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn endpoints(&self) -> Vec<String> {
        vec![crate::actions::shared::endpoint::database(&self.params.url)]
    }

    fn describe(&self) -> String {
        let label = Endpoint::parse(&self.params.url)
            .map(|e| e.label().to_string())
            .unwrap_or_else(|_| "?".into());
        let kill = if self.params.terminate {
            ", end its client connections"
        } else {
            ""
        };
        format!("freeze writes on {label} (read_only{kill})")
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let endpoint = Endpoint::parse(&self.params.url)?;
        freeze_note::note_pending(cx)?;
        let mut conn = endpoint.connect().await?;
        freeze_note::note_began(cx)?;
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
        if self.params.terminate {
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

    fn inverse(&self) -> Option<ActionRef> {
        Some(Arc::new(self.reversed::<Thawed>()))
    }

    /// A frozen primary takes no writes: the downtime budget starts here.
    fn stops_writes(&self) -> bool {
        true
    }

    // Setting read_only twice lands in the same place.
    fn idempotent(&self) -> bool {
        true
    }

    // The thaw undoes any part of a freeze (each of its changes is undone by
    // setting it back), and skips one that noted it changed nothing.
    fn undoes_partial_failure(&self) -> bool {
        true
    }
}
