//! `postgres.stragglers`: the client sessions still connected to the old
//! server after the swap — role, client address, application name, since
//! when — waited for with `wait`, failing above `max`. `haproxy.swap` counts
//! the sessions left on the proxy; this is the database's side of it.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::connect::{label, pg, Endpoint};
use crate::actions::shared::stragglers::{self, Straggler, StragglerParams};
use crate::actions::{descriptor, Action, ActionFailure, Applied, Descriptor, StepContext};

/// Parameters of the action (shared with the other engine's twin).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Stragglers(pub StragglerParams);

pub static DESCRIPTOR: Descriptor = descriptor!(
    "postgres.stragglers",
    Stragglers,
    "list the client sessions still on the old server after a swap (role, address, application, since when); wait for them, fail above max"
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
        let client = endpoint.connect().await?;
        let sessions = stragglers::settle(
            endpoint.label(),
            self.0.max,
            self.0.wait.map(|w| w.0),
            &|p| cx.report(p),
            || list(&client, &self.0.ignore_roles),
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

/// Client backends of the whole server but cutover's own sessions
/// (`application_name` `cutover`) and the ignored roles, oldest first.
async fn list(
    client: &tokio_postgres::Client,
    ignore_roles: &[String],
) -> anyhow::Result<Vec<Straggler>> {
    let rows = client
        .query(
            "SELECT pid, coalesce(usename::text, '?'),
                    CASE WHEN client_addr IS NULL THEN 'local'
                         ELSE host(client_addr) || ':' || coalesce(client_port, 0) END,
                    coalesce(application_name, ''),
                    coalesce(extract(epoch FROM now() - backend_start), 0)::float8,
                    coalesce(state, 'unknown')
             FROM pg_stat_activity
             WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
               AND coalesce(application_name, '') <> 'cutover'
               AND NOT (coalesce(usename::text, '') = ANY($1))
             ORDER BY backend_start",
            &[&ignore_roles],
        )
        .await
        .map_err(pg)?;
    Ok(rows
        .iter()
        .map(|r| Straggler {
            id: i64::from(r.get::<_, i32>(0)),
            role: r.get(1),
            client: r.get(2),
            application: r.get(3),
            seconds: r.get(4),
            since: "connected",
            state: r.get(5),
        })
        .collect())
}
