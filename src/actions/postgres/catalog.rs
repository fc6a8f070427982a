//! Catalog lookups the replication actions share.

use tokio_postgres::Client;

use super::connect::pg;
use super::tables::Table;

/// Tables whose replica identity is the default but which have no primary key.
pub async fn without_identity(client: &Client, tables: &[Table]) -> anyhow::Result<Vec<Table>> {
    let rows = client
        .query(
            "SELECT n.nspname::text, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind = 'r' AND c.relreplident = 'd'
               AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)",
            &[],
        )
        .await
        .map_err(pg)?;
    let bare: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    Ok(tables
        .iter()
        .filter(|t| bare.contains(&(t.schema.clone(), t.name.clone())))
        .cloned()
        .collect())
}

pub async fn exists(
    client: &Client,
    catalog: &str,
    column: &str,
    name: &str,
) -> anyhow::Result<bool> {
    Ok(client
        .query_opt(
            &format!("SELECT 1 FROM {catalog} WHERE {column} = $1"),
            &[&name],
        )
        .await
        .map_err(pg)?
        .is_some())
}

/// The oid of subscription `name` on the target, if it exists.
pub async fn subscription_oid(dst: &Client, name: &str) -> anyhow::Result<Option<u32>> {
    Ok(dst
        .query_opt(
            "SELECT oid FROM pg_subscription WHERE subname = $1",
            &[&name],
        )
        .await
        .map_err(pg)?
        .map(|row| row.get::<_, u32>(0)))
}

/// Fails unless the target has `subscription`, enabled.
pub async fn require_enabled(dst: &Client, subscription: &str) -> anyhow::Result<()> {
    let enabled = dst
        .query_opt(
            "SELECT subenabled FROM pg_subscription WHERE subname = $1",
            &[&subscription],
        )
        .await
        .map_err(pg)?;
    match enabled.map(|r| r.get::<_, bool>(0)) {
        None => Err(anyhow::anyhow!(
            "the target has no subscription `{subscription}` (hint: run `postgres.replicate` first)"
        )),
        Some(false) => Err(anyhow::anyhow!(
            "subscription `{subscription}` is disabled on the target (hint: `ALTER SUBSCRIPTION {} ENABLE` on the target)",
            super::connect::quote_ident(subscription)
        )),
        Some(true) => Ok(()),
    }
}
