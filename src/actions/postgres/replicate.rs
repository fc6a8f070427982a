//! `postgres.replicate` and its inverse `postgres.drop_replication`: logical
//! replication from source to target. Checks the prerequisites first and says
//! how to fix each one missing, copies the schema, creates the publication and
//! the subscription, then waits for the initial sync of every table.

use std::time::Duration;

use anyhow::{anyhow, Context};
use schemars::JsonSchema;
use serde::Deserialize;
use tokio_postgres::Client;

use super::connect::{pg, quote_ident, quote_literal, Endpoint};
use super::freeze::label;
use super::tables::{list_tables, Table, TableFilter, INTERNAL_SCHEMA};
use super::tool::Tool;
use crate::actions::{ActionFailure, Applied, Progress, StepContext};

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

/// Parameters of `postgres.drop_replication`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DropReplication {
    /// The publisher.
    pub source: String,
    /// The subscriber.
    pub target: String,
    #[serde(default = "default_name")]
    pub publication: String,
    #[serde(default = "default_name")]
    pub subscription: String,
}

fn default_name() -> String {
    "cutover".to_string()
}

impl Replicate {
    pub fn describe(&self) -> String {
        format!(
            "replicate {} to {} (publication `{}`, subscription `{}`)",
            label(&self.source),
            label(&self.target),
            self.publication,
            self.subscription
        )
    }

    pub async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let source = Endpoint::parse(&self.source)?;
        let target = Endpoint::parse(&self.target)?;
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
            let schema = Tool::new("pg_dump", &source)
                .args(args)
                .run(cx, None)
                .await
                .context("failed to dump the schema of the source")?;
            Tool::new("psql", &target)
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
            src.batch_execute(&format!(
                "CREATE PUBLICATION {} FOR {what}",
                quote_ident(&self.publication)
            ))
            .await
            .map_err(pg)
            .context("failed to create the publication")?;
        }
        if !subscribed {
            cx.report(Progress::Status("creating the subscription".into()));
            dst.batch_execute(&format!(
                "CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {}",
                quote_ident(&self.subscription),
                quote_literal(&source.conninfo()),
                quote_ident(&self.publication)
            ))
            .await
            .map_err(pg)
            .context("failed to create the subscription")?;
        }
        let synced = wait_for_sync(&dst, &self.subscription, cx).await?;
        Ok(Applied {
            data: serde_json::json!({
                "publication": self.publication,
                "subscription": self.subscription,
                "tables": synced,
            }),
            ..Applied::default()
        })
    }

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

    pub fn inverse(&self) -> DropReplication {
        DropReplication {
            source: self.source.clone(),
            target: self.target.clone(),
            publication: self.publication.clone(),
            subscription: self.subscription.clone(),
        }
    }
}

/// Tables whose replica identity is the default but which have no primary key.
pub(super) async fn without_identity(
    client: &Client,
    tables: &[Table],
) -> anyhow::Result<Vec<Table>> {
    let rows = client
        .query(
            "SELECT n.nspname::text, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind = 'r' AND c.relreplident = 'd'
               AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)",
            &[],
        )
        .await
        .map_err(pg)?;
    let bare: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    Ok(tables
        .iter()
        .filter(|t| bare.contains(&(t.schema.clone(), t.name.clone())))
        .cloned()
        .collect())
}

pub(super) async fn exists(
    client: &Client,
    catalog: &str,
    column: &str,
    name: &str,
) -> anyhow::Result<bool> {
    Ok(client
        .query_opt(
            &format!("SELECT 1 FROM {catalog} WHERE {column} = $1"),
            &[&name],
        )
        .await
        .map_err(pg)?
        .is_some())
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

impl DropReplication {
    pub fn describe(&self) -> String {
        format!(
            "drop subscription `{}` on {} and publication `{}` on {}",
            self.subscription,
            label(&self.target),
            self.publication,
            label(&self.source)
        )
    }

    pub async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let source = Endpoint::parse(&self.source)?;
        let target = Endpoint::parse(&self.target)?;
        let dst = target.connect().await?;
        let sub = quote_ident(&self.subscription);
        let mut dropped = Vec::new();
        if exists(&dst, "pg_subscription", "subname", &self.subscription).await? {
            // DROP SUBSCRIPTION also drops the slot on the publisher; when the
            // publisher is unreachable, detach the slot and drop it below.
            if let Err(error) = dst.batch_execute(&format!("DROP SUBSCRIPTION {sub}")).await {
                cx.report(Progress::Status(format!(
                    "could not drop the subscription with its slot ({}); detaching the slot",
                    super::connect::describe(&error)
                )));
                dst.batch_execute(&format!(
                    "ALTER SUBSCRIPTION {sub} DISABLE; ALTER SUBSCRIPTION {sub} SET (slot_name = NONE); DROP SUBSCRIPTION {sub}"
                ))
                .await
                .map_err(pg)
                .context("failed to drop the subscription")?;
            }
            dropped.push(format!("subscription {}", self.subscription));
        }
        let src = source.connect().await?;
        if exists(&src, "pg_publication", "pubname", &self.publication).await? {
            src.batch_execute(&format!(
                "DROP PUBLICATION {}",
                quote_ident(&self.publication)
            ))
            .await
            .map_err(pg)
            .context("failed to drop the publication")?;
            dropped.push(format!("publication {}", self.publication));
        }
        let slot = src
            .query(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active",
                &[&self.subscription],
            )
            .await
            .map_err(pg)
            .context("failed to drop the replication slot")?;
        if !slot.is_empty() {
            dropped.push(format!("slot {}", self.subscription));
        }
        cx.report(Progress::Status(if dropped.is_empty() {
            "nothing to drop".to_string()
        } else {
            format!("dropped {}", dropped.join(", "))
        }));
        Ok(Applied {
            data: serde_json::json!({ "dropped": dropped }),
            ..Applied::default()
        })
    }
}
