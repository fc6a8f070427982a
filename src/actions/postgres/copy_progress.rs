//! `CopyLedger`: what `postgres.copy` has finished, kept in the target itself
//! (`_cutover.copy_progress`) and written in the same transaction as the work
//! it records — a table's rows and its ledger row commit together or not at
//! all — so a resumed copy knows exactly what is left.

use std::collections::BTreeSet;

use tokio_postgres::Client;

use super::connect::pg;
use super::tables::INTERNAL_SCHEMA;

pub const PRE_DATA: &str = "phase:pre-data";
pub const POST_DATA_STARTED: &str = "phase:post-data-started";
pub const POST_DATA: &str = "phase:post-data";

/// SQL creating the ledger with its first entry, run inside the transaction
/// that creates the schema (or empties the existing tables).
pub fn create_sql(first: &str) -> String {
    format!(
        "CREATE SCHEMA {INTERNAL_SCHEMA};
         CREATE TABLE {INTERNAL_SCHEMA}.copy_progress (
           item text PRIMARY KEY, rows bigint, bytes bigint, done_at timestamptz NOT NULL DEFAULT now());
         INSERT INTO {INTERNAL_SCHEMA}.copy_progress (item) VALUES ('{first}');\n"
    )
}

/// SQL recording one finished item.
pub fn record_sql() -> String {
    format!("INSERT INTO {INTERNAL_SCHEMA}.copy_progress (item, rows, bytes) VALUES ($1, $2, $3)")
}

/// The items done so far, or None when the target has no ledger (no copy ever started).
pub async fn read(client: &Client) -> anyhow::Result<Option<BTreeSet<String>>> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&format!("{INTERNAL_SCHEMA}.copy_progress")],
        )
        .await
        .map_err(pg)?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let rows = client
        .query(
            &format!("SELECT item FROM {INTERNAL_SCHEMA}.copy_progress"),
            &[],
        )
        .await
        .map_err(pg)?;
    Ok(Some(rows.iter().map(|r| r.get(0)).collect()))
}

/// The ledger key of a table.
pub fn table_key(schema: &str, name: &str) -> String {
    format!("table:{schema}.{name}")
}
