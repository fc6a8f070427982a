//! `postgres.copy`: copies a database — pre-data schema, then every table's
//! rows streamed from `COPY … TO STDOUT` on the source into `COPY … FROM STDIN`
//! on the target over `jobs` connections sharing one exported snapshot
//! (largest tables first, no intermediate file), then post-data (indexes,
//! constraints) built in parallel by pg_restore, then sequences. Resumable per
//! table through the ledger in the target (`copy_progress.rs`).

use std::cell::RefCell;
use std::collections::{BTreeSet, VecDeque};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use schemars::JsonSchema;
use serde::Deserialize;
use tokio_postgres::Client;

use super::connect::label;
use super::connect::{pg, quote_ident, quote_literal, Endpoint};
use super::copy_progress::{self as ledger, POST_DATA, POST_DATA_STARTED, PRE_DATA};
use super::session::connect_pinned;
use super::sync_sequences::copy_sequences;
use super::tables::{list_tables, Table, INTERNAL_SCHEMA};
use super::tool::tool;
use crate::actions::shared::moved::Moved;
use crate::actions::shared::on_existing::OnExisting;
use crate::actions::shared::tables::TableFilter;
use crate::actions::shared::units::{human_bytes, parse_rate};
use crate::actions::{
    descriptor, shared, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};

/// Parameters of `postgres.copy`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Copy {
    /// The database to copy from.
    pub source: String,
    /// The database to copy into (it must exist; its roles too).
    pub target: String,
    /// Connections per side for the rows, and pg_restore jobs for indexes (default 4).
    #[serde(default = "default_jobs")]
    pub jobs: u32,
    /// Which tables to copy (default: all).
    #[serde(default)]
    pub tables: TableFilter,
    /// `fail` (default) or `truncate` when the target already has tables.
    #[serde(default)]
    pub on_existing: OnExisting,
    /// Bytes per second read from the source at most, e.g. `50MB` (default: no limit).
    #[serde(default)]
    pub max_rate: Option<String>,
}

fn default_jobs() -> u32 {
    4
}

/// Bytes of rows sent to the target at a time.
const BATCH: usize = 256 * 1024;

/// How the target is being filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Our own schema: pre-data, rows, post-data.
    Fresh,
    /// The target's schema (`on_existing: truncate`): rows only.
    Existing,
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "postgres.copy",
    Copy,
    "copy a database: schema, rows streamed over parallel COPY from one snapshot, indexes, sequences; resumable per table"
);

#[async_trait(?Send)]
impl Action for Copy {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn endpoints(&self) -> Vec<String> {
        vec![
            crate::actions::shared::endpoint::database(&self.source),
            crate::actions::shared::endpoint::database(&self.target),
        ]
    }

