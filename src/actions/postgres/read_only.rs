//! `postgres.read_only`: freeze writes on a database — read-only by default,
//! LOGIN taken from the application roles, their sessions ended. Its inverse is
//! `postgres.read_write`.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;

use super::connect::{label, pg, quote_ident, quote_literal, Endpoint};
use super::freeze::{check_roles, recorded_roles, terminate, FreezeParams, MARKER};
use crate::actions::shared::freeze::{self as freeze_note, Freeze, Frozen, Thawed};
use crate::actions::{
    descriptor, Action, ActionFailure, ActionRef, Applied, Descriptor, Progress, StepContext,
};

/// Parameters of `postgres.read_only` (shared with its inverse, see `freeze`).
pub type ReadOnly = Freeze<FreezeParams, Frozen>;

pub static DESCRIPTOR: Descriptor = descriptor!(
    "postgres.read_only",
    ReadOnly,
    "freeze writes on a database: read-only default, application roles' LOGIN taken, sessions ended"
);

/// Commits acknowledged under `synchronous_commit = off` may still sit in WAL
/// buffers when the sessions end, and a subscriber receives only flushed WAL:
/// the catch-up would wait for the WAL writer (up to 3 × `wal_writer_delay`)
/// with writes frozen. One synchronous catalog write flushes every record
/// before it, now.
async fn flush_acknowledged_writes(
    client: &tokio_postgres::Client,
    db: &str,
) -> anyhow::Result<()> {
    // One statement each: a multi-statement query is one transaction, and
    // the setting in force at its commit is what counts.
    for statement in [
        "SET synchronous_commit = on".to_string(),
        format!("ALTER DATABASE {db} SET default_transaction_read_only = on"),
        "RESET synchronous_commit".to_string(),
    ] {
        client
            .batch_execute(&statement)
            .await
            .map_err(pg)
            .context("failed to flush the WAL of the last acknowledged writes")?;
    }
    Ok(())
}

#[async_trait(?Send)]
impl Action for ReadOnly {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn endpoints(&self) -> Vec<String> {
        vec![crate::actions::shared::endpoint::database(&self.params.url)]
    }

    fn describe(&self) -> String {
        let db = label(&self.params.url);
        let hold = if self.params.roles.is_empty() {
            " (default only: a session may still `BEGIN READ WRITE`)".to_string()
        } else {
            format!(", take LOGIN from {}", self.params.roles.join(", "))
        };
        let end = if self.params.terminate {
            ", end its client sessions"
        } else {
            ""
        };
        format!("freeze writes on {db}{hold}{end}")
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let endpoint = Endpoint::parse(&self.params.url)?;
        freeze_note::note_pending(cx)?;
        let client = endpoint.connect().await?;
        let db = quote_ident(endpoint.dbname());
        // A role that does not exist fails the step before anything changed.
        check_roles(&client, &self.params.roles).await?;
        freeze_note::note_began(cx)?;
        client
            .batch_execute(&format!(
                "ALTER DATABASE {db} SET default_transaction_read_only = on"
            ))
            .await
            .map_err(pg)
            .context("failed to make the database read-only by default")?;
        // Record first, then take LOGIN: a crash in between leaves a record of
        // roles that still log in, and the thaw grants what they already have.
        let mut frozen = recorded_roles(&client, endpoint.dbname()).await?;
        let can_login: Vec<String> = client
            .query(
                "SELECT rolname::text FROM pg_roles WHERE rolname = ANY($1) AND rolcanlogin",
                &[&self.params.roles],
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
        let ended = terminate(
            &client,
            endpoint.dbname(),
            self.params.terminate,
            &self.params.roles,
        )
        .await?;
        flush_acknowledged_writes(&client, &db).await?;
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

    fn inverse(&self) -> Option<ActionRef> {
        Some(Arc::new(self.reversed::<Thawed>()))
    }

    /// A frozen primary takes no writes: the downtime budget starts here.
    fn stops_writes(&self) -> bool {
        true
    }

    // Freezing a frozen database finds its record and keeps it.
    fn idempotent(&self) -> bool {
        true
    }

    // The thaw undoes any part of a freeze (each of its changes is undone by
    // setting it back), and skips one that noted it changed nothing.
    fn undoes_partial_failure(&self) -> bool {
        true
    }
}
