//! `postgres.read_write`: thaw a database frozen by `postgres.read_only` —
//! LOGIN given back to the roles the freeze recorded, the read-only default
//! reset. Its inverse freezes again.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;

use super::connect::{label, pg, quote_ident, Endpoint};
use super::freeze::{check_roles, recorded_roles, FreezeParams, MARKER};
use crate::actions::shared::freeze::{self as freeze_note, Freeze, Frozen, Thawed};
use crate::actions::{
    descriptor, Action, ActionFailure, ActionRef, Applied, Descriptor, Progress, StepContext,
};

/// Parameters of `postgres.read_write` (shared with its inverse, see `freeze`).
pub type ReadWrite = Freeze<FreezeParams, Thawed>;

pub static DESCRIPTOR: Descriptor = descriptor!(
    "postgres.read_write",
    ReadWrite,
    "thaw a database frozen by postgres.read_only"
);

#[async_trait(?Send)]
impl Action for ReadWrite {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn endpoints(&self) -> Vec<String> {
        vec![crate::actions::shared::endpoint::database(&self.params.url)]
    }

    fn describe(&self) -> String {
        format!("thaw writes on {}", label(&self.params.url))
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let endpoint = Endpoint::parse(&self.params.url)?;
        if freeze_note::nothing_was_frozen(cx) {
            return Ok(freeze_note::nothing_to_thaw(cx, endpoint.label()));
        }
        let client = endpoint.connect().await?;
        let db = quote_ident(endpoint.dbname());
        let recorded = recorded_roles(&client, endpoint.dbname()).await?;
        let roles = if recorded.is_empty() {
            check_roles(&client, &self.params.roles).await?;
            self.params.roles.clone()
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

    fn inverse(&self) -> Option<ActionRef> {
        Some(Arc::new(self.reversed::<Frozen>()))
    }

    // Thawing a thawed database gives LOGIN to roles that have it.
    fn idempotent(&self) -> bool {
        true
    }

    // Undoing a half-done thaw by freezing again would stop writes the operator just restored.
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}
