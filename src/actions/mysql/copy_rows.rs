//! The rows of `mysql.copy`: tables split into ranges of their integer
//! primary key (one stream for the others), each range read on a connection
//! inside the shared snapshot and written to the target as multi-row INSERTs
//! — read and write overlap — and committed with its ledger entry, so a range
//! is on the target whole or not at all.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use mysql_async::prelude::Queryable;
use mysql_async::Value;

use super::catalog::{quote, DeferredIndex, Table};
use super::connect::describe;
use super::copy_ledger as ledger;
use crate::actions::shared;
use crate::actions::shared::units::human_bytes;
use crate::actions::{Progress, StepContext};

/// One range of one table; `lo` inclusive, `hi` exclusive, None unbounded.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub table: String,
    pub index: usize,
    pub lo: Option<i128>,
    pub hi: Option<i128>,
}

impl Chunk {
    pub fn key(&self) -> String {
        ledger::chunk_key(&self.table, self.index)
    }
}

/// Bytes of table data per range, aimed at.
const CHUNK_BYTES: u64 = 32 * 1024 * 1024;

/// How many ranges a table is split into: about one per 32 MB, and enough for
/// every worker when the table is large enough to be worth sharing.
pub fn chunk_count(table: &Table, jobs: usize) -> usize {
    if table.integer_key.is_none() {
        return 1;
    }
    let by_size = table.bytes.div_ceil(CHUNK_BYTES) as usize;
    let shared = if table.rows_estimate >= 50_000 {
        jobs * 2
    } else {
        1
    };
    by_size.max(shared).clamp(1, 4096)
}

/// Cut points splitting `[min, max]` into `count` ranges of equal width.
pub fn cut_points(min: i128, max: i128, count: usize) -> Vec<i128> {
    if count <= 1 || max <= min {
        return Vec::new();
    }
    let width = (max - min + 1) as f64 / count as f64;
    let mut cuts: Vec<i128> = (1..count)
        .map(|i| min + (width * i as f64).round() as i128)
        .filter(|c| *c > min && *c <= max)
        .collect();
    cuts.dedup();
    cuts
}

/// The ranges between cut points: the first and last are open-ended so rows
/// outside what was planned are still copied.
pub fn chunks(table: &str, cuts: &[i128]) -> Vec<Chunk> {
    let mut bounds: Vec<Option<i128>> = vec![None];
    bounds.extend(cuts.iter().map(|c| Some(*c)));
    bounds.push(None);
    bounds
        .windows(2)
        .enumerate()
        .map(|(index, pair)| Chunk {
            table: table.to_string(),
            index,
            lo: pair[0],
            hi: pair[1],
        })
        .collect()
}

/// MIN and MAX of the table's integer key, read inside the snapshot.
pub async fn key_range(
    conn: &mut mysql_async::Conn,
    table: &Table,
) -> anyhow::Result<Option<(i128, i128)>> {
    let Some(key) = &table.integer_key else {
        return Ok(None);
    };
    let row: Option<(Option<String>, Option<String>)> = conn
        .query_first(format!(
            "SELECT CAST(MIN({k}) AS CHAR), CAST(MAX({k}) AS CHAR) FROM {}",
            quote(&table.name),
            k = quote(key)
        ))
        .await
        .map_err(|e| anyhow!("{}: {}", table.name, describe(&e)))?;
    Ok(match row {
        Some((Some(min), Some(max))) => min.parse().ok().zip(max.parse().ok()),
        _ => None,
    })
}

