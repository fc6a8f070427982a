//! `postgres.prewarm`: read every chosen table and index once, so a server
//! whose blocks are cold — an RDS instance restored from a snapshot loads
//! each block lazily from S3 on first touch; any server just restarted has
//! empty shared buffers — has them before the application's first morning
//! queries do. `pg_prewarm` when the extension is installed (tables, their
//! TOAST and every index), sequential reads otherwise (tables only), in
//! chunks with progress, up to a byte budget.

use std::time::Instant;

use anyhow::Context;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use tokio_postgres::Client;

use super::connect::{label, pg, Endpoint};
use super::tables::list_tables;
use crate::actions::shared::tables::TableFilter;
use crate::actions::shared::units::{human_bytes, ByteSize};
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};

/// Blocks read per call: 128 MiB of 8 KiB blocks, so progress moves and a
/// cancel is seen between calls.
const CHUNK_BLOCKS: i64 = 16_384;

/// Where the blocks go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrewarmMode {
    /// Into shared buffers (`pg_prewarm`'s `buffer`): the warmest, bounded by
    /// `shared_buffers`.
    #[default]
    Buffer,
    /// Read through the operating system (`read`): fetches lazily loaded
    /// blocks from storage and fills the OS cache, whatever `shared_buffers` is.
    Read,
}

/// Parameters of `postgres.prewarm`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostgresPrewarm {
    /// The server to warm (`postgres://user:password@host:port/db`).
    pub url: String,
    /// Which tables (default: every table of the database); their indexes
    /// and TOAST come with them.
    #[serde(default)]
    pub tables: TableFilter,
    /// Read at most this much (`20GB`); the largest tables come first.
    #[serde(default)]
    pub budget: Option<ByteSize>,
    /// `buffer` (default) or `read`.
    #[serde(default)]
    pub mode: PrewarmMode,
}

/// One relation to read: a table, its TOAST table or an index.
#[derive(Debug, Clone)]
struct Relation {
    oid: u32,
    name: String,
    blocks: i64,
    /// The table a sequential read goes through (tables only).
    table: Option<String>,
}

const BLOCK: i64 = 8192;

async fn relations(
    client: &Client,
    filter: &TableFilter,
    with_indexes: bool,
) -> anyhow::Result<Vec<Relation>> {
    let tables = list_tables(client, filter).await?;
    let mut chosen = Vec::new();
    for table in tables {
        let rows = client
            .query(
                "SELECT c.oid, c.relname::text, 'index', pg_relation_size(c.oid) / current_setting('block_size')::bigint
                   FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                  WHERE i.indrelid = $1::text::regclass
                 UNION ALL
                 SELECT t.oid, t.relname::text, 'toast', pg_relation_size(t.oid) / current_setting('block_size')::bigint
                   FROM pg_class r JOIN pg_class t ON t.oid = r.reltoastrelid
                  WHERE r.oid = $1::text::regclass
                 UNION ALL
                 SELECT r.oid, r.relname::text, 'table', pg_relation_size(r.oid) / current_setting('block_size')::bigint
                   FROM pg_class r WHERE r.oid = $1::text::regclass",
                &[&table.qualified()],
            )
            .await
            .map_err(pg)
            .with_context(|| format!("failed to list the relations of {}", table.display()))?;
        for row in rows {
            let kind: &str = row.get(2);
            let kind = match kind {
                "index" => "index",
                "toast" => "TOAST",
                _ => "table",
            };
            if !with_indexes && kind != "table" {
                continue;
            }
            let name: String = row.get(1);
            chosen.push(Relation {
                oid: row.get(0),
                name: if kind == "table" {
                    table.display()
                } else {
                    format!("{name} ({kind} of {})", table.display())
                },
                blocks: row.get(3),
                table: (kind == "table").then(|| table.qualified()),
            });
        }
    }
    Ok(chosen)
}

