//! `postgres.copy`: copies a database — pre-data schema, then every table's
//! rows streamed from `COPY … TO STDOUT` on the source into `COPY … FROM STDIN`
//! on the target over `jobs` connections sharing one exported snapshot
//! (largest tables first, no intermediate file); each table's indexes and
//! constraints built as its rows are in, beside the other tables' rows
//! (`copy_builds.rs`); then the rest of post-data by pg_restore, foreign keys
//! NOT VALID then validated, sequences. Resumable per table, range and build
//! through the ledger in the target (`copy_progress.rs`).

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
use super::copy_builds::{self, Builds};
use super::copy_plan::{self, Piece, Servers};
use super::copy_progress::{self as ledger, POST_DATA, POST_DATA_STARTED, PRE_DATA};
use super::session::connect_pinned;
use super::sync_sequences::copy_sequences;
use super::tables::{list_tables, Table, INTERNAL_SCHEMA};
use super::tool::{tool, tool_with_settings};
use crate::actions::shared::moved::Moved;
use crate::actions::shared::on_existing::OnExisting;
use crate::actions::shared::tables::TableFilter;
use crate::actions::shared::units::{human_bytes, parse_rate, ByteSize};
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
    /// Tables larger than this on disk are cut into ranges of pages copied
    /// over several connections at once (default: none is cut — a whole
    /// table loads with `COPY … FREEZE`, which ranges cannot, and on 2 cores
    /// shared by both servers one stream was faster: `docs/benchmarks.md`).
    #[serde(default)]
    pub split_above: Option<ByteSize>,
    /// `auto` (default): rows in PostgreSQL's binary format where both servers
    /// are the same major version and every column's type round-trips in it,
    /// text for the other tables; `text`: always text.
    #[serde(default)]
    pub format: RowFormat,
    /// `maintenance_work_mem` of each session building indexes and
    /// constraints on the target (there are `jobs` of them; default: the
    /// target's own setting).
    #[serde(default)]
    pub maintenance_work_mem: Option<ByteSize>,
    /// `max_parallel_maintenance_workers` of those sessions (default: the
    /// target's own setting).
    #[serde(default)]
    pub max_parallel_maintenance_workers: Option<u32>,
}

