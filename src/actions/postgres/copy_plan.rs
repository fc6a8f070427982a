//! How `postgres.copy` cuts its rows into pieces: a piece is a whole table,
//! or — for a table above `split_above` — a range of its heap pages
//! (`ctid`), so several target backends parse one big table at once. Each
//! piece travels in PostgreSQL's binary COPY format when both servers are
//! the same major version and every column's type round-trips in it, as
//! text otherwise. A split is recorded in the copy's ledger with the page
//! count it used and the table's change counter, so a resumed copy cuts the
//! same ranges and copies only the missing ones — unless the table changed
//! in between, when it is copied again whole.

use std::collections::BTreeSet;

use tokio_postgres::Client;

use super::connect::{pg, quote_ident};
use super::copy_progress as ledger;
use super::tables::Table;

/// The first object id of user-defined objects: types below it are built in,
/// the same on every server of one major version.
const FIRST_USER_OID: u32 = 16384;

/// The least a range of a split table holds: smaller ranges cost more in
/// transactions than they win in parallel parsing.
const MIN_RANGE_BYTES: u64 = 1024 * 1024;

/// Heap pages `[first, end)`; `end: None` runs to the end of the table (rows
/// in pages added after the count, invisible to the snapshot anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pages {
    pub first: u32,
    pub end: Option<u32>,
}

/// One unit of the copy: its rows commit with its ledger entry.
#[derive(Debug, Clone)]
pub struct Piece {
    pub table: Table,
    pub pages: Option<Pages>,
    pub binary: bool,
}

impl Piece {
    /// Its ledger key: the table's, or the table's with its page range.
    pub fn key(&self) -> String {
        let table = ledger::table_key(&self.table.schema, &self.table.name);
        match self.pages {
            None => table,
            Some(pages) => range_key(&table, pages),
        }
    }

    /// `COPY … TO STDOUT` on the source.
    pub fn copy_out(&self) -> String {
        let what = match self.pages {
            None => self.table.copy_target(),
            Some(pages) => {
                let columns: Vec<String> =
                    self.table.columns.iter().map(|c| quote_ident(c)).collect();
                let upper = pages
                    .end
                    .map(|end| format!(" AND ctid < '({end},0)'::tid"))
                    .unwrap_or_default();
                format!(
                    "(SELECT {} FROM ONLY {} WHERE ctid >= '({},0)'::tid{upper})",
                    columns.join(", "),
                    self.table.qualified(),
                    pages.first
                )
            }
        };
        format!("COPY {what} TO STDOUT{}", self.options(false))
    }

    /// `COPY … FROM STDIN` on the target; `freeze` when the table was
    /// emptied in the same transaction.
    pub fn copy_in(&self, freeze: bool) -> String {
        format!(
            "COPY {} FROM STDIN{}",
            self.table.copy_target(),
            self.options(freeze)
        )
    }

    fn options(&self, freeze: bool) -> String {
        match (self.binary, freeze) {
            (false, false) => String::new(),
            (true, false) => " (FORMAT binary)".into(),
            (false, true) => " (FREEZE)".into(),
            (true, true) => " (FORMAT binary, FREEZE)".into(),
        }
    }
}

fn range_key(table_key: &str, pages: Pages) -> String {
    format!(
        "{table_key}#pages:{}-{}",
        pages.first,
        pages
            .end
            .map(|e| e.to_string())
            .unwrap_or_else(|| "end".into())
    )
}

/// The ledger item recording how a table was split.
fn split_key(table_key: &str) -> String {
    format!("split:{table_key}")
}

/// `parts` ranges over `pages` heap pages, the last one open-ended.
pub fn ranges(pages: u32, parts: usize) -> Vec<Pages> {
    let parts = parts.max(1) as u32;
    let step = pages.div_ceil(parts).max(1);
    let mut ranges = Vec::new();
    let mut first = 0;
    while first + step < pages {
        ranges.push(Pages {
            first,
            end: Some(first + step),
        });
        first += step;
    }
    ranges.push(Pages { first, end: None });
    ranges
}

/// How many ranges a table of `bytes` is cut into with `jobs` connections
/// when tables above `split_above` are cut: twice the jobs (the pieces even
/// out, and other tables fill the gaps), each at least a quarter of
/// `split_above` (and a MiB).
pub fn parts_for(bytes: u64, jobs: usize, split_above: u64) -> usize {
    let least = (split_above / 4).max(MIN_RANGE_BYTES);
    ((bytes / least) as usize).clamp(1, jobs.max(1) * 2)
}

/// What the planner needs to know of both servers.
pub struct Servers {
    /// Same major version: built-in types have the same binary form.
    pub same_major: bool,
    /// The source scans `ctid` ranges directly (TID range scans, PostgreSQL 14).
    pub ranges_scan: bool,
}

impl Servers {
    pub async fn read(source: &Client, target: &Client) -> anyhow::Result<Servers> {
        let (s, t) = (version(source).await?, version(target).await?);
        Ok(Servers {
            same_major: s / 10000 == t / 10000,
            ranges_scan: s >= 140000,
        })
    }
}

async fn version(client: &Client) -> anyhow::Result<i32> {
    let row = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map_err(pg)?;
    Ok(row.get(0))
}

