//! `postgres.replicate`: logical replication from source to target; its
//! inverse is `postgres.drop_replication`. Checks the prerequisites first and says
//! how to fix each one missing, copies the schema, creates the publication and
//! the subscription, then waits for the initial sync of every table.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use tokio_postgres::Client;

use super::catalog::{exists, subscription_oid, without_identity};
use super::connect::{label, pg, quote_ident, quote_literal, Endpoint};
use super::drop_replication::{
    DropReplication, NOTE_PUBLICATION, NOTE_SLOT, NOTE_SUBSCRIPTION, NOTE_SUBSCRIPTION_OID,
};
use super::schema_guard;
use super::tables::{list_tables, Table, INTERNAL_SCHEMA};
use super::tool::tool;
use crate::actions::shared::tables::TableFilter;
use crate::actions::{
    descriptor, Action, ActionFailure, ActionRef, Applied, Descriptor, Progress, StepContext,
};

/// Parameters of `postgres.replicate`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Replicate {
    /// The publisher (the database in service now).
    pub source: String,
    /// The subscriber (the new database).
    pub target: String,
    /// Publication name on the source (default `cutover`).
    #[serde(default = "default_name")]
    pub publication: String,
    /// Subscription name on the target, also the replication slot's (default `cutover`).
    #[serde(default = "default_name")]
    pub subscription: String,
    /// Which tables to replicate (default: all, as `FOR ALL TABLES`).
    #[serde(default)]
    pub tables: TableFilter,
    /// Give tables without a primary key `REPLICA IDENTITY FULL` on the source
    /// (otherwise they are a problem: their UPDATEs and DELETEs would fail).
    #[serde(default)]
    pub replica_identity_full: bool,
}

fn default_name() -> String {
    "cutover".to_string()
}