    fn describe(&self) -> String {
        let scope = self.tables.describe();
        format!(
            "copy {} into {} ({} connections{}{})",
            label(&self.source),
            label(&self.target),
            self.jobs.max(1),
            if scope.is_empty() {
                String::new()
            } else {
                format!(", {scope}")
            },
            if self.on_existing == OnExisting::Truncate {
                ", emptying existing tables"
            } else {
                ""
            }
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let started = Instant::now();
        let jobs = self.jobs.clamp(1, 64) as usize;
        let max_rate = self.max_rate.as_deref().map(parse_rate).transpose()?;
        let source = Endpoint::parse(&self.source)?;
        let target = Endpoint::parse(&self.target)?;
        // Every session pinned: the rows travel as text (`session.rs`).
        let (exporter, control) =
            tokio::try_join!(connect_pinned(&source), connect_pinned(&target))?;

        if let Some(done) = already_done(&control, &target).await? {
            cx.report(Progress::Status(format!(
                "already copied ({done}); nothing to do"
            )));
            return Ok(Applied {
                data: serde_json::json!({ "already_done": done }),
                ..Applied::default()
            });
        }
        let snapshot = export_snapshot(&exporter)
            .await
            .context("failed to export a snapshot of the source")?;
        let all = list_tables(&exporter, &TableFilter::default()).await?;
        let tables = list_tables(&exporter, &self.tables).await?;
        let excluded: Vec<&Table> = all.iter().filter(|t| !tables.contains(t)).collect();

        let work = ScratchDir::new()?;
        let (shape, done) = match ledger::read(&control).await? {
            Some(done) => {
                let shape = if done.contains(&format!("{POST_DATA}:skipped")) {
                    Shape::Existing
                } else {
                    Shape::Fresh
                };
                cx.report(Progress::Status(format!(
                    "resuming: {} of {} tables were copied before",
                    tables
                        .iter()
                        .filter(|t| done.contains(&ledger::table_key(&t.schema, &t.name)))
                        .count(),
                    tables.len()
                )));
                (shape, done)
            }
            None => {
                let present = list_tables(&control, &TableFilter::default()).await?;
                if present.is_empty() {
                    cx.report(Progress::Status("copying the schema (pre-data)".into()));
                    let dump = tool("pg_dump", &source)
                        .args(dump_args("pre-data", &snapshot, &excluded))
                        .run(cx, None)
                        .await
                        .context("failed to dump the schema of the source")?;
                    let mut script = dump;
                    script.extend_from_slice(ledger::create_sql(PRE_DATA).as_bytes());
                    tool("psql", &target)
                        .args([
                            "-X",
                            "-q",
                            "-v",
                            "ON_ERROR_STOP=1",
                            "--single-transaction",
                            "-f",
                            "-",
                        ])
                        .run(cx, Some(&script))
                        .await
                        .context("failed to create the schema on the target")?;
                    (Shape::Fresh, BTreeSet::from([PRE_DATA.to_string()]))
                } else if self.on_existing == OnExisting::Fail {
                    let names: Vec<String> = present.iter().take(5).map(Table::display).collect();
                    return Err(anyhow!(
                        "the target {} is not empty: it has {} table(s) ({}{}) (hint: set `on_existing: truncate` to empty them and copy the rows into the existing schema, or copy into an empty database)",
                        target.label(),
                        present.len(),
                        names.join(", "),
                        if present.len() > 5 { ", …" } else { "" }
                    )
                    .into());
                } else {
                    let missing: Vec<String> = tables
                        .iter()
                        .filter(|t| {
                            !present
                                .iter()
                                .any(|p| p.schema == t.schema && p.name == t.name)
                        })
                        .map(Table::display)
                        .collect();
                    if !missing.is_empty() {
                        return Err(
                            anyhow!("the target lacks table(s) {}", missing.join(", ")).into()
                        );
                    }
                    let names: Vec<String> = tables.iter().map(Table::qualified).collect();
                    let mut sql = format!("BEGIN; {}", ledger::create_sql(PRE_DATA));
                    sql.push_str(&format!(
                        "INSERT INTO {INTERNAL_SCHEMA}.copy_progress (item) VALUES ('{POST_DATA}:skipped');"
                    ));
                    if !names.is_empty() {
                        sql.push_str(&format!("TRUNCATE {};", names.join(", ")));
                    }
                    sql.push_str("COMMIT;");
                    control
                        .batch_execute(&sql)
                        .await
                        .map_err(pg)
                        .context("failed to empty the target's tables")?;
                    (Shape::Existing, BTreeSet::from([PRE_DATA.to_string()]))
                }
            }
        };

        let post_data = work.path.join("post-data.dump");
        if shape == Shape::Fresh && !done.contains(POST_DATA) {
            // Dumped now, from the same snapshot as the rows.
            let mut args = dump_args("post-data", &snapshot, &excluded);
            args.extend([
                "-Fc".to_string(),
                "-f".to_string(),
                post_data.display().to_string(),
            ]);
            tool("pg_dump", &source)
                .args(args)
                .run(cx, None)
                .await
                .context("failed to dump the indexes and constraints of the source")?;
        }

        let pending: Vec<Table> = tables
            .iter()
            .filter(|t| !done.contains(&ledger::table_key(&t.schema, &t.name)))
            .cloned()
            .collect();
        let meter = Meter::new(&tables, &done, max_rate);
        if !pending.is_empty() {
            let workers = jobs.min(pending.len());
            let mut sources = vec![exporter];
            let mut targets = Vec::new();
            for _ in 1..workers {
                sources.push(connect_pinned(&source).await?);
            }
            for _ in 0..workers {
                targets.push(connect_pinned(&target).await?);
            }
            for client in sources.iter().skip(1) {
                client
                    .batch_execute(&format!(
                        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT {}",
                        quote_literal(&snapshot)
                    ))
                    .await
                    .map_err(pg)
                    .context("failed to import the snapshot")?;
            }
            if shape == Shape::Existing {
                for client in &targets {
                    client
                        .batch_execute("SET session_replication_role = replica")
                        .await
                        .map_err(pg)
                        .context("failed to turn off triggers and foreign key checks on the target (needs a superuser)")?;
                }
            }
            let queue = RefCell::new(VecDeque::from(pending));
            let runs = sources
                .iter()
                .zip(&targets)
                .map(|(src, dst)| worker(src, dst, &queue, shape, &meter, cx));
            futures_util::future::try_join_all(runs).await?;
        }
        meter.total.report_total(cx);

        if shape == Shape::Fresh && !done.contains(POST_DATA) {
            cx.report(Progress::Status(format!(
                "building indexes and constraints (post-data, {jobs} jobs)"
            )));
            let restarted = done.contains(POST_DATA_STARTED);
            record(&control, POST_DATA_STARTED).await?;
            let mut args = vec![
                "--section=post-data".to_string(),
                "--exit-on-error".to_string(),
                format!("--jobs={jobs}"),
                format!("--dbname={}", target.dbname()),
            ];
            if restarted {
                // An earlier attempt built some of them: drop and build again.
                args.extend(["--clean".to_string(), "--if-exists".to_string()]);
            }
            args.push(post_data.display().to_string());
            tool("pg_restore", &target)
                .args(args)
                .run(cx, None)
                .await
                .context("failed to build indexes and constraints on the target")?;
            record(&control, POST_DATA).await?;
        }

        let sequences = {
            let src = connect_pinned(&source).await?;
            copy_sequences(&src, &control, cx).await?
        };
        let stamp = format!(
            "{} rows from {} at {}",
            meter.total.rows(),
            source.label(),
            jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ")
        );
        control
            .batch_execute(&format!(
                "BEGIN; ALTER DATABASE {} SET cutover.copy_done = {}; DROP SCHEMA {INTERNAL_SCHEMA} CASCADE; COMMIT;",
                quote_ident(target.dbname()),
                quote_literal(&stamp)
            ))
            .await
            .map_err(pg)
            .context("failed to remove the copy's ledger from the target")?;
        let seconds = started.elapsed().as_secs_f64();
        let moved = super::tables::moved(&tables).with_rows(meter.total.rows());
        Ok(Applied {
            data: moved.into_data(serde_json::json!({
                "tables": tables.len(),
                "rows": meter.total.rows(),
                "bytes": meter.total.bytes(),
                "sequences": sequences,
                "seconds": (seconds * 1000.0).round() / 1000.0,
                "resumed": done.len() > 1,
            })),
            ..Applied::default()
        })
    }

    // Every table in scope, as `apply` counts it in `moved`.
    async fn measure(&self) -> Option<anyhow::Result<Moved>> {
        Some(super::measure::measure_tables(&self.source, &self.tables).await)
    }

    // The ledger in the target says which tables are in: a second run copies only the rest.
    fn idempotent(&self) -> bool {
        true
    }

    // No inverse: the tables of a half-done copy stay in the target, and its ledger lets the next run finish the copy (see the doc page).
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}

/// Opens the transaction whose snapshot every connection and pg_dump share.
async fn export_snapshot(client: &Client) -> anyhow::Result<String> {
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(pg)?;
    let row = client
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .map_err(pg)?;
    Ok(row.get(0))
}

/// `pg_dump` arguments for one schema section from the exported snapshot.
fn dump_args(section: &str, snapshot: &str, excluded: &[&Table]) -> Vec<String> {
    let mut args = vec![
        format!("--section={section}"),
        format!("--snapshot={snapshot}"),
        format!("--exclude-schema={INTERNAL_SCHEMA}"),
    ];
    for table in excluded {
        args.push(format!("--exclude-table={}", table.qualified()));
    }
    args
}

/// The stamp a completed copy left on the target, if the target still has
/// its tables: a step re-run after a crash at its very end does nothing.
async fn already_done(control: &Client, target: &Endpoint) -> anyhow::Result<Option<String>> {
    let row = control
        .query_opt(
            "SELECT substr(cfg, length('cutover.copy_done=') + 1)
             FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase, unnest(s.setconfig) cfg
             WHERE d.datname = $1 AND s.setrole = 0 AND cfg LIKE 'cutover.copy\\_done=%'",
            &[&target.dbname()],
        )
        .await
        .map_err(pg)?;
    let Some(row) = row else { return Ok(None) };
    if ledger::read(control).await?.is_some()
        || list_tables(control, &TableFilter::default())
            .await?
            .is_empty()
    {
        return Ok(None);
    }
    Ok(Some(row.get(0)))
}

async fn record(client: &Client, item: &str) -> anyhow::Result<()> {
    client
        .execute(&ledger::record_sql(), &[&item, &None::<i64>, &None::<i64>])
        .await
        .map_err(pg)
        .map(|_| ())
        .with_context(|| format!("failed to record {item} in the copy's ledger"))
}

/// Takes tables off the queue until it is empty; each table's rows and its
/// ledger entry commit in one transaction on the target.
async fn worker(
    src: &Client,
    dst: &Client,
    queue: &RefCell<VecDeque<Table>>,
    shape: Shape,
    meter: &Meter,
    cx: &StepContext<'_>,
) -> anyhow::Result<()> {
    loop {
        let Some(table) = queue.borrow_mut().pop_front() else {
            return Ok(());
        };
        let started = Instant::now();
        copy_table(src, dst, &table, shape, meter, cx)
            .await
            .with_context(|| format!("failed to copy the rows of {}", table.display()))?;
        let (rows, bytes) = meter.finish_table(&table);
        cx.report(Progress::Status(format!(
            "copied {}: {rows} rows, {} in {:.2} s",
            table.display(),
            human_bytes(bytes),
            started.elapsed().as_secs_f64()
        )));
    }
}

async fn copy_table(
    src: &Client,
    dst: &Client,
    table: &Table,
    shape: Shape,
    meter: &Meter,
    cx: &StepContext<'_>,
) -> anyhow::Result<()> {
    dst.batch_execute("BEGIN").await.map_err(pg)?;
    if shape == Shape::Fresh {
        // Rows a crashed attempt committed cannot exist (they commit with
        // their ledger entry), but a target filled by hand could: start clean.
        dst.batch_execute(&format!("TRUNCATE ONLY {}", table.qualified()))
            .await
            .map_err(pg)?;
    }
    let columns = table.copy_target();
    let sink = dst
        .copy_in::<_, Bytes>(&format!("COPY {columns} FROM STDIN"))
        .await
        .map_err(pg)?;
    let stream = src
        .copy_out(&format!("COPY {columns} TO STDOUT"))
        .await
        .map_err(pg)?;
    futures_util::pin_mut!(sink);
    futures_util::pin_mut!(stream);
    // The server sends one message per row: pass them on in batches, or the
    // per-message cost (a send, a flush, the meter) is the copy's bottleneck.
    let mut batch = BytesMut::with_capacity(BATCH);
    loop {
        let chunk = stream.next().await;
        if let Some(chunk) = &chunk {
            let chunk = chunk
                .as_ref()
                .map_err(|e| anyhow!(super::connect::describe(e)));
            batch.extend_from_slice(chunk.context("reading from the source")?);
        }
        if batch.len() >= BATCH || (chunk.is_none() && !batch.is_empty()) {
            let full = batch.split().freeze();
            meter.add(table, &full, cx).await;
            sink.send(full)
                .await
                .map_err(pg)
                .context("writing to the target")?;
        }
        if chunk.is_none() {
            break;
        }
    }
    let rows = sink.as_mut().finish().await.map_err(pg)?;
    let bytes = meter.table_bytes(table);
    let key = ledger::table_key(&table.schema, &table.name);
    dst.execute(
        &ledger::record_sql(),
        &[&key, &(rows as i64), &(bytes as i64)],
    )
    .await
    .map_err(pg)?;
    dst.batch_execute("COMMIT").await.map_err(pg)?;
    Ok(())
}

/// Rows and bytes so far, per table and in total; reports progress and the ETA.
struct Meter {
    total: shared::meter::Meter,
    /// (table, rows, bytes, finished) for every table in scope.
    tables: RefCell<Vec<(Table, u64, u64, bool)>>,
    rows_estimate: Option<u64>,
}

impl Meter {
    fn new(tables: &[Table], done: &BTreeSet<String>, max_rate: Option<u64>) -> Meter {
        let rows_estimate = tables.iter().map(|t| t.rows_estimate).sum::<Option<u64>>();
        Meter {
            total: shared::meter::Meter::new(max_rate),
            tables: RefCell::new(
                tables
                    .iter()
                    .map(|t| {
                        let finished = done.contains(&ledger::table_key(&t.schema, &t.name));
                        (t.clone(), 0, 0, finished)
                    })
                    .collect(),
            ),
            rows_estimate,
        }
    }

