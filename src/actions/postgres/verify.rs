//! `postgres.verify`: compares two databases table by table — row counts, or
//! with `checksum` an order-independent hash of every row computed inside
//! each database — and fails naming every table that differs. Both sessions
//! are pinned (`session.rs`), so the rows' text is the same on both servers
//! whatever their defaults.

use anyhow::anyhow;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use tokio_postgres::Client;

use super::connect::label;
use super::connect::{pg, quote_ident, Endpoint};
use super::session::connect_pinned;
use super::tables::{list_tables, moved, Table};
use crate::actions::shared::moved::Moved;
use crate::actions::shared::tables::TableFilter;
use crate::actions::shared::verify_mode::VerifyMode;
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};

/// Parameters of `postgres.verify`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    /// The database copied from.
    pub source: String,
    /// The database copied to.
    pub target: String,
    /// `counts` (default) or `checksum`.
    #[serde(default)]
    pub mode: VerifyMode,
    /// Which tables to compare (default: every table of the source).
    #[serde(default)]
    pub tables: TableFilter,
}

/// One side's figures for one table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Figures {
    rows: i64,
    hash: String,
}

/// Each side reads one snapshot of all its tables.
const SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

pub static DESCRIPTOR: Descriptor = descriptor!(
    "postgres.verify",
    Verify,
    "compare row counts (or checksums) of every table of two databases"
);

#[async_trait(?Send)]
impl Action for Verify {
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
        let what = match self.mode {
            VerifyMode::Counts => "row counts",
            VerifyMode::Checksum => "row counts and checksums",
        };
        let scope = self.tables.describe();
        let scope = if scope.is_empty() {
            String::new()
        } else {
            format!(" ({scope})")
        };
        format!(
            "compare {what} of {} and {}{scope}",
            label(&self.source),
            label(&self.target)
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let source = Endpoint::parse(&self.source)?;
        let target = Endpoint::parse(&self.target)?;
        let (src, dst) = tokio::try_join!(connect_pinned(&source), connect_pinned(&target))?;
        tokio::try_join!(src.batch_execute(SNAPSHOT), dst.batch_execute(SNAPSHOT)).map_err(pg)?;
        let tables = list_tables(&src, &self.tables).await?;
        let chosen: Vec<(&str, &str)> = tables
            .iter()
            .map(|t| (t.schema.as_str(), t.name.as_str()))
            .collect();
        self.tables
            .require_matches(&chosen, &format!("the source {}", source.label()))?;
        let present = list_tables(&dst, &self.tables).await?;
        let mut differences = Vec::new();
        let mut rows_total = 0i64;
        for (index, table) in tables.iter().enumerate() {
            cx.report(Progress::Amount {
                done: index as u64,
                total: Some(tables.len() as u64),
                unit: "tables",
            });
            let Some(theirs) = present
                .iter()
                .find(|t| t.schema == table.schema && t.name == table.name)
            else {
                differences.push(format!("{}: missing on the target", table.display()));
                continue;
            };
            let missing: Vec<&str> = table
                .columns
                .iter()
                .filter(|c| !theirs.columns.contains(c))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                differences.push(format!(
                    "{}: the target lacks column(s) {}",
                    table.display(),
                    missing.join(", ")
                ));
                continue;
            }
            let (a, b) = tokio::try_join!(
                figures(&src, table, self.mode),
                figures(&dst, table, self.mode)
            )?;
            rows_total += a.rows;
            let verdict = if a.rows != b.rows {
                Some(format!(
                    "{} rows on the source, {} on the target",
                    a.rows, b.rows
                ))
            } else if a.hash != b.hash {
                Some(format!(
                    "{} rows on both, but their contents differ",
                    a.rows
                ))
            } else {
                None
            };
            match verdict {
                Some(why) => {
                    let line = format!("{}: {why}", table.display());
                    cx.report(Progress::Output(format!("differs  {line}")));
                    differences.push(line);
                }
                None => cx.report(Progress::Output(format!(
                    "same     {}: {} rows",
                    table.display(),
                    a.rows
                ))),
            }
        }
        cx.report(Progress::Amount {
            done: tables.len() as u64,
            total: Some(tables.len() as u64),
            unit: "tables",
        });
        if !differences.is_empty() {
            return Err(anyhow!(
                "{} of {} tables differ: {}",
                differences.len(),
                tables.len(),
                differences.join("; ")
            )
            .into());
        }
        let data = serde_json::json!({
            "tables": tables.len(),
            "rows": rows_total,
            "mode": match self.mode { VerifyMode::Counts => "counts", VerifyMode::Checksum => "checksum" },
        });
        // Counts read no rows' contents: only a checksum moves the data.
        let data = match self.mode {
            VerifyMode::Counts => data,
            VerifyMode::Checksum => moved(&tables)
                .with_rows(rows_total.max(0) as u64)
                .into_data(data),
        };
        Ok(Applied {
            data,
            ..Applied::default()
        })
    }

    // A checksum reads every row of the source's tables in scope.
    async fn measure(&self) -> Option<anyhow::Result<Moved>> {
        match self.mode {
            VerifyMode::Counts => None,
            VerifyMode::Checksum => {
                Some(super::measure::measure_tables(&self.source, &self.tables).await)
            }
        }
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

async fn figures(client: &Client, table: &Table, mode: VerifyMode) -> anyhow::Result<Figures> {
    let name = table.qualified();
    let sql = match mode {
        VerifyMode::Counts => format!("SELECT count(*), '' FROM ONLY {name}"),
        VerifyMode::Checksum => checksum_sql(table),
    };
    let row = client
        .query_one(&sql, &[])
        .await
        .map_err(|e| pg(e).context(format!("failed to read {}", table.display())))?;
    Ok(Figures {
        rows: row.get(0),
        hash: row.get(1),
    })
}

/// Two 64-bit halves of each row's md5, summed as numeric: the sum does not
/// depend on row order and cannot overflow. The row is `ROW(every column by
/// name, in the source's order)`, never the table's alias: a column named
/// like the alias would stand in for the row (the table's `t` column hashed
/// alone), and naming the columns compares them by name, not position.
/// Generated columns are left out, as the copy leaves them: the server
/// computes them from the others.
fn checksum_sql(table: &Table) -> String {
    let columns: Vec<String> = table.columns.iter().map(|c| quote_ident(c)).collect();
    format!(
        "SELECT count(*), coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0)::text
             || '/' || coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0)::text
         FROM (SELECT pg_catalog.md5(ROW({})::text) AS h FROM ONLY {}) AS hashes",
        columns.join(", "),
        table.qualified()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_hashes_every_column_by_name_and_no_alias() {
        let table = Table {
            schema: "public".into(),
            name: "quirks".into(),
            bytes: 0,
            rows_estimate: None,
            columns: vec!["t".into(), "row".into(), "h".into()],
        };
        let sql = checksum_sql(&table);
        assert!(
            sql.contains(r#"md5(ROW("t", "row", "h")::text) AS h FROM ONLY "public"."quirks")"#),
            "{sql}"
        );
        assert!(!sql.contains("AS t"), "{sql}");
    }
}
