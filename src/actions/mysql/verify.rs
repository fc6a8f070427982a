//! `mysql.verify`: the two databases hold the same rows — per table, row counts
//! or (`checksum`) an order-independent hash of every row computed inside
//! each server; lists every table that differs and fails if any does.

use mysql_async::prelude::Queryable;
use schemars::JsonSchema;
use serde::Deserialize;

use super::connect::{describe, Endpoint};
use crate::actions::{descriptor, Action, Descriptor};
use crate::actions::{ActionFailure, Applied, Progress, StepContext};
use async_trait::async_trait;

/// `counts` or `checksum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VerifyMode {
    #[default]
    Counts,
    Checksum,
}

/// Parameters of `mysql.verify`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    pub source: String,
    pub target: String,
    #[serde(default)]
    pub mode: VerifyMode,
    /// Only these tables [default: every base table of the source's database].
    #[serde(default)]
    pub tables: Option<Vec<String>>,
}

fn quote(identifier: &str) -> String {
    format!("`{}`", identifier.replace('`', "``"))
}

/// What one table looks like on one side: rows, and the sum of row hashes.
async fn fingerprint(
    conn: &mut mysql_async::Conn,
    endpoint: &Endpoint,
    table: &str,
    mode: VerifyMode,
) -> anyhow::Result<(u64, String)> {
    let fail =
        |e: mysql_async::Error| anyhow::anyhow!("{}: {table}: {}", endpoint.label(), describe(&e));
    let sql = match mode {
        VerifyMode::Counts => format!("SELECT COUNT(*), '' FROM {}", quote(table)),
        VerifyMode::Checksum => {
            let columns: Vec<String> = conn
                .exec(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position",
                    (table,),
                )
                .await
                .map_err(fail)?;
            let values: Vec<String> = columns.iter().map(|c| quote(c)).collect();
            // CONCAT_WS skips NULLs: the ISNULL flags tell NULL from ''.
            let nulls: Vec<String> = columns
                .iter()
                .map(|c| format!("ISNULL({})", quote(c)))
                .collect();
            format!(
                "SELECT COUNT(*), CAST(COALESCE(SUM(CAST(CONV(SUBSTRING(MD5(CONCAT_WS('|', {}, CONCAT({}))), 1, 15), 16, 10) AS UNSIGNED)), 0) AS CHAR) FROM {}",
                values.join(", "),
                nulls.join(", "),
                quote(table)
            )
        }
    };
    let row: Option<(u64, String)> = conn.query_first(sql).await.map_err(fail)?;
    Ok(row.unwrap_or((0, String::new())))
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "mysql.verify",
    Verify,
    "compare row counts (or checksums) of every table of two MySQL/MariaDB databases"
);

#[async_trait(?Send)]
impl Action for Verify {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn describe(&self) -> String {
        let label = |url: &str| {
            Endpoint::parse(url)
                .map(|e| e.label().to_string())
                .unwrap_or_else(|_| "?".into())
        };
        let what = match self.mode {
            VerifyMode::Counts => "row counts",
            VerifyMode::Checksum => "row counts and checksums",
        };
        format!(
            "compare {what} of {} and {}",
            label(&self.source),
            label(&self.target)
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let (source, target) = (
            Endpoint::parse(&self.source)?,
            Endpoint::parse(&self.target)?,
        );
        let (mut src, mut dst) = tokio::try_join!(source.connect(), target.connect())?;
        let tables: Vec<String> = match &self.tables {
            Some(tables) => tables.clone(),
            None => src
                .query("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name")
                .await
                .map_err(|e| anyhow::anyhow!("{}: {}", source.label(), describe(&e)))?,
        };
        let mut differ = Vec::new();
        for table in &tables {
            let (a, b) = tokio::try_join!(
                fingerprint(&mut src, &source, table, self.mode),
                fingerprint(&mut dst, &target, table, self.mode)
            )?;
            let verdict = if a == b { "same" } else { "DIFFERS" };
            cx.report(Progress::Output(format!(
                "{verdict:<8} {table}: {} rows / {} rows",
                a.0, b.0
            )));
            if a != b {
                differ.push(format!("{table} ({} rows vs {})", a.0, b.0));
            }
        }
        if !differ.is_empty() {
            return Err(anyhow::anyhow!(
                "{} of {} tables differ: {}",
                differ.len(),
                tables.len(),
                differ.join(", ")
            )
            .into());
        }
        Ok(Applied {
            data: serde_json::json!({ "tables": tables.len(), "mode": format!("{:?}", self.mode).to_lowercase() }),
            ..Applied::default()
        })
    }

    // Reads only.
    fn idempotent(&self) -> bool {
        true
    }
}