/// How rows travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RowFormat {
    #[default]
    Auto,
    Text,
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
        let post_data_due = shape == Shape::Fresh && !done.contains(POST_DATA);
        // Dumped from the same snapshot as the rows, while they copy (the
        // exporter's transaction stays open until this is done), and listed
        // for what is left of it after the builds below.
        let post_data_listing = async {
            if !post_data_due {
                return Ok(String::new());
            }
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
            let listing = tool("pg_restore", &target)
                .args(["-l".to_string(), post_data.display().to_string()])
                .run(cx, None)
                .await
                .context("failed to list the post-data archive")?;
            anyhow::Ok(String::from_utf8_lossy(&listing).into_owned())
        };

        let pieces = self
            .pieces(&exporter, &control, &tables, &done, shape, jobs, cx)
            .await?;
        let meter = Meter::new(&tables, &done, max_rate, &pieces);
        meter.report_transfer(cx);
        // Measured on pgbench scale 100 (2 cores): 64MB, 512MB and 1GB
        // within the noise of each other, so the target's own settings
        // stay unless the playbook says otherwise.
        let mut settings = Vec::new();
        if let Some(size) = self.maintenance_work_mem {
            settings.push(("maintenance_work_mem", format!("{}kB", size.0 / 1024)));
        }
        if let Some(workers) = self.max_parallel_maintenance_workers {
            settings.push(("max_parallel_maintenance_workers", workers.to_string()));
        }
        let builds = if post_data_due {
            Builds::read(&exporter, &tables, &done).await?
        } else {
            Builds::default()
        };
        // Tables whose rows an earlier attempt put in: their builds can start now.
        for table in &tables {
            if !pieces.iter().any(|p| &p.table == table) {
                builds.table_done(table);
            }
        }
        if post_data_due && done.len() > 1 {
            copy_builds::end_orphans(&control, cx).await?;
        }
        let wanted = builds.count().max(builds.foreign_keys.len());
        let mut builders = Vec::new();
        for _ in 0..jobs.min(wanted) {
            let client = connect_pinned(&target).await?;
            client
                .batch_execute(&copy_builds::session_sql(&settings))
                .await
                .map_err(pg)
                .context("failed to set up a session building indexes on the target")?;
            builders.push(client);
        }
        let rows = async {
            let copied = self
                .copy_pieces(
                    &exporter, &source, &target, &snapshot, pieces, shape, jobs, &meter, &builds,
                    cx,
                )
                .await;
            builds.rows_done();
            if copied.is_ok() {
                // The rows' own figures, while the last builds may still run.
                meter.total.report_total(cx);
                meter.total.report_transfer_done(cx, meter.disk_bytes().1);
            }
            copied
        };
        let building =
            futures_util::future::try_join_all(builders.iter().map(|b| builds.builder(b, cx)));
        let (_, _, listing) = tokio::try_join!(rows, building, post_data_listing)?;
        drop(exporter);

        if post_data_due {
            let restarted = done.contains(POST_DATA_STARTED);
            record(&control, POST_DATA_STARTED).await?;
            // The rest of post-data (triggers, rules, partitioned tables'
            // indexes, comments …) without what was built above.
            let (rest, any) = copy_builds::rest_of_toc(&listing, &builds.oids);
            if any {
                cx.report(Progress::Status(format!(
                    "restoring the rest of post-data (triggers, rules …; {jobs} jobs)"
                )));
                let list = work.path.join("post-data.list");
                std::fs::write(&list, rest)
                    .with_context(|| format!("failed to write {}", list.display()))?;
                let mut args = vec![
                    "--section=post-data".to_string(),
                    "--exit-on-error".to_string(),
                    format!("--jobs={jobs}"),
                    format!("--dbname={}", target.dbname()),
                    format!("--use-list={}", list.display()),
                ];
                if restarted {
                    // An earlier attempt restored some of them: drop and restore again.
                    args.extend(["--clean".to_string(), "--if-exists".to_string()]);
                }
                args.push(post_data.display().to_string());
                tool_with_settings("pg_restore", &target, &settings)
                    .args(args)
                    .run(cx, None)
                    .await
                    .context("failed to restore the rest of post-data on the target")?;
            }
            copy_builds::foreign_keys(&builders, &builds.foreign_keys, cx).await?;
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
                "binary_tables": meter.binary_tables(),
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
impl Copy {
    /// The rows: `jobs` workers (the exporter and sessions importing its
    /// snapshot) taking pieces off one queue; each table's builds are
    /// queued as its last piece commits.
    #[allow(clippy::too_many_arguments)]
    async fn copy_pieces(
        &self,
        exporter: &Client,
        source: &Endpoint,
        target: &Endpoint,
        snapshot: &str,
        pieces: Vec<Piece>,
        shape: Shape,
        jobs: usize,
        meter: &Meter,
        builds: &Builds,
        cx: &StepContext<'_>,
    ) -> anyhow::Result<()> {
        if pieces.is_empty() {
            return Ok(());
        }
        let workers = jobs.min(pieces.len());
        let mut importers = Vec::new();
        let mut targets = Vec::new();
        for _ in 1..workers {
            importers.push(connect_pinned(source).await?);
        }
        for _ in 0..workers {
            targets.push(connect_pinned(target).await?);
        }
        for client in &importers {
            client
                .batch_execute(&format!(
                    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT {}",
                    quote_literal(snapshot)
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
        let queue = RefCell::new(VecDeque::from(pieces));
        let runs = std::iter::once(exporter)
            .chain(&importers)
            .zip(&targets)
            .map(|(src, dst)| worker(src, dst, &queue, shape, meter, builds, cx));
        futures_util::future::try_join_all(runs).await?;
        Ok(())
    }

    /// The pieces still to copy, in order (largest tables first): whole
    /// tables, and ranges of pages of those above `split_above`, each in
    /// binary or as text. Says which tables go as text, and why.
    #[allow(clippy::too_many_arguments)]
    async fn pieces(
        &self,
        source: &Client,
        control: &Client,
        tables: &[Table],
        done: &BTreeSet<String>,
        shape: Shape,
        jobs: usize,
        cx: &StepContext<'_>,
    ) -> anyhow::Result<Vec<Piece>> {
        let servers = Servers::read(source, control).await?;
        let split_above = self.split_above.map(|size| size.0);
        // Into the target's own schema (`on_existing: truncate`) its column
        // types may differ from the source's: text, whole tables.
        let fresh = shape == Shape::Fresh;
        let binary_allowed = fresh && self.format == RowFormat::Auto && servers.same_major;
        let mut pieces = Vec::new();
        let mut as_text = Vec::new();
        for table in tables {
            if done.contains(&ledger::table_key(&table.schema, &table.name)) {
                continue;
            }
            let binary = binary_allowed && {
                let odd = copy_plan::text_only_columns(source, table).await?;
                if !odd.is_empty() {
                    as_text.push(format!("{} ({})", table.display(), odd.join(", ")));
                }
                odd.is_empty()
            };
            let cut_above = split_above.filter(|&limit| {
                fresh
                    && servers.ranges_scan
                    && table.bytes > limit
                    && copy_plan::parts_for(table.bytes, jobs, limit) > 1
            });
            let Some(limit) = cut_above else {
                pieces.push(Piece {
                    table: table.clone(),
                    pages: None,
                    binary,
                });
                continue;
            };
            let cut = copy_plan::split(source, table, jobs, limit, done).await?;
            for prefix in &cut.forget {
                control
                    .execute(
                        &format!(
                            "DELETE FROM {INTERNAL_SCHEMA}.copy_progress WHERE starts_with(item, $1)"
                        ),
                        &[prefix],
                    )
                    .await
                    .map_err(pg)?;
            }
            if cut.truncate {
                control
                    .batch_execute(&format!("TRUNCATE ONLY {}", table.qualified()))
                    .await
                    .map_err(pg)?;
            }
            if let Some(item) = &cut.record {
                record(control, item).await?;
            }
            let keys = copy_plan::range_keys(table, &cut.ranges);
            for (pages, key) in cut.ranges.iter().zip(keys) {
                if cut.truncate || !done.contains(&key) {
                    pieces.push(Piece {
                        table: table.clone(),
                        pages: Some(*pages),
                        binary,
                    });
                }
            }
            cx.report(Progress::Status(format!(
                "{}: {} cut into {} ranges of pages, copied in parallel",
                table.display(),
                human_bytes(table.bytes),
                cut.ranges.len()
            )));
        }
        if !binary_allowed && !pieces.is_empty() {
            let why = if !fresh {
                "into the target's own schema"
            } else if self.format == RowFormat::Text {
                "`format: text`"
            } else {
                "the servers' major versions differ"
            };
            cx.report(Progress::Status(format!("rows travel as text ({why})")));
        } else if !as_text.is_empty() {
            cx.report(Progress::Status(format!(
                "rows as text for {} table(s) whose types have no portable binary form: {}",
                as_text.len(),
                as_text.join("; ")
            )));
        }
        Ok(pieces)
    }
}

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

/// Takes pieces off the queue until it is empty; each piece's rows and its
/// ledger entry commit in one transaction on the target.
async fn worker(
    src: &Client,
    dst: &Client,
    queue: &RefCell<VecDeque<Piece>>,
    shape: Shape,
    meter: &Meter,
    builds: &Builds,
    cx: &StepContext<'_>,
) -> anyhow::Result<()> {
    loop {
        let Some(piece) = queue.borrow_mut().pop_front() else {
            return Ok(());
        };
        let started = Instant::now();
        copy_piece(src, dst, &piece, shape, meter, cx)
            .await
            .with_context(|| format!("failed to copy the rows of {}", piece.table.display()))?;
        if let Some((rows, bytes)) = meter.finish_piece(&piece) {
            builds.table_done(&piece.table);
            cx.report(Progress::Status(format!(
                "copied {}: {rows} rows, {} ({}) in {:.2} s",
                piece.table.display(),
                human_bytes(bytes),
                if piece.binary { "binary" } else { "text" },
                started.elapsed().as_secs_f64()
            )));
        }
    }
}

async fn copy_piece(
    src: &Client,
    dst: &Client,
    piece: &Piece,
    shape: Shape,
    meter: &Meter,
    cx: &StepContext<'_>,
) -> anyhow::Result<()> {
    dst.batch_execute("BEGIN").await.map_err(pg)?;
    // A whole table of our own schema is emptied in the transaction that
    // fills it: rows put there by hand go, and COPY may FREEZE them — written
    // frozen and all-visible, so no later VACUUM rewrites every page (hint
    // bits, freezing) on the new server's first busy morning.
    let freeze = shape == Shape::Fresh && piece.pages.is_none();
    if freeze {
        dst.batch_execute(&format!("TRUNCATE ONLY {}", piece.table.qualified()))
            .await
            .map_err(pg)?;
    }
    let sink = dst
        .copy_in::<_, Bytes>(&piece.copy_in(freeze))
        .await
        .map_err(pg)?;
    let stream = src.copy_out(&piece.copy_out()).await.map_err(pg)?;
    futures_util::pin_mut!(sink);
    futures_util::pin_mut!(stream);
    // The server sends one message per row: pass them on in batches, or the
    // per-message cost (a send, a flush, the meter) is the copy's bottleneck.
    let mut batch = BytesMut::with_capacity(BATCH);
    let mut messages = 0u64;
    loop {
        let chunk = stream.next().await;
        if let Some(chunk) = &chunk {
            let chunk = chunk
                .as_ref()
                .map_err(|e| anyhow!(super::connect::describe(e)));
            let chunk = chunk.context("reading from the source")?;
            batch.extend_from_slice(chunk);
            messages += u64::from(piece.binary && holds_a_row(chunk));
        }
        if batch.len() >= BATCH || (chunk.is_none() && !batch.is_empty()) {
            let full = batch.split().freeze();
            // Text rows end with a newline; binary ones come one per message.
            let rows = if piece.binary {
                std::mem::take(&mut messages)
            } else {
                full.iter().filter(|b| **b == b'\n').count() as u64
            };
            meter.add(&piece.table, &full, rows, cx).await;
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
    let bytes = meter.table_bytes(&piece.table);
    dst.execute(
        &ledger::record_sql(),
        &[&piece.key(), &(rows as i64), &(bytes as i64)],
    )
    .await
    .map_err(pg)?;
    dst.batch_execute("COMMIT").await.map_err(pg)?;
    Ok(())
}

/// A binary COPY message that carries a row: not the file header sent alone,
/// nor the trailer (`-1` as the field count), nor both (an empty table).
fn holds_a_row(message: &[u8]) -> bool {
    const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
    let header_only = message.starts_with(SIGNATURE) && matches!(message.len(), 19 | 21);
    !(header_only || message == [0xff, 0xff])
}

/// Rows and bytes so far, per table and in total; reports progress and the ETA.
struct Meter {
    total: shared::meter::Meter,
    /// (table, rows, bytes, finished) for every table in scope.
    tables: RefCell<Vec<(Table, u64, u64, bool)>>,
    /// Pieces still to copy, per table (same order).
    pieces_left: RefCell<Vec<usize>>,
    /// Tables copied in binary.
    binary: RefCell<Vec<String>>,
    rows_estimate: Option<u64>,
}

impl Meter {
    fn new(
        tables: &[Table],
        done: &BTreeSet<String>,
        max_rate: Option<u64>,
        pieces: &[Piece],
    ) -> Meter {
        let rows_estimate = tables.iter().map(|t| t.rows_estimate).sum::<Option<u64>>();
        let pending = |t: &Table| pieces.iter().filter(|p| &p.table == t).count();
        Meter {
            total: shared::meter::Meter::new(max_rate),
            tables: RefCell::new(
                tables
                    .iter()
                    .map(|t| {
                        let finished = done.contains(&ledger::table_key(&t.schema, &t.name))
                            || pending(t) == 0;
                        (t.clone(), 0, 0, finished)
                    })
                    .collect(),
            ),
            pieces_left: RefCell::new(tables.iter().map(pending).collect()),
            binary: RefCell::new(
                tables
                    .iter()
                    .filter(|t| pieces.iter().any(|p| &p.table == *t && p.binary))
                    .map(Table::display)
                    .collect(),
            ),
            rows_estimate,
        }
    }

    async fn add(&self, table: &Table, chunk: &[u8], rows: u64, cx: &StepContext<'_>) {
        if let Some(entry) = self.tables.borrow_mut().iter_mut().find(|e| &e.0 == table) {
            entry.1 += rows;
            entry.2 += chunk.len() as u64;
        }
        if self.total.count(rows, chunk.len() as u64) {
            self.report(cx);
        }
        self.total.pace().await;
    }

    /// One piece done: its table's rows and bytes once the table's last piece is in.
    fn finish_piece(&self, piece: &Piece) -> Option<(u64, u64)> {
        let index = self
            .tables
            .borrow()
            .iter()
            .position(|e| e.0 == piece.table)?;
        let mut left = self.pieces_left.borrow_mut();
        left[index] = left[index].saturating_sub(1);
        (left[index] == 0).then(|| self.finish_table(&piece.table))
    }

    /// The tables whose rows went in binary.
    fn binary_tables(&self) -> usize {
        self.binary.borrow().len()
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

    /// Bytes done of the total, in the tables' size on disk on the source
    /// (read before the copy): a finished table counts whole, one in flight
    /// by its rows against the planner's estimate (by the bytes streamed when
    /// it has none), short of whole until it commits.
    fn disk_bytes(&self) -> (u64, u64) {
        let tables = self.tables.borrow();
        let total = tables.iter().map(|e| e.0.bytes).sum();
        let done = tables
            .iter()
            .map(|(t, rows, bytes, finished)| {
                let share = if *finished {
                    1.0
                } else {
                    let share = match t.rows_estimate {
                        Some(estimate) if estimate > 0 => *rows as f64 / estimate as f64,
                        _ => *bytes as f64 / t.bytes.max(1) as f64,
                    };
                    share.min(0.99)
                };
                (share * t.bytes as f64) as u64
            })
            .sum();
        (done, total)
    }

    /// The share of the work done, weighting each table by its size on disk.
    fn fraction(&self) -> f64 {
        match self.disk_bytes() {
            (_, 0) => 1.0,
            (done, total) => done as f64 / total as f64,
        }
    }

    /// The bytes bar only (at the start, and after the rows).
    fn report_transfer(&self, cx: &StepContext<'_>) {
        let (done, total) = self.disk_bytes();
        self.total.report_transfer(cx, done, total);
    }

    fn report(&self, cx: &StepContext<'_>) {
        self.total.report_rows(cx, self.rows_estimate);
        self.report_transfer(cx);
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
