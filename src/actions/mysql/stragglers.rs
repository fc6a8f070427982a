//! `mysql.stragglers`: the client connections still on the old MySQL or
//! MariaDB server after the swap — user, client address, database, how long in
//! their current command — waited for with `wait`, failing above `max`. The
//! twin of `postgres.stragglers`.

use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use schemars::JsonSchema;
use serde::Deserialize;

use super::channel::literal;
use super::connect::{describe, label, Endpoint};
use super::freeze::NOT_CLIENTS;
use crate::actions::shared::stragglers::{self, Straggler, StragglerParams};
use crate::actions::{descriptor, Action, ActionFailure, Applied, Descriptor, StepContext};

/// Parameters of the action (shared with the other engine's twin).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Stragglers(pub StragglerParams);

pub static DESCRIPTOR: Descriptor = descriptor!(
    "mysql.stragglers",
    Stragglers,
    "list the client connections still on the old MySQL/MariaDB server after a swap (user, address, database, for how long); wait for them, fail above max"
);

#[async_trait(?Send)]
impl Action for Stragglers {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn endpoints(&self) -> Vec<String> {
        vec![crate::actions::shared::endpoint::database(&self.0.url)]
    }

    fn describe(&self) -> String {
        self.0.describe(&label(&self.0.url))
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let endpoint = Endpoint::parse(&self.0.url)?;
        let conn = tokio::sync::Mutex::new(endpoint.connect().await?);
        let sql = list_sql(&self.0.ignore_roles);
        let sessions =
            stragglers::settle(
                endpoint.label(),
                self.0.max,
                self.0.wait.map(|w| w.0),
                &|p| cx.report(p),
                || async {
                    let rows: Vec<(i64, String, String, String, i64, String)> =
                        conn.lock().await.query(&sql).await.map_err(|e| {
                            anyhow::anyhow!("{}: {}", endpoint.label(), describe(&e))
                        })?;
                    Ok(rows
                        .into_iter()
                        .map(|(id, role, client, db, seconds, state)| Straggler {
                            id,
                            role,
                            client,
                            application: db,
                            seconds: seconds as f64,
                            since: "in this state",
                            state,
                        })
                        .collect())
                },
            )
            .await?;
        Ok(Applied {
            data: stragglers::applied(endpoint.label(), &sessions),
            ..Applied::default()
        })
    }

    // Reads only.
    fn idempotent(&self) -> bool {
        true
    }

    // Reads only.
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}

/// Client connections but this one, replication and the server's own
/// threads, and the ignored users; the longest-running first.
fn list_sql(ignore: &[String]) -> String {
    let ignored: Vec<String> = ["system user", "event_scheduler"]
        .iter()
        .map(|u| literal(u))
        .chain(ignore.iter().map(|u| literal(u)))
        .collect();
    format!(
        "SELECT id, user, host, coalesce(db, ''), time, \
                concat(command, IF(coalesce(state, '') = '', '', concat(': ', state))) \
         FROM information_schema.processlist \
         WHERE id <> CONNECTION_ID() AND command NOT IN {NOT_CLIENTS} AND user NOT IN ({}) \
         ORDER BY time DESC",
        ignored.join(", ")
    )
}
