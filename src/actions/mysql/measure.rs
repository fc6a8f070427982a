//! `measure_tables`: what reading a database's chosen tables would move now
//! (`information_schema.tables`: data and index length, the row estimate;
//! nothing is scanned), read in a read-only transaction.

use mysql_async::prelude::Queryable;

use super::catalog::{list_tables, Table};
use super::connect::{describe, Endpoint};
use crate::actions::shared::moved::Moved;
use crate::actions::shared::tables::TableFilter;

/// What reading `tables` moves: their sizes on disk and estimated rows.
pub fn moved(tables: &[Table]) -> Moved {
    Moved::of_tables(tables.iter().map(|t| (t.bytes, t.rows_estimate)))
}

/// The tables of `url` that `filter` chooses, measured.
pub async fn measure_tables(url: &str, filter: &TableFilter) -> anyhow::Result<Moved> {
    let endpoint = Endpoint::parse(url)?;
    let mut conn = endpoint.connect().await?;
    let fail = |e: mysql_async::Error| anyhow::anyhow!("{}: {}", endpoint.label(), describe(&e));
    conn.query_drop("SET SESSION TRANSACTION READ ONLY")
        .await
        .map_err(fail)?;
    conn.query_drop("START TRANSACTION READ ONLY")
        .await
        .map_err(fail)?;
    let db = endpoint.db().to_string();
    let tables = list_tables(&mut conn, &endpoint, &db, filter).await?;
    Ok(moved(&tables))
}
