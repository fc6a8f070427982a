//! `mysql.verify`: the two databases hold the same rows — per table, row counts
//! or (`checksum`) an order-independent hash of every row computed inside
//! each server; lists every table that differs and fails if any does. Both
//! sessions are pinned (`session.rs`): a TIMESTAMP reads the same on two
//! servers in different time zones.

use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use schemars::JsonSchema;
use serde::Deserialize;

use super::catalog::list_tables;
use super::connect::{describe, Endpoint};
use super::session::connect_pinned;
use crate::actions::shared::tables::TableFilter;
use crate::actions::shared::verify_mode::VerifyMode;
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};

/// Parameters of `mysql.verify`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    /// `mysql://user:password@host:port/db` of the database copied from.
    pub source: String,
    /// The database copied to.
    pub target: String,
    /// `counts` (default) or `checksum`.
    #[serde(default)]
    pub mode: VerifyMode,
    /// Which tables to compare (default: every base table of the source's database).
    #[serde(default)]
    pub tables: TableFilter,
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
            let columns: Vec<(String, u8)> = conn
                .exec(
                    "SELECT column_name, character_set_name IS NOT NULL FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position",
                    (table,),
                )
                .await
                .map_err(fail)?;
            let columns: Vec<(String, bool)> = columns
                .into_iter()
                .map(|(name, text)| (name, text != 0))
                .collect();
            checksum_sql(table, &columns)
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

    fn endpoints(&self) -> Vec<String> {
        vec![
            crate::actions::shared::endpoint::database(&self.source),
            crate::actions::shared::endpoint::database(&self.target),
        ]
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
        let (source, target) = (
            Endpoint::parse(&self.source)?,
            Endpoint::parse(&self.target)?,
        );
        let (mut src, mut dst) =
            tokio::try_join!(connect_pinned(&source), connect_pinned(&target))?;
        let db = source.db().to_string();
        let listed = list_tables(&mut src, &source, &db, &self.tables).await?;
        let mut tables: Vec<String> = listed.iter().cloned().map(|table| table.name).collect();
        tables.sort();
        let chosen: Vec<(&str, &str)> = tables.iter().map(|t| (db.as_str(), t.as_str())).collect();
        self.tables
            .require_matches(&chosen, &format!("the source {}", source.label()))?;
        let mut differ = Vec::new();
        let mut rows_total = 0u64;
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
            rows_total += a.0;
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
        let data = serde_json::json!({ "tables": tables.len(), "mode": format!("{:?}", self.mode).to_lowercase() });
        // Counts read no rows' contents: only a checksum moves the data.
        let data = match self.mode {
            VerifyMode::Counts => data,
            VerifyMode::Checksum => super::measure::moved(&listed)
                .with_rows(rows_total)
                .into_data(data),
        };
        Ok(Applied {
            data,
            ..Applied::default()
        })
    }

    // A checksum reads every row of the source's tables in scope.
    async fn measure(&self) -> Option<anyhow::Result<crate::actions::shared::moved::Moved>> {
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

/// The row count and the sum of 60 bits of each row's MD5. A row is its
/// columns one after the other, each as `length:value` (`-` for NULL): no
/// value can end where another begins, so moving a `|` or swapping a NULL
/// and an `''` between columns changes the hash (a separator would not).
/// Text is converted to utf8mb4 first, so the hash is of the characters, not
/// of the column's character set.
fn checksum_sql(table: &str, columns: &[(String, bool)]) -> String {
    let terms: Vec<String> = columns
        .iter()
        .map(|(name, text)| {
            let value = if *text {
                format!("CONVERT({} USING utf8mb4)", quote(name))
            } else {
                quote(name)
            };
            format!("COALESCE(CONCAT(LENGTH({value}), ':', {value}), '-')")
        })
        .collect();
    let row = if terms.is_empty() {
        "''".to_string()
    } else {
        format!("CONCAT({})", terms.join(", "))
    };
    format!(
        "SELECT COUNT(*), CAST(COALESCE(SUM(CAST(CONV(SUBSTRING(MD5({row}), 1, 15), 16, 10) AS UNSIGNED)), 0) AS CHAR) FROM {}",
        quote(table)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_length_prefixed_and_text_hashed_as_utf8mb4() {
        let sql = checksum_sql("q", &[("t".into(), true), ("n".into(), false)]);
        assert!(
            sql.contains("MD5(CONCAT(COALESCE(CONCAT(LENGTH(CONVERT(`t` USING utf8mb4)), ':', CONVERT(`t` USING utf8mb4)), '-'), COALESCE(CONCAT(LENGTH(`n`), ':', `n`), '-')))"),
            "{sql}"
        );
        assert!(sql.ends_with("FROM `q`"), "{sql}");
    }
}