impl Replicate {
    /// Every missing prerequisite, each with its fix, in one error.
    pub(super) async fn check(
        &self,
        src: &Client,
        dst: &Client,
        source: &Endpoint,
        tables: &[Table],
    ) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        let wal_level: String = src
            .query_one("SHOW wal_level", &[])
            .await
            .map_err(pg)?
            .get(0);
        if wal_level != "logical" {
            problems.push(format!(
                "the source has `wal_level = {wal_level}`; logical replication needs `logical`: run `ALTER SYSTEM SET wal_level = logical` on the source and restart it"
            ));
        }
        let row = src
            .query_one(
                "SELECT current_setting('max_replication_slots')::int - (SELECT count(*) FROM pg_replication_slots)::int,
                        current_setting('max_wal_senders')::int
                          - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender')::int,
                        (SELECT rolsuper OR rolreplication FROM pg_roles WHERE rolname = current_user),
                        (SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1)::int",
                &[&self.subscription],
            )
            .await
            .map_err(pg)?;
        let (slots, senders, may_replicate, slot_taken): (i32, i32, bool, i32) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        if slots < 1 {
            problems.push("the source has no free replication slot: raise `max_replication_slots` (and restart) or drop an unused slot (`pg_replication_slots`)".to_string());
        }
        if senders < 1 {
            problems.push(
                "the source has no free WAL sender: raise `max_wal_senders` and restart it"
                    .to_string(),
            );
        }
        if !may_replicate {
            problems.push(format!(
                "role `{}` may not replicate: `ALTER ROLE {} REPLICATION` on the source",
                source.user(),
                quote_ident(source.user())
            ));
        }
        if slot_taken > 0 {
            problems.push(format!(
                "a replication slot `{}` already exists on the source: drop it (`SELECT pg_drop_replication_slot('{}')`) or choose another `subscription`",
                self.subscription, self.subscription
            ));
        }
        let superuser: bool = dst
            .query_one(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
                &[],
            )
            .await
            .map_err(pg)?
            .get(0);
        if !superuser {
            problems.push("CREATE SUBSCRIPTION needs a superuser on the target (PostgreSQL 16+: a member of `pg_create_subscription`)".to_string());
        }
        if !self.replica_identity_full {
            let bare = without_identity(src, tables).await?;
            if !bare.is_empty() {
                let names: Vec<String> = bare.iter().map(Table::display).collect();
                problems.push(format!(
                    "table(s) without a primary key or replica identity: {}; their UPDATEs and DELETEs would fail on the source while published: `ALTER TABLE … REPLICA IDENTITY FULL` (or set `replica_identity_full: true`)",
                    names.join(", ")
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(anyhow!(
                "logical replication cannot start:\n  - {}",
                problems.join("\n  - ")
            ))
        }
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "postgres.replicate",
    Replicate,
    "logical replication source → target: checks, schema, publication, subscription, initial sync"
);

#[async_trait(?Send)]
impl Action for Replicate {
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
            "replicate {} to {} (publication `{}`, subscription `{}`)",
            label(&self.source),
            label(&self.target),
            self.publication,
            self.subscription
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let source = Endpoint::parse(&self.source)?;
        let target = Endpoint::parse(&self.target)?;
        // Before any change: an IAM source cannot be subscribed to.
        let conninfo = source.conninfo()?;
        let (src, dst) = tokio::try_join!(source.connect(), target.connect())?;
        let tables = list_tables(&src, &self.tables).await?;
        let subscribed = exists(&dst, "pg_subscription", "subname", &self.subscription).await?;
        if !subscribed {
            self.check(&src, &dst, &source, &tables).await?;
        }
        if self.replica_identity_full {
            for table in without_identity(&src, &tables).await? {
                src.batch_execute(&format!(
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
        if list_tables(&dst, &TableFilter::default()).await?.is_empty() {
            cx.report(Progress::Status("copying the schema".into()));
            let mut args = vec![
                "--schema-only".to_string(),
                format!("--exclude-schema={INTERNAL_SCHEMA}"),
            ];
            let all = list_tables(&src, &TableFilter::default()).await?;
            // By name: sizes change under load between the two listings.
            let chosen = |t: &&super::tables::Table| {
                tables
                    .iter()
                    .any(|k| k.schema == t.schema && k.name == t.name)
            };
            for table in all.iter().filter(|t| !chosen(t)) {
                args.push(format!("--exclude-table={}", table.qualified()));
            }
            let schema = tool("pg_dump", &source)
                .args(args)
                .run(cx, None)
                .await
                .context("failed to dump the schema of the source")?;
            tool("psql", &target)
                .args([
                    "-X",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "--single-transaction",
                    "-f",
                    "-",
                ])
                .run(cx, Some(&schema))
                .await
                .context("failed to create the schema on the target")?;
        }
        if !exists(&src, "pg_publication", "pubname", &self.publication).await? {
            let what = if self.tables.is_everything() {
                "ALL TABLES".to_string()
            } else if tables.is_empty() {
                return Err(anyhow!("no table of the source matches `tables`").into());
            } else {
                let names: Vec<String> = tables.iter().map(Table::qualified).collect();
                format!("TABLE {}", names.join(", "))
            };
            // Noted before it exists: an undo after a failure or a crash from
            // here on drops it.
            cx.note(serde_json::json!({ (NOTE_PUBLICATION): self.publication }))?;
            src.batch_execute(&format!(
                "CREATE PUBLICATION {} FOR {what}",
                quote_ident(&self.publication)
            ))
            .await
            .map_err(pg)
            .context("failed to create the publication")?;
        }
        // The DDL guard's reference: the schema as the target receives it.
        let fingerprint = schema_guard::record(&src, &self.publication).await?;
        if !subscribed {
            cx.report(Progress::Status("creating the subscription".into()));
            // CREATE SUBSCRIPTION makes the slot on the source before it
            // commits on the target: both are noted first, so a half-made
            // subscription still leaves its slot's name in the journal.
            cx.note(serde_json::json!({
                (NOTE_SUBSCRIPTION): self.subscription,
                (NOTE_SLOT): self.subscription,
            }))?;
            dst.batch_execute(&format!(
                "CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {}",
                quote_ident(&self.subscription),
                quote_literal(&conninfo),
                quote_ident(&self.publication)
            ))
            .await
            .map_err(pg)
            .context("failed to create the subscription")?;
        }
        // Its table-sync slots on the source are named after its oid
        // (`pg_<oid>_sync_<table>_<system>`): the undo finds them by it.
        if let Some(oid) = subscription_oid(&dst, &self.subscription).await? {
            if cx.recall(NOTE_SUBSCRIPTION_OID) != Some(&serde_json::json!(oid)) {
                cx.note(serde_json::json!({ (NOTE_SUBSCRIPTION_OID): oid }))?;
            }
        }
        let synced = wait_for_sync(&dst, &self.subscription, cx).await?;
        // The initial sync read the tables in scope (sizes as they were
        // listed before it started); a resumed step's subscription synced
        // them earlier, but they are what a fresh run would move.
        let moved = super::tables::moved(&tables);
        Ok(Applied {
            data: moved.into_data(serde_json::json!({
                "publication": self.publication,
                "subscription": self.subscription,
                "tables": synced,
                "schema_fingerprint": schema_guard::summary(&fingerprint),
            })),
            ..Applied::default()
        })
    }

    // The initial sync reads every table in scope.
    async fn measure(&self) -> Option<anyhow::Result<crate::actions::shared::moved::Moved>> {
        Some(super::measure::measure_tables(&self.source, &self.tables).await)
    }

    fn inverse(&self) -> Option<ActionRef> {
        Some(Arc::new(DropReplication {
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

    // Every object is noted before it is made, and `postgres.drop_replication`
    // drops exactly what the notes name: a half-done replicate is undone too.
    fn undoes_partial_failure(&self) -> bool {
        true
    }
}

/// Waits until every table of the subscription is `ready`; fails as soon as
/// the subscriber reports a sync error.
async fn wait_for_sync(
    dst: &Client,
    subscription: &str,
    cx: &StepContext<'_>,
) -> anyhow::Result<usize> {
    let started = std::time::Instant::now();
    let mut last = String::new();
    loop {
        let rows = dst
            .query(
                "SELECT r.srsubstate::text, count(*)::bigint FROM pg_subscription_rel r
                 JOIN pg_subscription s ON s.oid = r.srsubid WHERE s.subname = $1 GROUP BY 1",
                &[&subscription],
            )
            .await
            .map_err(pg)?;
        let states: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let total: i64 = states.iter().map(|s| s.1).sum();
        let ready: i64 = states.iter().filter(|s| s.0 == "r").map(|s| s.1).sum();
        cx.report(Progress::Amount {
            done: ready as u64,
            total: Some(total as u64),
            unit: "tables",
        });
        let line = format!(
            "initial sync: {ready} of {total} tables ready ({})",
            states
                .iter()
                .map(|(s, n)| format!("{n} {}", state_name(s)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if line != last {
            cx.report(Progress::Status(line.clone()));
            last = line;
        }
        if total > 0 && ready == total {
            cx.report(Progress::Status(format!(
                "initial sync done in {:.2} s",
                started.elapsed().as_secs_f64()
            )));
            return Ok(total as usize);
        }
        let errors: i64 = dst
            .query_opt(
                "SELECT sync_error_count + apply_error_count FROM pg_stat_subscription_stats WHERE subname = $1",
                &[&subscription],
            )
            .await
            .map_err(pg)?
            .map(|r| r.get(0))
            .unwrap_or(0);
        if errors > 0 {
            return Err(anyhow!(
                "the subscriber reports {errors} replication error(s) (see the target's server log; a duplicate key means the target's tables were not empty)"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn state_name(state: &str) -> &'static str {
    match state {
        "i" => "starting",
        "d" => "copying",
        "f" | "s" => "catching up",
        "r" => "ready",
        _ => "unknown",
    }
}
