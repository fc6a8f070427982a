//! `mysql.prewarm`: read every chosen table's primary index (its rows) and
//! each secondary index once, so a server whose blocks are cold — an RDS
//! instance restored from a snapshot loads each block lazily on first touch;
//! a restarted server has an empty buffer pool — has them before the
//! application does. Full scans forced onto one index at a time, with
//! progress, up to a byte budget.

use std::time::Instant;

use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use schemars::JsonSchema;
use serde::Deserialize;

use super::catalog::{list_tables, quote};
use super::connect::Endpoint;
use crate::actions::shared::tables::TableFilter;
use crate::actions::shared::units::{human_bytes, ByteSize};
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};

/// Parameters of `mysql.prewarm`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MysqlPrewarm {
    /// The server and database to warm (`mysql://user:password@host:port/db`).
    pub url: String,
    /// Which tables (default: every table of the database).
    #[serde(default)]
    pub tables: TableFilter,
    /// Read at most this much (`20GB`); the largest tables come first.
    #[serde(default)]
    pub budget: Option<ByteSize>,
}

/// One index of one table, with its size on disk.
struct Index {
    table: String,
    name: String,
    bytes: u64,
}

impl MysqlPrewarm {
    async fn run(&self, cx: &StepContext<'_>) -> anyhow::Result<serde_json::Value> {
        let endpoint = Endpoint::parse(&self.url.replacen("mariadb://", "mysql://", 1))?;
        let mut conn = endpoint.connect().await?;
        let db = endpoint.db().to_string();
        let tables = list_tables(&mut conn, &endpoint, &db, &self.tables).await?;
        // Each table's indexes, and InnoDB's own size of each when its
        // persistent statistics have one.
        let names: Vec<(String, String)> = conn
            .exec(
                "SELECT DISTINCT table_name, index_name FROM information_schema.statistics
                  WHERE table_schema = ?",
                (&db,),
            )
            .await
            .map_err(|e| {
                anyhow::anyhow!("failed to list the indexes on {}: {e}", endpoint.label())
            })?;
        let sizes: Vec<(String, String, u64)> = conn
            .exec(
                "SELECT table_name, index_name, stat_value * @@innodb_page_size
                   FROM mysql.innodb_index_stats
                  WHERE database_name = ? AND stat_name = 'size'",
                (&db,),
            )
            .await
            .unwrap_or_default();
        let size_of = |table: &str, index: &str| {
            sizes
                .iter()
                .find(|(t, i, _)| t == table && i == index)
                .map(|(_, _, bytes)| *bytes)
        };
        let mut indexes = Vec::new();
        for table in &tables {
            let secondary: Vec<&String> = names
                .iter()
                .filter(|(t, i)| *t == table.name && i != "PRIMARY")
                .map(|(_, i)| i)
                .collect();
            let has_primary = names
                .iter()
                .any(|(t, i)| *t == table.name && i == "PRIMARY");
            // The rows first: the clustered index (PRIMARY, or InnoDB's hidden one).
            let rows_index = if has_primary {
                "PRIMARY"
            } else {
                "GEN_CLUST_INDEX"
            };
            let rows_bytes = size_of(&table.name, rows_index).unwrap_or(table.bytes);
            indexes.push(Index {
                table: table.name.clone(),
                name: rows_index.into(),
                bytes: rows_bytes,
            });
            for name in secondary {
                indexes.push(Index {
                    table: table.name.clone(),
                    name: name.clone(),
                    bytes: size_of(&table.name, name).unwrap_or(0),
                });
            }
        }
        let total: u64 = indexes.iter().map(|i| i.bytes).sum();
        let planned = self.budget.map_or(total, |b| b.0.min(total));
        let started = Instant::now();
        let mut done = 0u64;
        let mut warmed = 0usize;
        let mut cut = Vec::new();
        for index in &indexes {
            let what = format!("{}.{} index {}", db, index.table, index.name);
            if done + index.bytes > planned && done > 0 {
                cut.push(what);
                continue;
            }
            cx.report(Progress::Status(format!(
                "reading {what} ({})",
                human_bytes(index.bytes)
            )));
            // GEN_CLUST_INDEX is InnoDB's hidden key of a table without one:
            // a scan that may use no index reads it (COUNT(*) would otherwise
            // pick the smallest secondary index).
            let hint = if index.name == "GEN_CLUST_INDEX" {
                " USE INDEX ()".to_string()
            } else {
                format!(" FORCE INDEX ({})", quote(&index.name))
            };
            let sql = format!(
                "SELECT COUNT(*) FROM {}.{}{hint}",
                quote(&db),
                quote(&index.table)
            );
            let _: Option<u64> = conn.query_first(sql).await.map_err(|e| {
                anyhow::anyhow!("failed to read {what} on {}: {e}", endpoint.label())
            })?;
            done += index.bytes;
            warmed += 1;
            cx.report(Progress::Amount {
                done,
                total: Some(planned),
                unit: "bytes",
            });
        }
        let _ = conn.disconnect().await;
        let seconds = started.elapsed().as_secs_f64();
        cx.report(Progress::Output(format!(
            "read {} in {warmed} index(es) in {seconds:.1}s ({}/s){}",
            human_bytes(done),
            human_bytes((done as f64 / seconds.max(0.001)) as u64),
            if cut.is_empty() {
                String::new()
            } else {
                format!("; over the budget: {}", cut.join(", "))
            }
        )));
        // What it read: the bytes of the indexes scanned.
        let moved = crate::actions::shared::moved::Moved {
            bytes: done,
            rows: 0,
            tables: tables.len() as u64,
        };
        Ok(moved.into_data(serde_json::json!({
            "method": "full index scans",
            "bytes": done,
            "indexes": warmed,
            "over_budget": cut,
            "seconds": seconds,
        })))
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "mysql.prewarm",
    MysqlPrewarm,
    "read every table's primary and secondary indexes once so a restored or restarted server is warm before traffic arrives"
);

#[async_trait(?Send)]
impl Action for MysqlPrewarm {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn describe(&self) -> String {
        format!(
            "prewarm {}{}: read every table's indexes once{}",
            super::connect::label(&self.url),
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

    // Reads only: a second pass reads the same pages again.
    fn idempotent(&self) -> bool {
        true
    }
}
