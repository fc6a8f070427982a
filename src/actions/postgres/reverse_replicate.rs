//! `postgres.reverse_replicate`: after the swap, logical replication from the new primary (the cutover's
//! target) back to the old one (its source), so that going back after the
//! point of no return loses no write. The old side keeps refusing the
//! application — the roles `postgres.read_only` took LOGIN from stay without
//! it — while the subscription's apply worker is let write. Its inverse is
//! `postgres.drop_reverse_replication`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use tokio_postgres::Client;

use super::catalog::{exists, without_identity};
use super::connect::{label, pg, quote_ident, quote_literal, Endpoint};
use super::drop_reverse_replication::DropReverseReplication;
use super::freeze::recorded_roles;
use super::replicate::Replicate;
use super::tables::{list_tables, Table};
use crate::actions::shared::tables::TableFilter;
use crate::actions::{
    descriptor, Action, ActionFailure, ActionRef, Applied, Descriptor, Progress, StepContext,
};

/// How long the apply worker may take to start.
const WORKER_START: Duration = Duration::from_secs(30);

/// Parameters of `postgres.reverse_replicate`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReverseReplicate {
    /// The cutover's source: the old primary, frozen, which receives the writes.
    pub source: String,
    /// The cutover's target: the new primary, which publishes them.
    pub target: String,
    /// Publication name on the target (default `cutover_reverse`).
    #[serde(default = "default_name")]
    pub publication: String,
    /// Subscription name on the source, also the slot's on the target (default `cutover_reverse`).
    #[serde(default = "default_name")]
    pub subscription: String,
    /// Which tables to replicate back (default: all, as `FOR ALL TABLES`).
    #[serde(default)]
    pub tables: TableFilter,
    /// Give tables without a primary key `REPLICA IDENTITY FULL` on the target.
    #[serde(default)]
    pub replica_identity_full: bool,
}

fn default_name() -> String {
    "cutover_reverse".to_string()
}

impl ReverseReplicate {
    /// The same checks as a forward replication from the target to the source.
    fn as_replicate(&self) -> Replicate {
        Replicate {
            source: self.target.clone(),
            target: self.source.clone(),
            publication: self.publication.clone(),
            subscription: self.subscription.clone(),
            tables: self.tables.clone(),
            replica_identity_full: self.replica_identity_full,
        }
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "postgres.reverse_replicate",
    ReverseReplicate,
    "after the swap, replicate the new primary back to the old one (kept frozen for the application) so going back loses no write"
);

#[async_trait(?Send)]
impl Action for ReverseReplicate {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn endpoints(&self) -> Vec<String> {
        vec![
            crate::actions::shared::endpoint::database(&self.source),
            crate::actions::shared::endpoint::database(&self.target),
        ]
    }