/// Appends a value as an SQL literal: NULL, a hex literal for bytes, or a
/// quoted string with MySQL's backslash escapes.
pub fn push_literal(sql: &mut Vec<u8>, value: &Value, binary: bool) {
    match value {
        Value::NULL => sql.extend_from_slice(b"NULL"),
        Value::Bytes(bytes) if binary => {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            sql.extend_from_slice(b"X'");
            for b in bytes {
                sql.push(HEX[(b >> 4) as usize]);
                sql.push(HEX[(b & 15) as usize]);
            }
            sql.push(b'\'');
        }
        Value::Bytes(bytes) => {
            sql.push(b'\'');
            for &b in bytes {
                match b {
                    0 => sql.extend_from_slice(b"\\0"),
                    b'\'' => sql.extend_from_slice(b"\\'"),
                    b'\\' => sql.extend_from_slice(b"\\\\"),
                    b'\n' => sql.extend_from_slice(b"\\n"),
                    b'\r' => sql.extend_from_slice(b"\\r"),
                    0x1a => sql.extend_from_slice(b"\\Z"),
                    _ => sql.push(b),
                }
            }
            sql.push(b'\'');
        }
        other => sql.extend_from_slice(other.as_sql(false).as_bytes()),
    }
}

/// The SELECT reading one chunk.
fn select_sql(table: &Table, chunk: &Chunk) -> String {
    let columns: Vec<String> = table.columns.iter().map(|c| quote(&c.name)).collect();
    let mut sql = format!("SELECT {} FROM {}", columns.join(", "), quote(&table.name));
    if let Some(key) = &table.integer_key {
        let key = quote(key);
        match (chunk.lo, chunk.hi) {
            (Some(lo), Some(hi)) => sql.push_str(&format!(" WHERE {key} >= {lo} AND {key} < {hi}")),
            (Some(lo), None) => sql.push_str(&format!(" WHERE {key} >= {lo}")),
            (None, Some(hi)) => sql.push_str(&format!(" WHERE {key} < {hi}")),
            (None, None) => {}
        }
    }
    sql
}

/// How rows reach the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `LOAD DATA LOCAL INFILE` from a stream (no file): the server parses
    /// tab-separated text much faster than SQL (5.1 s vs 3.4 s for 500k rows
    /// here). Needs `local_infile` on the target.
    LoadData,
    /// Multi-row `INSERT`s, where `local_infile` is off.
    Insert,
}

/// One batch of rows in the target's format.
struct Batch {
    format: Format,
    head: Vec<u8>,
    data: Vec<u8>,
    rows: usize,
    capacity: usize,
}

impl Batch {
    fn new(format: Format, table: &Table, capacity: usize) -> Batch {
        let head = match format {
            Format::Insert => {
                let columns: Vec<String> = table.columns.iter().map(|c| quote(&c.name)).collect();
                format!(
                    "INSERT INTO {} ({}) VALUES ",
                    quote(&table.name),
                    columns.join(", ")
                )
                .into_bytes()
            }
            Format::LoadData => Vec::new(),
        };
        let mut batch = Batch {
            format,
            data: Vec::new(),
            head,
            rows: 0,
            capacity,
        };
        batch.data = batch.fresh();
        batch
    }

    /// An empty batch sized for a full one plus a row, so that filling it
    /// never doubles a buffer past what is sent (memory grows with `jobs`).
    fn fresh(&self) -> Vec<u8> {
        let mut data = Vec::with_capacity(self.capacity);
        data.extend_from_slice(&self.head);
        data
    }

    /// Appends a row; returns the bytes it took.
    fn push_row(&mut self, row: &mysql_async::Row, table: &Table) -> usize {
        let before = self.data.len();
        match self.format {
            Format::Insert => {
                if self.rows > 0 {
                    self.data.push(b',');
                }
                self.data.push(b'(');
                for (i, column) in table.columns.iter().enumerate() {
                    if i > 0 {
                        self.data.push(b',');
                    }
                    let value = row.as_ref(i).unwrap_or(&Value::NULL);
                    push_literal(&mut self.data, value, column.binary);
                }
                self.data.push(b')');
            }
            Format::LoadData => {
                for (i, column) in table.columns.iter().enumerate() {
                    if i > 0 {
                        self.data.push(b'\t');
                    }
                    let value = row.as_ref(i).unwrap_or(&Value::NULL);
                    push_field(&mut self.data, value, column.binary);
                }
                self.data.push(b'\n');
            }
        }
        self.rows += 1;
        self.data.len() - before
    }

