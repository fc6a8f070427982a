//! `postgres.verify`: compares two databases table by table — row counts, or
//! with `checksum` an order-independent hash of every row computed inside
//! each database — and fails naming every table that differs.

use anyhow::anyhow;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use tokio_postgres::Client;

use super::connect::label;
use super::connect::{pg, Endpoint};
use super::tables::{list_tables, Table};
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

/// Session settings that make `row::text` the same on both servers.
const STABLE_TEXT: &str = "SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, MDY'; \
    SET IntervalStyle = 'postgres'; SET extra_float_digits = 1; SET bytea_output = 'hex'; \
    BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

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
        let (src, dst) = tokio::try_join!(source.connect(), target.connect())?;
        tokio::try_join!(
            src.batch_execute(STABLE_TEXT),
            dst.batch_execute(STABLE_TEXT)
        )
        .map_err(pg)?;
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
            if !present
                .iter()
                .any(|t| t.schema == table.schema && t.name == table.name)
            {
                differences.push(format!("{}: missing on the target", table.display()));
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
        Ok(Applied {
            data: serde_json::json!({
                "tables": tables.len(),
                "rows": rows_total,
                "mode": match self.mode { VerifyMode::Counts => "counts", VerifyMode::Checksum => "checksum" },
            }),
            ..Applied::default()
        })
    }

    // Reads only.
    fn idempotent(&self) -> bool {
        true
    }
}

async fn figures(client: &Client, table: &Table, mode: VerifyMode) -> anyhow::Result<Figures> {
    let name = table.qualified();
    let sql = match mode {
        VerifyMode::Counts => format!("SELECT count(*), '' FROM ONLY {name}"),
        // Two 64-bit halves of each row's md5, summed as numeric: the sum does
        // not depend on row order and cannot overflow.
        VerifyMode::Checksum => format!(
            "SELECT count(*), coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0)::text
                 || '/' || coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0)::text
             FROM (SELECT md5(t::text) AS h FROM ONLY {name} AS t) rows"
        ),
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