    fn describe(&self) -> String {
        format!(
            "replicate {} back to {} (publication `{}`, subscription `{}`, no initial copy); {} stays frozen for the application",
            label(&self.target),
            label(&self.source),
            self.publication,
            self.subscription,
            label(&self.source)
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let old = Endpoint::parse(&self.source)?;
        let new = Endpoint::parse(&self.target)?;
        // Before any change: an IAM primary cannot be subscribed to.
        let conninfo = new.conninfo()?;
        let (old_db, new_db) = tokio::try_join!(old.connect(), new.connect())?;
        let tables = list_tables(&new_db, &self.tables).await?;
        let frozen = frozen_roles(&old_db, &old).await?;
        let subscribed = exists(&old_db, "pg_subscription", "subname", &self.subscription).await?;
        if !subscribed {
            refuse_a_loop(&new_db, &new).await?;
            let forward = self.as_replicate();
            forward
                .check(&new_db, &old_db, &new, &tables)
                .await
                .with_context(|| {
                    format!(
                        "in reverse, the publisher (\"source\" above) is the new primary {} and the subscriber (\"target\") the old one {}",
                        new.label(),
                        old.label()
                    )
                })?;
            missing_on_old(&old_db, &tables, &old).await?;
        }
        if self.replica_identity_full {
            for table in without_identity(&new_db, &tables).await? {
                new_db
                    .batch_execute(&format!(
                        "ALTER TABLE {} REPLICA IDENTITY FULL",
                        table.qualified()
                    ))
                    .await
                    .map_err(pg)
                    .with_context(|| {
                        format!("failed to set REPLICA IDENTITY FULL on {}", table.display())
                    })?;
            }
        }
        if !exists(&new_db, "pg_publication", "pubname", &self.publication).await? {
            let what = if self.tables.is_everything() {
                "ALL TABLES".to_string()
            } else if tables.is_empty() {
                return Err(anyhow!("no table of the target matches `tables`").into());
            } else {
                let names: Vec<String> = tables.iter().map(Table::qualified).collect();
                format!("TABLE {}", names.join(", "))
            };
            new_db
                .batch_execute(&format!(
                    "CREATE PUBLICATION {} FOR {what}",
                    quote_ident(&self.publication)
                ))
                .await
                .map_err(pg)
                .context("failed to create the publication on the target")?;
        }
        // The database stays read-only by default for everyone else; the
        // subscription's owner (whose role the apply worker runs as) is exempt.
        old_db
            .batch_execute(&format!(
                "ALTER ROLE CURRENT_USER IN DATABASE {} SET default_transaction_read_only = off",
                quote_ident(old.dbname())
            ))
            .await
            .map_err(pg)
            .context("failed to let the apply worker write on the source")?;
        if !subscribed {
            cx.report(Progress::Status(format!(
                "creating subscription `{}` on {} (slot on {}, no initial copy)",
                self.subscription,
                old.label(),
                new.label()
            )));
            old_db
                .batch_execute(&format!(
                    "CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {} WITH (copy_data = false)",
                    quote_ident(&self.subscription),
                    quote_literal(&conninfo),
                    quote_ident(&self.publication)
                ))
                .await
                .map_err(pg)
                .context("failed to create the subscription on the source")?;
        }
        wait_for_worker(&old_db, &new_db, &self.subscription).await?;
        cx.report(Progress::Status(format!(
            "replicating {} back to {}: {} table(s); the application stays locked out of the source ({})",
            new.label(),
            old.label(),
            tables.len(),
            frozen.join(", ")
        )));
        Ok(Applied {
            data: serde_json::json!({
                "publication": self.publication,
                "subscription": self.subscription,
                "tables": tables.len(),
                "frozen_roles": frozen,
            }),
            ..Applied::default()
        })
    }

    fn inverse(&self) -> Option<ActionRef> {
        Some(Arc::new(DropReverseReplication {
            source: self.source.clone(),
            target: self.target.clone(),
            publication: self.publication.clone(),
            subscription: self.subscription.clone(),
        }))
    }

    // Finds the publication and subscription an earlier attempt made and goes on.
    fn idempotent(&self) -> bool {
        true
    }

    // `postgres.drop_reverse_replication` drops the publication, subscription and slot by name, each only if it is there: whatever part got made.
    fn undoes_partial_failure(&self) -> bool {
        true
    }
}

/// The roles `postgres.read_only` froze on the source, each still without
/// LOGIN; refuses a source that is not frozen.
async fn frozen_roles(client: &Client, old: &Endpoint) -> anyhow::Result<Vec<String>> {
    let roles = recorded_roles(client, old.dbname()).await?;
    if roles.is_empty() {
        return Err(anyhow!(
            "the source {} is not frozen: the application could write to it while it receives the target's writes (hint: run `postgres.read_only` with the application's `roles` on it first)",
            old.label()
        ));
    }
    let thawed: Vec<String> = client
        .query(
            "SELECT rolname::text FROM pg_roles WHERE rolname = ANY($1) AND rolcanlogin ORDER BY 1",
            &[&roles],
        )
        .await
        .map_err(pg)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !thawed.is_empty() {
        return Err(anyhow!(
            "role(s) {} can log in to the source again, although `postgres.read_only` froze them: the application could write there (hint: `ALTER ROLE … NOLOGIN`, or run `postgres.read_only` again)",
            thawed.join(", ")
        ));
    }
    Ok(roles)
}

/// Both directions at once would send every change back and forth.
async fn refuse_a_loop(new_db: &Client, new: &Endpoint) -> anyhow::Result<()> {
    let names: Vec<String> = new_db
        .query(
            "SELECT subname::text FROM pg_subscription
             WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY 1",
            &[],
        )
        .await
        .map_err(pg)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    Err(anyhow!(
        "the target {} still subscribes ({}): replicating back at the same time would send every change back and forth (hint: end the forward replication first with `postgres.drop_replication`)",
        new.label(),
        names.join(", ")
    ))
}

/// Every table to replicate must exist on the old side: it is not created.
async fn missing_on_old(old_db: &Client, tables: &[Table], old: &Endpoint) -> anyhow::Result<()> {
    let present = list_tables(old_db, &TableFilter::default()).await?;
    let missing: Vec<String> = tables
        .iter()
        .filter(|t| {
            !present
                .iter()
                .any(|p| p.schema == t.schema && p.name == t.name)
        })
        .map(Table::display)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(anyhow!(
        "the source {} lacks table(s) {} that the target has: create them there first (or leave them out with `tables`)",
        old.label(),
        missing.join(", ")
    ))
}

/// Waits until the apply worker runs and the slot on the target is in use.
async fn wait_for_worker(
    old_db: &Client,
    new_db: &Client,
    subscription: &str,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let worker = old_db
            .query_opt(
                "SELECT 1 FROM pg_stat_subscription WHERE subname = $1 AND pid IS NOT NULL AND relid IS NULL",
                &[&subscription],
            )
            .await
            .map_err(pg)?
            .is_some();
        let slot = new_db
            .query_opt(
                "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active",
                &[&subscription],
            )
            .await
            .map_err(pg)?
            .is_some();
        if worker && slot {
            return Ok(());
        }
        if started.elapsed() > WORKER_START {
            return Err(anyhow!(
                "the subscription `{subscription}` did not start within {} s (apply worker {}, slot {}): see the source's server log",
                WORKER_START.as_secs(),
                if worker { "running" } else { "not running" },
                if slot { "active" } else { "not active" }
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