    async fn add(&self, table: &Table, chunk: &[u8], cx: &StepContext<'_>) {
        // COPY's text format ends every row with a newline and escapes the
        // newlines inside values.
        let rows = chunk.iter().filter(|b| **b == b'\n').count() as u64;
        if let Some(entry) = self.tables.borrow_mut().iter_mut().find(|e| &e.0 == table) {
            entry.1 += rows;
            entry.2 += chunk.len() as u64;
        }
        if self.total.count(rows, chunk.len() as u64) {
            self.report(cx);
        }
        self.total.pace().await;
    }

    fn table_bytes(&self, table: &Table) -> u64 {
        self.tables
            .borrow()
            .iter()
            .find(|e| &e.0 == table)
            .map(|e| e.2)
            .unwrap_or(0)
    }

    fn finish_table(&self, table: &Table) -> (u64, u64) {
        let mut tables = self.tables.borrow_mut();
        match tables.iter_mut().find(|e| &e.0 == table) {
            Some(entry) => {
                entry.3 = true;
                (entry.1, entry.2)
            }
            None => (0, 0),
        }
    }

    /// The share of the work done, weighting each table by its size on disk.
    fn fraction(&self) -> f64 {
        let tables = self.tables.borrow();
        let total: f64 = tables.iter().map(|e| e.0.bytes.max(1) as f64).sum();
        let done: f64 = tables
            .iter()
            .map(|(t, rows, _, finished)| {
                let share = if *finished {
                    1.0
                } else {
                    match t.rows_estimate {
                        Some(estimate) if estimate > 0 => {
                            (*rows as f64 / estimate as f64).min(0.99)
                        }
                        _ => 0.0,
                    }
                };
                share * t.bytes.max(1) as f64
            })
            .sum();
        if total > 0.0 {
            done / total
        } else {
            1.0
        }
    }

