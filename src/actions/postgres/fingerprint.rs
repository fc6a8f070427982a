//! A compact fingerprint of the source's schema for the tables a publication
//! replicates (columns and types, indexes, constraints) and the database's
//! sequences, read from the catalog; and the structural difference between
//! two, naming every object added, dropped or changed. Logical replication
//! does not carry DDL: this is how a change made on the source after
//! `postgres.replicate` is found before the freeze rather than after it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use super::connect::pg;
use super::tables::INTERNAL_SCHEMA;

/// One table's shape. Index and constraint definitions are kept as a short
/// hash (the first 8 hex digits of the md5 of `pg_get_indexdef` /
/// `pg_get_constraintdef`): enough to tell that one changed, and it keeps
/// the fingerprint small on schemas with thousands of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableShape {
    /// Column name → `type` or `type not null`.
    #[serde(rename = "c", default)]
    pub columns: BTreeMap<String, String>,
    /// Index name → definition hash.
    #[serde(rename = "i", default)]
    pub indexes: BTreeMap<String, String>,
    /// Constraint name → definition hash.
    #[serde(rename = "k", default)]
    pub constraints: BTreeMap<String, String>,
}

/// The schema as `postgres.replicate` saw it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// `schema.table` → shape.
    #[serde(rename = "t", default)]
    pub tables: BTreeMap<String, TableShape>,
    /// `schema.sequence` → `type by increment`.
    #[serde(rename = "s", default)]
    pub sequences: BTreeMap<String, String>,
}

impl Fingerprint {
    /// Reads the current fingerprint of the tables `publication` replicates
    /// now (for `FOR ALL TABLES`, a table created since is among them).
    pub async fn read(client: &Client, publication: &str) -> anyhow::Result<Fingerprint> {
        let rows = client
            .query(
                "SELECT c.oid, n.nspname::text || '.' || c.relname::text
                   FROM pg_publication_tables p
                   JOIN pg_namespace n ON n.nspname = p.schemaname
                   JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = p.tablename
                  WHERE p.pubname = $1 AND p.schemaname <> $2",
                &[&publication, &INTERNAL_SCHEMA],
            )
            .await
            .map_err(pg)?;
        let mut names = BTreeMap::new();
        let mut fingerprint = Fingerprint::default();
        for row in &rows {
            let (oid, name): (u32, String) = (row.get(0), row.get(1));
            names.insert(oid, name.clone());
            fingerprint.tables.insert(name, TableShape::default());
        }
        let oids: Vec<u32> = names.keys().copied().collect();
        let parts = [
            // Columns: dropped ones stay in pg_attribute, marked.
            "SELECT attrelid, 'c', attname::text,
                    format_type(atttypid, atttypmod) || CASE WHEN attnotnull THEN ' not null' ELSE '' END
               FROM pg_attribute WHERE attrelid = ANY($1) AND attnum > 0 AND NOT attisdropped",
            "SELECT i.indrelid, 'i', c.relname::text, left(md5(pg_get_indexdef(i.indexrelid)), 8)
               FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = ANY($1)",
            "SELECT conrelid, 'k', conname::text, left(md5(contype::text || pg_get_constraintdef(oid)), 8)
               FROM pg_constraint WHERE conrelid = ANY($1)",
        ];
        for sql in parts {
            for row in client.query(sql, &[&oids]).await.map_err(pg)? {
                let (oid, kind, name, value): (u32, &str, String, String) =
                    (row.get(0), row.get(1), row.get(2), row.get(3));
                let Some(table) = names.get(&oid).and_then(|n| fingerprint.tables.get_mut(n))
                else {
                    continue;
                };
                let map = match kind {
                    "c" => &mut table.columns,
                    "i" => &mut table.indexes,
                    _ => &mut table.constraints,
                };
                map.insert(name, value);
            }
        }
        // Every sequence: `postgres.sync_sequences` sets them all, and fails
        // on one the target lacks.
        for row in client
            .query(
                "SELECT schemaname::text || '.' || sequencename::text,
                        data_type::text || ' by ' || increment_by::text
                   FROM pg_sequences WHERE schemaname <> $1",
                &[&INTERNAL_SCHEMA],
            )
            .await
            .map_err(pg)?
        {
            fingerprint.sequences.insert(row.get(0), row.get(1));
        }
        Ok(fingerprint)
    }

