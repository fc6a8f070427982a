//! `Table`: the tables an action works on (those its `TableFilter` chooses),
//! read from the catalog. Leaf tables only (a partitioned table's rows live in its
//! partitions); a partition is chosen by its own name or its root's.

use tokio_postgres::Client;

use super::connect::{pg, quote_ident};
use crate::actions::shared::moved::Moved;
use crate::actions::shared::tables::TableFilter;

/// Schemas never copied or compared.
pub const INTERNAL_SCHEMA: &str = "_cutover";

/// A table with rows, as the catalog describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub schema: String,
    pub name: String,
    /// On-disk size of its heap and TOAST (`pg_table_size`), for ordering,
    /// the ETA and what a step moved (`shared::moved`).
    pub bytes: u64,
    /// The planner's row estimate; None when the table was never analyzed.
    pub rows_estimate: Option<u64>,
    /// Column names in order (generated columns left out: COPY cannot write them).
    pub columns: Vec<String>,
}

impl Table {
    /// `"schema"."name"`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }

    /// `schema.name`, for messages.
    pub fn display(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// `"schema"."name" ("a", "b")` for COPY.
    pub fn copy_target(&self) -> String {
        let columns: Vec<String> = self.columns.iter().map(|c| quote_ident(c)).collect();
        format!("{} ({})", self.qualified(), columns.join(", "))
    }
}

/// What reading `tables` moves: their sizes on disk and estimated rows.
pub fn moved(tables: &[Table]) -> Moved {
    Moved::of_tables(
        tables
            .iter()
            .map(|t| (t.bytes, t.rows_estimate.unwrap_or(0))),
    )
}

/// Leaf tables of user schemas chosen by `filter`, largest first.
pub async fn list_tables(client: &Client, filter: &TableFilter) -> anyhow::Result<Vec<Table>> {
    let rows = client
        .query(
            "SELECT n.nspname, c.relname, pg_table_size(c.oid)::bigint, c.reltuples::bigint,
                    rn.nspname, r.relname,
                    coalesce((SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
                      WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                        AND a.attgenerated = ''), '{}')
             FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_class r ON r.oid = coalesce(pg_partition_root(c.oid)::oid, c.oid)
             JOIN pg_namespace rn ON rn.oid = r.relnamespace
             WHERE c.relkind = 'r' AND c.relpersistence <> 't'
               AND n.nspname NOT IN ('pg_catalog', 'information_schema', $1)
               AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                               AND d.objid = c.oid AND d.deptype = 'e')
             ORDER BY pg_table_size(c.oid) DESC, n.nspname, c.relname",
            &[&INTERNAL_SCHEMA],
        )
        .await
        .map_err(pg)?;
    let mut tables = Vec::new();
    for row in rows {
        let schema: String = row.get(0);
        let name: String = row.get(1);
        let root_schema: String = row.get(4);
        let root_name: String = row.get(5);
        let root = (root_schema != schema || root_name != name)
            .then_some((root_schema.as_str(), root_name.as_str()));
        if !filter.matches(&schema, &name, root) {
            continue;
        }
        let bytes: i64 = row.get(2);
        let estimate: i64 = row.get(3);
        tables.push(Table {
            bytes: bytes.max(0) as u64,
            rows_estimate: (estimate >= 0).then_some(estimate as u64),
            columns: row.get(6),
            schema,
            name,
        });
    }
    Ok(tables)
}
