//! `measure_tables`: what reading a database's chosen tables would move now,
//! read over a read-only session in a read-only transaction (sizes on disk
//! and the planner's row estimates: nothing is scanned).

use super::connect::{pg, Endpoint};
use super::tables::{list_tables, moved};
use crate::actions::shared::moved::Moved;
use crate::actions::shared::tables::TableFilter;

/// The tables of `url` that `filter` chooses, measured.
pub async fn measure_tables(url: &str, filter: &TableFilter) -> anyhow::Result<Moved> {
    let endpoint = Endpoint::read_only(url)?;
    let client = endpoint.connect().await?;
    client.batch_execute("BEGIN READ ONLY").await.map_err(pg)?;
    let tables = list_tables(&client, filter).await?;
    Ok(moved(&tables))
}
