//! `pgbouncer.resume`: `RESUME db` on PgBouncer's admin console; the waiting
//! clients go on. The implied rollback of `pgbouncer.pause`.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::console::{self, database_name};
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};

/// Parameters of `pgbouncer.resume`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resume {
    /// PgBouncer's admin console: `postgres://admin@host:6432/pgbouncer`.
    pub admin: String,
    /// The database to resume.
    #[serde(deserialize_with = "database_name")]
    pub database: String,
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "pgbouncer.resume",
    Resume,
    "RESUME a paused PgBouncer database: the waiting clients go on"
);

#[async_trait(?Send)]
impl Action for Resume {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn endpoints(&self) -> Vec<String> {
        vec![crate::actions::shared::endpoint::database(&self.admin)]
    }

    fn describe(&self) -> String {
        format!("resume PgBouncer database `{}`", self.database)
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        if crate::actions::shared::freeze::nothing_was_frozen(cx) {
            cx.report(Progress::Status(format!(
                "nothing to resume: the pause of `{}` failed before it sent PAUSE",
                self.database
            )));
            return Ok(Applied {
                data: serde_json::json!({ "database": self.database, "resumed": false, "reason": "the pause changed nothing" }),
                ..Applied::default()
            });
        }
        let resumed = console::resume(&self.admin, &self.database).await?;
        cx.report(Progress::Status(if resumed {
            format!("`{}` resumed: clients go on", self.database)
        } else {
            format!("`{}` was not paused", self.database)
        }));
        Ok(Applied {
            data: serde_json::json!({ "database": self.database, "resumed": resumed }),
            ..Applied::default()
        })
    }

    // Resuming a database that is not paused does nothing.
    fn idempotent(&self) -> bool {
        true
    }

    // Pausing again to undo a half-done resume would stop the traffic just let through.
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}