    fn report(&self, cx: &StepContext<'_>) {
        self.total.report_rows(cx, self.rows_estimate);
        let rows = self.total.rows();
        let fraction = self.fraction();
        let eta = self.total.eta(fraction);
        let tables = self.tables.borrow();
        let finished = tables.iter().filter(|e| e.3).count();
        let active: Vec<String> = tables
            .iter()
            .filter(|e| !e.3 && e.2 > 0)
            .map(|(t, rows, bytes, _)| {
                format!("{} {rows} rows/{}", t.display(), human_bytes(*bytes))
            })
            .collect();
        cx.report(Progress::Status(format!(
            "{rows} rows, {} copied ({:.0} rows/s), {finished} of {} tables done, {:.0}%{eta}{}",
            human_bytes(self.total.bytes()),
            rows as f64 / self.total.seconds(),
            tables.len(),
            fraction * 100.0,
            if active.is_empty() {
                String::new()
            } else {
                format!("; in flight: {}", active.join(", "))
            }
        )));
    }
}

/// A private directory for the post-data archive, removed when the copy ends.
struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    fn new() -> anyhow::Result<ScratchDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path =
            std::env::temp_dir().join(format!("cutover-copy-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("failed to create {}", path.display()))?;
        Ok(ScratchDir { path })
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