    fn len(&self) -> usize {
        self.data.len()
    }

    fn is_empty(&self) -> bool {
        self.rows == 0
    }

    fn take(&mut self) -> Vec<u8> {
        self.rows = 0;
        let fresh = self.fresh();
        std::mem::replace(&mut self.data, fresh)
    }
}

/// Appends a value as a field of `LOAD DATA`'s default format: `\N` for
/// NULL, hex for bytes (turned back by `UNHEX` in the statement), text with
/// backslash escapes for tab, newline, backslash and NUL.
pub fn push_field(data: &mut Vec<u8>, value: &Value, binary: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    match value {
        Value::NULL => data.extend_from_slice(b"\\N"),
        Value::Bytes(bytes) if binary => {
            for b in bytes {
                data.push(HEX[(b >> 4) as usize]);
                data.push(HEX[(b & 15) as usize]);
            }
        }
        Value::Bytes(bytes) => {
            for &b in bytes {
                match b {
                    b'\\' => data.extend_from_slice(b"\\\\"),
                    b'\t' => data.extend_from_slice(b"\\t"),
                    b'\n' => data.extend_from_slice(b"\\n"),
                    b'\r' => data.extend_from_slice(b"\\r"),
                    0 => data.extend_from_slice(b"\\0"),
                    _ => data.push(b),
                }
            }
        }
        other => {
            let text = other.as_sql(false);
            data.extend_from_slice(text.trim_matches('\'').as_bytes());
        }
    }
}

/// The `LOAD DATA` statement of a table: bytes columns go through a
/// variable and `UNHEX`. Then every column goes through a variable: MariaDB
/// 10.11 forgets `NO_AUTO_VALUE_ON_ZERO` for columns loaded directly when a
/// `SET` clause is present (a zero id became the next AUTO_INCREMENT value).
fn load_sql(table: &Table) -> String {
    let via_variables = table.columns.iter().any(|c| c.binary);
    let mut targets = Vec::new();
    let mut sets = Vec::new();
    for (i, column) in table.columns.iter().enumerate() {
        if column.binary {
            targets.push(format!("@c{i}"));
            sets.push(format!("{} = UNHEX(@c{i})", quote(&column.name)));
        } else if via_variables {
            targets.push(format!("@c{i}"));
            sets.push(format!("{} = @c{i}", quote(&column.name)));
        } else {
            targets.push(quote(&column.name));
        }
    }
    let mut sql = format!(
        "LOAD DATA LOCAL INFILE 'cutover-rows' INTO TABLE {} CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({})",
        quote(&table.name),
        targets.join(", ")
    );
    if !sets.is_empty() {
        sql.push_str(" SET ");
        sql.push_str(&sets.join(", "));
    }
    sql
}

/// Shared by the workers: what is left, and how far along the copy is.
pub struct Work<'a> {
    pub queue: RefCell<VecDeque<Chunk>>,
    pub tables: &'a [Table],
    pub meter: &'a Meter,
    pub db: &'a str,
    /// Bytes per INSERT statement or LOAD DATA stream.
    pub batch: usize,
    pub format: Format,
    /// Indexes to build per table once all its rows are in.
    pub deferred: BTreeMap<String, Vec<DeferredIndex>>,
    /// Ranges still to copy per table in this attempt.
    pub chunks_left: RefCell<BTreeMap<String, usize>>,
    /// Tables whose deferred indexes this attempt built.
    pub indexed: RefCell<BTreeSet<String>>,
    /// Tables whose rows are all in, waiting for the index builder.
    pub to_index: RefCell<VecDeque<String>>,
    /// The workers are finished (or one failed).
    pub rows_done: Cell<bool>,
}