impl PostgresPrewarm {
    async fn run(&self, cx: &StepContext<'_>) -> anyhow::Result<serde_json::Value> {
        let endpoint = Endpoint::parse(&self.url)?;
        let client = endpoint.connect().await?;
        let installed = client
            .query_opt(
                "SELECT 1 FROM pg_extension WHERE extname = 'pg_prewarm'",
                &[],
            )
            .await
            .map_err(pg)?
            .is_some();
        if !installed {
            cx.report(Progress::Output(format!(
                "pg_prewarm is not installed in {} (`CREATE EXTENSION pg_prewarm` warms indexes too): reading the tables sequentially",
                endpoint.label()
            )));
            // Sequential scans only, whatever the planner would like.
            client
                .batch_execute(
                    "SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off",
                )
                .await
                .map_err(pg)?;
        }
        let all = relations(&client, &self.tables, installed).await?;
        let budget_blocks = self.budget.map(|b| (b.0 as i64 / BLOCK).max(0));
        let total_blocks: i64 = all.iter().map(|r| r.blocks).sum();
        let planned = budget_blocks.map_or(total_blocks, |b| b.min(total_blocks));
        let mode = match self.mode {
            PrewarmMode::Buffer => "buffer",
            PrewarmMode::Read => "read",
        };
        let started = Instant::now();
        let mut done: i64 = 0;
        let mut warmed = Vec::new();
        let mut cut = Vec::new();
        for relation in &all {
            let left = planned - done;
            if left <= 0 {
                cut.push(relation.name.clone());
                continue;
            }
            let blocks = relation.blocks.min(left);
            if blocks < relation.blocks {
                cut.push(format!(
                    "{} (first {} of {})",
                    relation.name,
                    human_bytes((blocks * BLOCK) as u64),
                    human_bytes((relation.blocks * BLOCK) as u64)
                ));
            }
            cx.report(Progress::Status(format!(
                "reading {} ({})",
                relation.name,
                human_bytes((blocks * BLOCK) as u64)
            )));
            let mut first = 0;
            while first < blocks {
                let last = (first + CHUNK_BLOCKS).min(blocks) - 1;
                if installed {
                    client
                        .query_one(
                            "SELECT pg_prewarm($1::oid::regclass, $2, 'main', $3, $4)",
                            &[&relation.oid, &mode, &first, &last],
                        )
                        .await
                        .map_err(pg)
                        .with_context(|| format!("failed to prewarm {}", relation.name))?;
                } else if let Some(table) = &relation.table {
                    // A TID range scan (PostgreSQL 14+) reads just these blocks.
                    client
                        .query_one(
                            &format!(
                                "SELECT count(*) FROM {table} WHERE ctid >= '({first},0)'::tid AND ctid < '({},0)'::tid",
                                last + 1
                            ),
                            &[],
                        )
                        .await
                        .map_err(pg)
                        .with_context(|| format!("failed to read {}", relation.name))?;
                }
                done += last - first + 1;
                first = last + 1;
                cx.report(Progress::Amount {
                    done: (done * BLOCK) as u64,
                    total: Some((planned * BLOCK) as u64),
                    unit: "bytes",
                });
            }
            warmed.push(relation.name.clone());
        }
        let seconds = started.elapsed().as_secs_f64();
        let bytes = (done * BLOCK) as u64;
        cx.report(Progress::Output(format!(
            "read {} of {} relation(s) in {:.1}s ({}/s){}",
            human_bytes(bytes),
            warmed.len(),
            seconds,
            human_bytes((bytes as f64 / seconds.max(0.001)) as u64),
            if cut.is_empty() {
                String::new()
            } else {
                format!("; over the budget: {}", cut.join(", "))
            }
        )));
        // What it read: the blocks of every relation warmed (tables, TOAST, indexes).
        let moved = crate::actions::shared::moved::Moved {
            bytes,
            rows: 0,
            tables: warmed.len() as u64,
        };
        Ok(moved.into_data(serde_json::json!({
            "method": if installed { format!("pg_prewarm ({mode})") } else { "sequential reads".to_string() },
            "bytes": bytes,
            "relations": warmed.len(),
            "over_budget": cut,
            "seconds": seconds,
        })))
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "postgres.prewarm",
    PostgresPrewarm,
    "read every table and index once (pg_prewarm, or sequential reads) so a restored or restarted server is warm before traffic arrives"
);

#[async_trait(?Send)]
impl Action for PostgresPrewarm {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn describe(&self) -> String {
        format!(
            "prewarm {}{}: read every table and index once{}",
            label(&self.url),
            if self.tables.is_everything() {
                String::new()
            } else {
                " (chosen tables)".into()
            },
            self.budget
                .map(|b| format!(", at most {}", human_bytes(b.0)))
                .unwrap_or_default()
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let data = self.run(cx).await?;
        Ok(Applied {
            data,
            ..Applied::default()
        })
    }

    // Reads only: nothing to undo.
    fn undoes_partial_failure(&self) -> bool {
        false
    }

    // Reads only: a second pass reads the same blocks again.
    fn idempotent(&self) -> bool {
        true
    }
}