    /// Every difference from `before` to `self`, one line per table or
    /// sequence: `table public.orders: column note (text) added`.
    pub fn changes_since(&self, before: &Fingerprint) -> Vec<String> {
        let mut out = Vec::new();
        for (name, was) in &before.tables {
            match self.tables.get(name) {
                None => out.push(format!("table {name} dropped")),
                Some(now) => {
                    let mut parts = Vec::new();
                    diff("column", &was.columns, &now.columns, true, &mut parts);
                    diff("index", &was.indexes, &now.indexes, false, &mut parts);
                    diff(
                        "constraint",
                        &was.constraints,
                        &now.constraints,
                        false,
                        &mut parts,
                    );
                    if !parts.is_empty() {
                        out.push(format!("table {name}: {}", parts.join(", ")));
                    }
                }
            }
        }
        for name in self.tables.keys() {
            if !before.tables.contains_key(name) {
                out.push(format!("table {name} added"));
            }
        }
        let mut parts = Vec::new();
        diff(
            "sequence",
            &before.sequences,
            &self.sequences,
            true,
            &mut parts,
        );
        out.extend(parts);
        out
    }
}

/// Appends `column note (text) added`, `index x dropped`, `column id
/// changed (integer → bigint)`; `show` says whether the value is readable
/// (a type) or a hash, which is not shown.
fn diff(
    what: &str,
    before: &BTreeMap<String, String>,
    now: &BTreeMap<String, String>,
    show: bool,
    out: &mut Vec<String>,
) {
    let shown = |value: &str| {
        if show {
            format!(" ({value})")
        } else {
            String::new()
        }
    };
    for (name, was) in before {
        match now.get(name) {
            None => out.push(format!("{what} {name}{} dropped", shown(was))),
            Some(is) if is != was => out.push(if show {
                format!("{what} {name} changed ({was} → {is})")
            } else {
                format!("{what} {name} changed")
            }),
            Some(_) => {}
        }
    }
    for (name, is) in now {
        if !before.contains_key(name) {
            out.push(format!("{what} {name}{} added", shown(is)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(columns: &[(&str, &str)], indexes: &[(&str, &str)]) -> TableShape {
        TableShape {
            columns: columns
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            indexes: indexes
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            constraints: BTreeMap::new(),
        }
    }

    #[test]
    fn every_change_is_named_by_table_and_object() {
        let mut before = Fingerprint::default();
        before.tables.insert(
            "public.orders".into(),
            shape(&[("id", "bigint not null")], &[("orders_pkey", "aa")]),
        );
        before
            .tables
            .insert("public.gone".into(), shape(&[("id", "integer")], &[]));
        before
            .sequences
            .insert("public.s".into(), "bigint by 1".into());
        let mut now = before.clone();
        now.tables.remove("public.gone");
        let orders = now.tables.get_mut("public.orders").unwrap();
        orders.columns.insert("note".into(), "text".into());
        orders
            .columns
            .insert("id".into(), "integer not null".into());
        orders.indexes.insert("orders_pkey".into(), "bb".into());
        now.tables
            .insert("public.new".into(), shape(&[("x", "text")], &[]));
        now.sequences.clear();
        assert_eq!(
            now.changes_since(&before),
            vec![
                "table public.gone dropped",
                "table public.orders: column id changed (bigint not null → integer not null), column note (text) added, index orders_pkey changed",
                "table public.new added",
                "sequence public.s (bigint by 1) dropped",
            ]
        );
        assert!(before.changes_since(&before).is_empty());
    }

    #[test]
    fn the_stored_form_is_compact() {
        let mut f = Fingerprint::default();
        f.tables
            .insert("public.t".into(), shape(&[("id", "integer")], &[]));
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            r#"{"t":{"public.t":{"c":{"id":"integer"},"i":{},"k":{}}},"s":{}}"#
        );
    }
}
