//! What a database holds, read from `information_schema`: its base tables
//! (columns, primary key, size) and the objects created after the rows —
//! views, routines and triggers — as the `CREATE` statements the server gives.

use anyhow::anyhow;
use mysql_async::prelude::Queryable;

use super::connect::{describe, Endpoint};
use crate::actions::shared::tables::TableFilter;

/// Column types whose values are bytes, sent as hex literals.
const BINARY_TYPES: &[&str] = &[
    "binary",
    "varbinary",
    "tinyblob",
    "blob",
    "mediumblob",
    "longblob",
    "bit",
    "geometry",
    "point",
    "linestring",
    "polygon",
    "multipoint",
    "multilinestring",
    "multipolygon",
    "geometrycollection",
];

/// Integer types a primary key can be split into ranges by.
const INTEGER_TYPES: &[&str] = &["tinyint", "smallint", "mediumint", "int", "bigint"];

/// A column as copied (generated columns are left out: the server computes them).
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    /// Its values are bytes, not text.
    pub binary: bool,
}

/// A base table of the source.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    /// The primary key's column when it is a single integer column: the
    /// table is split into ranges of it.
    pub integer_key: Option<String>,
    /// It has an AUTO_INCREMENT column.
    pub auto_increment: bool,
    /// Rows, as the server estimates them.
    pub rows_estimate: u64,
    /// Data and index bytes on disk.
    pub bytes: u64,
}

pub fn quote(identifier: &str) -> String {
    format!("`{}`", identifier.replace('`', "``"))
}

fn fail(endpoint: &Endpoint) -> impl Fn(mysql_async::Error) -> anyhow::Error + '_ {
    move |error| anyhow!("{}: {}", endpoint.label(), describe(&error))
}

/// The base tables of `db` chosen by `filter`, largest first.
pub async fn list_tables(
    conn: &mut mysql_async::Conn,
    endpoint: &Endpoint,
    db: &str,
    filter: &TableFilter,
) -> anyhow::Result<Vec<Table>> {
    let tables: Vec<(String, Option<u64>, Option<u64>)> = conn
        .exec(
            "SELECT table_name, table_rows, COALESCE(data_length, 0) + COALESCE(index_length, 0)
             FROM information_schema.tables WHERE table_schema = ? AND table_type = 'BASE TABLE'",
            (db,),
        )
        .await
        .map_err(fail(endpoint))?;
    let columns: Vec<(String, String, String, String)> = conn
        .exec(
            "SELECT table_name, column_name, data_type, extra FROM information_schema.columns
             WHERE table_schema = ? ORDER BY table_name, ordinal_position",
            (db,),
        )
        .await
        .map_err(fail(endpoint))?;
    let keys: Vec<(String, String, String)> = conn
        .exec(
            "SELECT k.table_name, k.column_name, c.data_type
             FROM information_schema.key_column_usage k
             JOIN information_schema.columns c
               ON c.table_schema = k.table_schema AND c.table_name = k.table_name AND c.column_name = k.column_name
             WHERE k.table_schema = ? AND k.constraint_name = 'PRIMARY'",
            (db,),
        )
        .await
        .map_err(fail(endpoint))?;
    let mut chosen: Vec<Table> = tables
        .into_iter()
        .filter(|(name, _, _)| filter.matches(db, name, None))
        .map(|(name, rows, bytes)| {
            let key: Vec<&(String, String, String)> =
                keys.iter().filter(|(t, _, _)| *t == name).collect();
            let integer_key = match key.as_slice() {
                [(_, column, kind)] if INTEGER_TYPES.contains(&kind.to_lowercase().as_str()) => {
                    Some(column.clone())
                }
                _ => None,
            };
            let auto_increment = columns.iter().any(|(t, _, _, extra)| {
                *t == name && extra.to_lowercase().contains("auto_increment")
            });
            let columns = columns
                .iter()
                .filter(|(t, _, _, extra)| {
                    *t == name && !extra.to_uppercase().contains("GENERATED")
                })
                .map(|(_, column, kind, _)| Column {
                    name: column.clone(),
                    binary: BINARY_TYPES.contains(&kind.to_lowercase().as_str()),
                })
                .collect();
            Table {
                name,
                columns,
                integer_key,
                auto_increment,
                rows_estimate: rows.unwrap_or(0),
                bytes: bytes.unwrap_or(0),
            }
        })
        .collect();
    chosen.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
    Ok(chosen)
}

/// `SHOW CREATE TABLE` of one table.
pub async fn create_table(
    conn: &mut mysql_async::Conn,
    endpoint: &Endpoint,
    db: &str,
    table: &str,
) -> anyhow::Result<String> {
    let row: Option<(String, String)> = conn
        .query_first(format!("SHOW CREATE TABLE {}.{}", quote(db), quote(table)))
        .await
        .map_err(fail(endpoint))?;
    row.map(|(_, sql)| sql)
        .ok_or_else(|| anyhow!("{}: no definition for table {table}", endpoint.label()))
}

/// A view, routine or trigger: how to drop it and how to create it again,
/// under the `sql_mode` it was created with.
#[derive(Debug, Clone)]
pub struct SchemaObject {
    pub kind: &'static str,
    pub name: String,
    pub drop: String,
    pub create: String,
    pub sql_mode: Option<String>,
}