impl Work<'_> {
    /// True when `chunk` was its table's last range to copy.
    fn finish(&self, chunk: &Chunk) -> bool {
        let mut left = self.chunks_left.borrow_mut();
        match left.get_mut(&chunk.table) {
            Some(n) => {
                *n = n.saturating_sub(1);
                *n == 0
            }
            None => false,
        }
    }
}

/// Builds the deferred indexes of each table whose rows are all in, as the
/// workers finish them, until the workers are done and nothing waits.
pub async fn builder(
    conn: &mut mysql_async::Conn,
    work: &Work<'_>,
    cx: &StepContext<'_>,
) -> anyhow::Result<()> {
    loop {
        let next = work.to_index.borrow_mut().pop_front();
        match next {
            Some(table) => build_indexes(conn, work, &table, cx).await?,
            None if work.rows_done.get() => return Ok(()),
            None => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Builds a table's deferred indexes that it lacks (an earlier attempt may
/// have built them before it could record so), then records them built.
pub async fn build_indexes(
    dst: &mut mysql_async::Conn,
    work: &Work<'_>,
    table: &str,
    cx: &StepContext<'_>,
) -> anyhow::Result<()> {
    let Some(deferred) = work.deferred.get(table) else {
        return Ok(());
    };
    let on_target = |e: mysql_async::Error| anyhow!("target: {table}: {}", describe(&e));
    let have: Vec<String> = dst
        .exec(
            "SELECT DISTINCT index_name FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ?",
            (table,),
        )
        .await
        .map_err(on_target)?;
    let missing: Vec<&str> = deferred
        .iter()
        .filter(|i| !have.contains(&i.name))
        .map(|i| i.definition.as_str())
        .collect();
    if !missing.is_empty() {
        let started = Instant::now();
        let adds: Vec<String> = missing.iter().map(|d| format!("ADD {d}")).collect();
        dst.query_drop(format!("ALTER TABLE {} {}", quote(table), adds.join(", ")))
            .await
            .map_err(on_target)
            .with_context(|| format!("failed to build the indexes of {table}"))?;
        cx.report(Progress::Status(format!(
            "built {} index(es) of {table} in {:.1} s",
            missing.len(),
            started.elapsed().as_secs_f64()
        )));
    }
    dst.exec_drop(
        ledger::record_sql(),
        (
            work.db,
            ledger::indexes_key(table),
            None::<u64>,
            None::<u64>,
        ),
    )
    .await
    .map_err(on_target)?;
    work.indexed.borrow_mut().insert(table.to_string());
    Ok(())
}

/// Takes chunks off the queue until it is empty.
pub async fn worker(
    src: &mut mysql_async::Conn,
    dst: &mut mysql_async::Conn,
    work: &Work<'_>,
    cx: &StepContext<'_>,
) -> anyhow::Result<()> {
    loop {
        let Some(chunk) = work.queue.borrow_mut().pop_front() else {
            return Ok(());
        };
        let table = work
            .tables
            .iter()
            .find(|t| t.name == chunk.table)
            .ok_or_else(|| anyhow!("table {} vanished from the plan", chunk.table))?;
        copy_chunk(src, dst, table, &chunk, work, cx)
            .await
            .with_context(|| match (chunk.lo, chunk.hi) {
                (None, None) => format!("failed to copy the rows of {}", table.name),
                _ => format!(
                    "failed to copy rows {}..{} of {}",
                    chunk.lo.map(|v| v.to_string()).unwrap_or_default(),
                    chunk.hi.map(|v| v.to_string()).unwrap_or_default(),
                    table.name
                ),
            })?;
        if work.finish(&chunk) && work.deferred.contains_key(&table.name) {
            work.to_index.borrow_mut().push_back(table.name.clone());
        }
    }
}

async fn copy_chunk(
    src: &mut mysql_async::Conn,
    dst: &mut mysql_async::Conn,
    table: &Table,
    chunk: &Chunk,
    work: &Work<'_>,
    cx: &StepContext<'_>,
) -> anyhow::Result<()> {
    let on_target = |e: mysql_async::Error| anyhow!("target: {}", describe(&e));
    dst.query_drop("START TRANSACTION")
        .await
        .map_err(on_target)?;
    // Reading and writing overlap: the next batch is read while the
    // target loads the previous one.
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(2);
    let rows = Cell::new(0u64);
    let bytes = Cell::new(0u64);
    let read = async {
        let mut result = src
            .query_iter(select_sql(table, chunk))
            .await
            .map_err(|e| anyhow!("source: {}", describe(&e)))?;
        let mut batch = Batch::new(work.format, table, work.batch + 256 * 1024);
        while let Some(row) = result
            .next()
            .await
            .map_err(|e| anyhow!("source: {}", describe(&e)))?
        {
            let added = batch.push_row(&row, table);
            rows.set(rows.get() + 1);
            bytes.set(bytes.get() + added as u64);
            work.meter.add(&table.name, 1, added as u64, cx).await;
            if batch.len() >= work.batch && sender.send(batch.take()).await.is_err() {
                break; // The writer failed: its error is the one to report.
            }
        }
        if !batch.is_empty() {
            let _ = sender.send(batch.take()).await;
        }
        drop(sender);
        anyhow::Ok(())
    };
    let load = load_sql(table);
    let write = async {
        while let Some(data) = receiver.recv().await {
            match work.format {
                Format::Insert => dst.query_drop(data).await.map_err(on_target)?,
                Format::LoadData => {
                    let data = bytes::Bytes::from(data);
                    dst.set_infile_handler(async move {
                        Ok(
                            Box::pin(futures_util::stream::once(async move { Ok(data) }))
                                as mysql_async::InfileData,
                        )
                    });
                    dst.query_drop(&load).await.map_err(on_target)?;
                }
            }
        }
        anyhow::Ok(())
    };
    let (read, write) = tokio::join!(read, write);
    write?;
    read?;
    dst.exec_drop(
        ledger::record_sql(),
        (work.db, chunk.key(), rows.get(), bytes.get()),
    )
    .await
    .map_err(on_target)?;
    dst.query_drop("COMMIT").await.map_err(on_target)?;
    work.meter.finish_chunk(&table.name);
    Ok(())
}

/// One table's part of the bytes bar.
pub struct TableShare {
    pub name: String,
    /// Data and index bytes on the source, read before the copy.
    pub bytes: u64,
    pub rows_estimate: u64,
    /// Of its ranges, the share an earlier attempt copied.
    pub done_before: f64,
    /// Ranges still to copy in this attempt.
    pub chunks_left: usize,
    /// Rows copied in this attempt.
    pub rows: u64,
}

impl TableShare {
    /// Its share done: whole once its last range is in, else its ranges
    /// copied before plus its rows against the server's estimate.
    fn share(&self) -> f64 {
        if self.chunks_left == 0 {
            return 1.0;
        }
        let now = self.rows as f64 / self.rows_estimate.max(1) as f64;
        (self.done_before + now).min(0.99)
    }
}

/// Rows and bytes so far, and the chunks left per table; reports progress
/// with an ETA every half second, and the bytes bar.
pub struct Meter {
    pub total: shared::meter::Meter,
    rows_expected: u64,
    tables: RefCell<Vec<TableShare>>,
}

impl Meter {
    /// `tables`: every table in scope (those with no range left count as
    /// done); `rows_expected`: the rows of the pending ranges, estimated.
    pub fn new(tables: Vec<TableShare>, rows_expected: u64, max_rate: Option<u64>) -> Meter {
        Meter {
            total: shared::meter::Meter::new(max_rate),
            rows_expected,
            tables: RefCell::new(tables),
        }
    }

    async fn add(&self, table: &str, rows: u64, bytes: u64, cx: &StepContext<'_>) {
        if let Some(entry) = self
            .tables
            .borrow_mut()
            .iter_mut()
            .find(|t| t.name == table)
        {
            entry.rows += rows;
        }
        if self.total.count(rows, bytes) {
            self.report(cx);
        }
        self.total.pace().await;
    }

    fn finish_chunk(&self, table: &str) {
        if let Some(entry) = self
            .tables
            .borrow_mut()
            .iter_mut()
            .find(|t| t.name == table)
        {
            entry.chunks_left = entry.chunks_left.saturating_sub(1);
        }
    }

    /// Bytes done of the total, in the tables' size on the source.
    pub fn disk_bytes(&self) -> (u64, u64) {
        let tables = self.tables.borrow();
        let total = tables.iter().map(|t| t.bytes).sum();
        let done = tables
            .iter()
            .map(|t| (t.share() * t.bytes as f64) as u64)
            .sum();
        (done, total)
    }

    /// The bytes bar only (at the start, and after the rows).
    pub fn report_transfer(&self, cx: &StepContext<'_>) {
        let (done, total) = self.disk_bytes();
        self.total.report_transfer(cx, done, total);
    }

    fn report(&self, cx: &StepContext<'_>) {
        let rows = self.total.rows();
        let expected = self.rows_expected.max(rows);
        self.total.report_rows(cx, Some(expected));
        self.report_transfer(cx);
        let fraction = rows as f64 / expected.max(1) as f64;
        let eta = self.total.eta(fraction);
        let tables = self.tables.borrow();
        let busy = tables.iter().filter(|t| t.chunks_left > 0).count();
        cx.report(Progress::Status(format!(
            "{rows} rows, {} copied ({}), {} of {} tables left, {:.0}%{eta}",
            human_bytes(self.total.bytes()),
            self.total.rates(),
            busy,
            tables.len(),
            fraction * 100.0
        )));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_every_key_once() {
        let cuts = cut_points(1, 100, 4);
        assert_eq!(cuts, vec![26, 51, 76]);
        let ranges = chunks("t", &cuts);
        assert_eq!(ranges.len(), 4);
        assert_eq!((ranges[0].lo, ranges[0].hi), (None, Some(26)));
        assert_eq!((ranges[3].lo, ranges[3].hi), (Some(76), None));
        for key in -5..200 {
            let holders = ranges
                .iter()
                .filter(|c| c.lo.is_none_or(|lo| key >= lo) && c.hi.is_none_or(|hi| key < hi))
                .count();
            assert_eq!(holders, 1, "key {key}");
        }
        assert!(cut_points(5, 5, 8).is_empty());
        assert_eq!(chunks("t", &[]).len(), 1);
    }

    #[test]
    fn fields_escape_what_load_data_would_misread() {
        let mut data = Vec::new();
        push_field(&mut data, &Value::Bytes(b"a\tb\\c\nd\0".to_vec()), false);
        assert_eq!(data, b"a\\tb\\\\c\\nd\\0");
        data.clear();
        push_field(&mut data, &Value::NULL, false);
        assert_eq!(data, b"\\N");
        data.clear();
        push_field(&mut data, &Value::Bytes(b"\\N".to_vec()), false);
        assert_eq!(data, b"\\\\N");
        data.clear();
        push_field(&mut data, &Value::Bytes(vec![0, 255]), true);
        assert_eq!(data, b"00FF");
    }

    #[test]
    fn literals_escape_what_mysql_would_misread() {
        let mut sql = Vec::new();
        push_literal(&mut sql, &Value::Bytes(b"it's a \\ \n\0".to_vec()), false);
        assert_eq!(sql, b"'it\\'s a \\\\ \\n\\0'");
        sql.clear();
        push_literal(&mut sql, &Value::Bytes(vec![0, 255, 16]), true);
        assert_eq!(sql, b"X'00FF10'");
        sql.clear();
        push_literal(&mut sql, &Value::NULL, false);
        assert_eq!(sql, b"NULL");
    }
}
