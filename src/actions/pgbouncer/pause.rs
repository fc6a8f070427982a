//! `pgbouncer.pause`: `PAUSE db` on PgBouncer's admin console — clients keep
//! their connections and wait instead of failing, while no query reaches the
//! server. Done when PgBouncer holds no server connection for the database;
//! a pause that cannot finish within `timeout` is resumed and fails naming
//! the sessions still in a transaction. Its inverse is `pgbouncer.resume`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::console::{self, database_name};
use super::resume::Resume;
use crate::actions::{
    descriptor, Action, ActionFailure, ActionRef, Applied, Descriptor, Progress, StepContext,
};
use crate::duration::{format_duration, DurationText};

fn ten_seconds() -> DurationText {
    DurationText(Duration::from_secs(10))
}

/// Parameters of `pgbouncer.pause`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pause {
    /// PgBouncer's admin console: `postgres://admin@host:6432/pgbouncer`
    /// (a user of `admin_users`).
    pub admin: String,
    /// The database of PgBouncer's `[databases]` section to pause.
    #[serde(deserialize_with = "database_name")]
    pub database: String,
    /// Longest wait for the transactions under way to end.
    #[serde(
        default = "ten_seconds",
        deserialize_with = "crate::duration::positive"
    )]
    pub timeout: DurationText,
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "pgbouncer.pause",
    Pause,
    "PAUSE a PgBouncer database: clients wait instead of failing; done when no server connection is left"
);

#[async_trait(?Send)]
impl Action for Pause {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn endpoints(&self) -> Vec<String> {
        vec![crate::actions::shared::endpoint::database(&self.admin)]
    }

    fn describe(&self) -> String {
        format!(
            "pause PgBouncer database `{}` (wait at most {} for transactions under way)",
            self.database,
            format_duration(self.timeout.0)
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        // Noted as a freeze is: the resume that undoes a pause that never got
        // to send PAUSE (a console down or hung) has nothing to resume.
        crate::actions::shared::freeze::note_pending(cx)?;
        let paused = console::pause(&self.admin, &self.database, self.timeout.0, cx).await?;
        cx.report(Progress::Status(if paused.already {
            format!("`{}` was paused already", self.database)
        } else {
            format!(
                "`{}` paused after {:.0} ms: clients wait, no server connection left",
                self.database,
                paused.waited.as_secs_f64() * 1000.0
            )
        }));
        Ok(Applied {
            data: serde_json::json!({
                "database": self.database,
                "already_paused": paused.already,
                "waited_ms": paused.waited.as_millis() as u64,
            }),
            ..Applied::default()
        })
    }

    fn inverse(&self) -> Option<ActionRef> {
        Some(Arc::new(Resume {
            admin: self.admin.clone(),
            database: self.database.clone(),
        }))
    }

    /// Paused clients wait: the downtime budget starts here.
    fn stops_writes(&self) -> bool {
        true
    }

    // Pausing a paused database finds it paused and waits for its servers.
    fn idempotent(&self) -> bool {
        true
    }

    // A pause cut short (a timeout, Ctrl-C) may still be in force in
    // PgBouncer: resuming undoes it, and does nothing when it never took.
    fn undoes_partial_failure(&self) -> bool {
        true
    }
}
