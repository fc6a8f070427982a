//! `mysql.read_write`: thaw a server frozen by `mysql.read_only`
//! (`super_read_only` and `read_only` off). Its inverse freezes again.

use std::sync::Arc;

use async_trait::async_trait;
use mysql_async::prelude::Queryable;

use super::connect::{exec, Endpoint};
use super::freeze::FreezeParams;
use crate::actions::shared::freeze::{self as freeze_note, Freeze, Frozen, Thawed};
use crate::actions::{
    descriptor, Action, ActionFailure, ActionRef, Applied, Descriptor, StepContext,
};

/// Parameters of `mysql.read_write` (shared with its inverse, see `freeze`).
pub type ReadWrite = Freeze<FreezeParams, Thawed>;

pub static DESCRIPTOR: Descriptor = descriptor!(
    "mysql.read_write",
    ReadWrite,
    "thaw a server frozen by mysql.read_only"
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
        let label = Endpoint::parse(&self.params.url)
            .map(|e| e.label().to_string())
            .unwrap_or_else(|_| "?".into());
        format!("thaw writes on {label} (read_only off)")
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let endpoint = Endpoint::parse(&self.params.url)?;
        if freeze_note::nothing_was_frozen(cx) {
            return Ok(freeze_note::nothing_to_thaw(cx, endpoint.label()));
        }
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

    fn inverse(&self) -> Option<ActionRef> {
        Some(Arc::new(self.reversed::<Frozen>()))
    }

    // Clearing read_only twice lands in the same place.
    fn idempotent(&self) -> bool {
        true
    }

    // Undoing a half-done thaw by freezing again would stop writes the operator just restored.
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}