/// The columns of `table` whose type has no binary form the target reads
/// back the same way (user-defined types: their binary form names type ids
/// that differ between servers — arrays of enums, composites, ranges of
/// one's own), as `name (type)`. Domains and arrays are followed to the type
/// they wrap.
pub async fn text_only_columns(source: &Client, table: &Table) -> anyhow::Result<Vec<String>> {
    let rows = source
        .query(
            "WITH RECURSIVE walk(name, ty, depth) AS (
               SELECT a.attname::text, a.atttypid, 0 FROM pg_attribute a
                WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped
                  AND a.attgenerated = ''
               UNION ALL
               SELECT w.name, CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.typelem END, w.depth + 1
                 FROM walk w JOIN pg_type t ON t.oid = w.ty
                WHERE (t.typtype = 'd' OR (t.typelem <> 0 AND t.typlen = -1)) AND w.depth < 16
             )
             SELECT DISTINCT w.name || ' (' || format_type(w.ty, NULL) || ')'
               FROM walk w JOIN pg_type t ON t.oid = w.ty
              WHERE w.ty >= $2::oid AND t.typtype <> 'd' AND NOT (t.typelem <> 0 AND t.typlen = -1)
              ORDER BY 1",
            &[&table.qualified(), &FIRST_USER_OID],
        )
        .await
        .map_err(pg)?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// A table's heap pages and its change counter (rows inserted, updated and
/// deleted since the statistics began), read in the copy's snapshot.
async fn pages_and_changes(source: &Client, table: &Table) -> anyhow::Result<(u32, i64)> {
    let row = source
        .query_one(
            "SELECT (pg_relation_size($1::text::regclass) / current_setting('block_size')::bigint)::bigint,
                    coalesce((SELECT n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables
                              WHERE relid = $1::text::regclass), -1)",
            &[&table.qualified()],
        )
        .await
        .map_err(pg)?;
    Ok((
        row.get::<_, i64>(0).clamp(0, u32::MAX as i64) as u32,
        row.get(1),
    ))
}

/// What the split of one table is: its ranges, and what must happen on the
/// target before its pieces run.
pub struct Split {
    pub ranges: Vec<Pages>,
    /// Ledger items of a stale split to forget: every item starting with one
    /// of these.
    pub forget: Vec<String>,
    /// The ledger item recording this split, when it is new.
    pub record: Option<String>,
    /// The table must be emptied first (a stale split's rows, or rows put
    /// in by hand before the first range).
    pub truncate: bool,
}

/// Cuts `table` into ranges, reusing the split a ledger recorded when the
/// table has not changed since (then only its missing ranges are pending).
pub async fn split(
    source: &Client,
    table: &Table,
    jobs: usize,
    split_above: u64,
    done: &BTreeSet<String>,
) -> anyhow::Result<Split> {
    let table_key = ledger::table_key(&table.schema, &table.name);
    let prefix = format!("{}=", split_key(&table_key));
    let (pages, changes) = pages_and_changes(source, table).await?;
    let recorded = done
        .iter()
        .find_map(|item| item.strip_prefix(&prefix))
        .and_then(|rest| {
            let (pages, changes) = rest.split_once(':')?;
            Some((pages.parse::<u32>().ok()?, changes.parse::<i64>().ok()?))
        });
    let parts = parts_for(table.bytes, jobs, split_above);
    Ok(match recorded {
        // Unchanged since (a counter of -1 means no statistics: never trusted).
        Some((old_pages, old_changes)) if old_changes == changes && changes >= 0 => Split {
            ranges: ranges(old_pages, parts),
            forget: Vec::new(),
            record: None,
            truncate: false,
        },
        stale => Split {
            ranges: ranges(pages, parts),
            forget: if stale.is_some() {
                vec![format!("{table_key}#pages:"), prefix.clone()]
            } else {
                Vec::new()
            },
            record: Some(format!("{prefix}{pages}:{changes}")),
            truncate: true,
        },
    })
}

/// The ledger keys of a split table's ranges.
pub fn range_keys(table: &Table, ranges: &[Pages]) -> Vec<String> {
    let table_key = ledger::table_key(&table.schema, &table.name);
    ranges.iter().map(|p| range_key(&table_key, *p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_every_page_once_and_the_last_is_open() {
        let cut = ranges(10, 3);
        assert_eq!(
            cut,
            [
                Pages {
                    first: 0,
                    end: Some(4)
                },
                Pages {
                    first: 4,
                    end: Some(8)
                },
                Pages {
                    first: 8,
                    end: None
                },
            ]
        );
        assert_eq!(
            ranges(0, 4),
            [Pages {
                first: 0,
                end: None
            }]
        );
        assert_eq!(ranges(2, 8).len(), 2);
        for (pages, parts) in [(1, 1), (7, 2), (1000, 7), (3, 3)] {
            let cut = ranges(pages, parts);
            assert_eq!(cut[0].first, 0);
            for pair in cut.windows(2) {
                assert_eq!(pair[0].end, Some(pair[1].first));
            }
            assert_eq!(cut.last().unwrap().end, None);
            assert!(cut.len() <= parts.max(1));
        }
    }

    #[test]
    fn a_table_is_cut_into_twice_the_jobs_at_most_and_ranges_of_a_quarter_of_split_above() {
        const MB: u64 = 1024 * 1024;
        assert_eq!(parts_for(300 * MB, 4, 256 * MB), 4);
        assert_eq!(parts_for(10 * 1024 * MB, 4, 256 * MB), 8);
        assert_eq!(parts_for(5 * MB, 3, MB), 5);
        assert_eq!(parts_for(5 * MB / 2, 3, MB), 2);
    }
}