/// Views, then routines, then triggers of `db`.
pub async fn objects(
    conn: &mut mysql_async::Conn,
    endpoint: &Endpoint,
    db: &str,
) -> anyhow::Result<Vec<SchemaObject>> {
    let mut found = Vec::new();
    let qdb = quote(db);
    let views: Vec<String> = conn
        .exec(
            "SELECT table_name FROM information_schema.views WHERE table_schema = ? ORDER BY table_name",
            (db,),
        )
        .await
        .map_err(fail(endpoint))?;
    for view in views {
        let row: Option<mysql_async::Row> = conn
            .query_first(format!("SHOW CREATE VIEW {qdb}.{}", quote(&view)))
            .await
            .map_err(fail(endpoint))?;
        let create: String = row.and_then(|r| r.get(1)).unwrap_or_default();
        found.push(SchemaObject {
            kind: "view",
            drop: format!("DROP VIEW IF EXISTS {}", quote(&view)),
            name: view,
            create,
            sql_mode: None,
        });
    }
    let routines: Vec<(String, String)> = conn
        .exec(
            "SELECT routine_type, routine_name FROM information_schema.routines WHERE routine_schema = ? ORDER BY routine_type, routine_name",
            (db,),
        )
        .await
        .map_err(fail(endpoint))?;
    for (kind, name) in routines {
        let kind_sql = if kind.eq_ignore_ascii_case("FUNCTION") {
            "FUNCTION"
        } else {
            "PROCEDURE"
        };
        let row: Option<mysql_async::Row> = conn
            .query_first(format!("SHOW CREATE {kind_sql} {qdb}.{}", quote(&name)))
            .await
            .map_err(fail(endpoint))?;
        let Some(row) = row else { continue };
        let sql_mode: Option<String> = row.get(1);
        let create: Option<String> = row.get(2);
        let Some(create) = create else {
            return Err(anyhow!(
                "{}: cannot read the body of {} {name} (hint: the source's user needs SELECT on mysql.proc or to be the routine's definer)",
                endpoint.label(),
                kind_sql.to_lowercase()
            ));
        };
        found.push(SchemaObject {
            kind: if kind_sql == "FUNCTION" {
                "function"
            } else {
                "procedure"
            },
            drop: format!("DROP {kind_sql} IF EXISTS {}", quote(&name)),
            name,
            create,
            sql_mode,
        });
    }
    let triggers: Vec<String> = conn
        .exec(
            "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = ? ORDER BY event_object_table, action_order",
            (db,),
        )
        .await
        .map_err(fail(endpoint))?;
    for trigger in triggers {
        let row: Option<mysql_async::Row> = conn
            .query_first(format!("SHOW CREATE TRIGGER {qdb}.{}", quote(&trigger)))
            .await
            .map_err(fail(endpoint))?;
        let Some(row) = row else { continue };
        found.push(SchemaObject {
            kind: "trigger",
            drop: format!("DROP TRIGGER IF EXISTS {}", quote(&trigger)),
            name: trigger,
            sql_mode: row.get(1),
            create: row.get(2).unwrap_or_default(),
        });
    }
    Ok(found)
}

/// A secondary index left out of `CREATE TABLE`, built once the rows are in
/// (one sorted build instead of an insert per row in random key order).
#[derive(Debug, Clone, PartialEq)]
pub struct DeferredIndex {
    pub name: String,
    /// `KEY `name` (...)` as SHOW CREATE TABLE writes it.
    pub definition: String,
}

/// Splits the plain secondary indexes (`KEY …`) off a `CREATE TABLE`.
/// Primary, unique, full-text and spatial keys stay, and so does everything
/// of a table with foreign keys (their indexes are part of the constraint).
pub fn defer_indexes(create: &str) -> (String, Vec<DeferredIndex>) {
    if create.contains("FOREIGN KEY") {
        return (create.to_string(), Vec::new());
    }
    let mut kept: Vec<String> = Vec::new();
    let mut deferred = Vec::new();
    for line in create.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("KEY `") {
            let definition = trimmed.trim_end_matches(',').to_string();
            let name = definition.split('`').nth(1).unwrap_or_default().to_string();
            deferred.push(DeferredIndex { name, definition });
            continue;
        }
        if trimmed.starts_with(')') {
            // The line before the closing parenthesis takes no comma.
            if let Some(last) = kept.last_mut() {
                if last.ends_with(',') {
                    last.pop();
                }
            }
        }
        kept.push(line.to_string());
    }
    (kept.join("\n"), deferred)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_secondary_indexes_are_deferred_and_the_rest_kept() {
        let create = "CREATE TABLE `x` (\n  `id` int(11) NOT NULL,\n  `a` int(11) DEFAULT NULL,\n  `b` varchar(20) DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  UNIQUE KEY `ub` (`b`),\n  KEY `ka` (`a`),\n  KEY `kab` (`a`,`b`(5)) COMMENT 'hi'\n) ENGINE=InnoDB";
        let (table, deferred) = defer_indexes(create);
        assert_eq!(
            table,
            "CREATE TABLE `x` (\n  `id` int(11) NOT NULL,\n  `a` int(11) DEFAULT NULL,\n  `b` varchar(20) DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  UNIQUE KEY `ub` (`b`)\n) ENGINE=InnoDB"
        );
        assert_eq!(
            deferred,
            vec![
                DeferredIndex {
                    name: "ka".into(),
                    definition: "KEY `ka` (`a`)".into()
                },
                DeferredIndex {
                    name: "kab".into(),
                    definition: "KEY `kab` (`a`,`b`(5)) COMMENT 'hi'".into()
                },
            ]
        );
        let with_fk = "CREATE TABLE `y` (\n  `p` int,\n  KEY `fk` (`p`),\n  CONSTRAINT `fk` FOREIGN KEY (`p`) REFERENCES `p` (`id`)\n)";
        assert_eq!(defer_indexes(with_fk), (with_fk.to_string(), Vec::new()));
    }
}
