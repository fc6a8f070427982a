//! The ledger of `mysql.copy`: what is finished, kept on the target
//! (`_cutover.copy_progress`, one row per item and database) and written in
//! the same transaction as the rows it records, so a resumed copy knows
//! exactly which ranges are on the target.

use std::collections::BTreeMap;

use mysql_async::prelude::Queryable;

use super::connect::{describe, Endpoint};
use super::position::INTERNAL_DB;

/// The copy began: the tables on the target are its own.
pub const STARTED: &str = "phase:started";
/// Every table exists on the target.
pub const TABLES: &str = "phase:tables";
/// Views, routines and triggers exist on the target.
pub const OBJECTS: &str = "phase:objects";
/// Rows go into the target's own tables (`on_existing: truncate`).
pub const EXISTING: &str = "mode:existing";

pub fn chunk_key(table: &str, index: usize) -> String {
    format!("chunk:{table}:{index}")
}

/// A table's deferred secondary indexes are built.
pub fn indexes_key(table: &str) -> String {
    format!("indexes:{table}")
}

/// Where a table's ranges were cut, as JSON: the same cuts on a resume.
pub fn plan_key(table: &str) -> String {
    format!("plan:{table}")
}

/// Parameters: db, item, rows, bytes.
pub fn record_sql() -> String {
    format!(
        "INSERT INTO `{INTERNAL_DB}`.copy_progress (db, item, `rows`, bytes) VALUES (?, ?, ?, ?)"
    )
}

fn fail(endpoint: &Endpoint) -> impl Fn(mysql_async::Error) -> anyhow::Error + '_ {
    move |error| anyhow::anyhow!("{}: {}", endpoint.label(), describe(&error))
}

/// Items finished for `db`, with their detail.
pub async fn read(
    conn: &mut mysql_async::Conn,
    endpoint: &Endpoint,
    db: &str,
) -> anyhow::Result<BTreeMap<String, Option<String>>> {
    let rows: Vec<(String, Option<String>)> = conn
        .exec(
            format!("SELECT item, detail FROM `{INTERNAL_DB}`.copy_progress WHERE db = ?"),
            (db,),
        )
        .await
        .map_err(fail(endpoint))?;
    Ok(rows.into_iter().collect())
}

/// Records one item (outside any chunk's transaction).
pub async fn record(
    conn: &mut mysql_async::Conn,
    endpoint: &Endpoint,
    db: &str,
    item: &str,
    detail: Option<&str>,
) -> anyhow::Result<()> {
    conn.exec_drop(
        format!(
            "INSERT INTO `{INTERNAL_DB}`.copy_progress (db, item, detail) VALUES (?, ?, ?)
             ON DUPLICATE KEY UPDATE detail = VALUES(detail)"
        ),
        (db, item, detail),
    )
    .await
    .map_err(fail(endpoint))
    .map_err(|e| e.context(format!("failed to record {item} in the copy's ledger")))
}

/// Forgets `db`'s ledger: the copy is finished, or starts afresh.
pub async fn clear(
    conn: &mut mysql_async::Conn,
    endpoint: &Endpoint,
    db: &str,
) -> anyhow::Result<()> {
    conn.exec_drop(
        format!("DELETE FROM `{INTERNAL_DB}`.copy_progress WHERE db = ?"),
        (db,),
    )
    .await
    .map_err(fail(endpoint))
}
