//! `mysql.copy`: copies a database — tables, then the rows over `jobs`
//! connection pairs that all read one consistent snapshot, then views,
//! routines and triggers — and records where the source's binary log stood at
//! that snapshot, for `mysql.replicate` to start from. The snapshot is shared
//! the way mydumper shares it: a global read lock held only while every
//! worker starts `START TRANSACTION WITH CONSISTENT SNAPSHOT` and the binlog
//! position is read (milliseconds when no long statement runs). Resumable per
//! range of rows through the ledger on the target (`copy_ledger.rs`).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use schemars::JsonSchema;
use serde::Deserialize;

use super::catalog::{self, quote, DeferredIndex, Table};
use super::connect::{describe, label, Endpoint};
use super::copy_ledger as ledger;
use super::copy_rows::{self, Chunk, Format, Meter, TableShare, Work};
use super::position::{self, BinlogPosition};
use super::session::{connect_pinned, pin};
use crate::actions::shared::on_existing::OnExisting;
use crate::actions::shared::tables::TableFilter;
use crate::actions::shared::units::parse_rate;
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};
use crate::duration::DurationText;

/// Parameters of `mysql.copy`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Copy {
    /// The database to copy from (`mysql://user:password@host:port/db`).
    pub source: String,
    /// The database to copy into; created with the source's character set if missing.
    pub target: String,
    /// Connection pairs copying rows at once (default 4).
    #[serde(default = "default_jobs")]
    pub jobs: u32,
    /// Which tables to copy (default: all): `include` / `exclude` patterns.
    #[serde(default)]
    pub tables: TableFilter,
    /// `fail` (default) or `truncate` when the target already has tables.
    #[serde(default)]
    pub on_existing: OnExisting,
    /// Bytes per second read from the source at most, e.g. `50MB` (default: no limit).
    #[serde(default)]
    pub max_rate: Option<String>,
    /// How long to wait for the global read lock that lines the workers'
    /// snapshots up (default `10s`); a long statement on the source holds it
    /// back, and every write waits meanwhile, so the copy gives up instead.
    #[serde(
        default = "default_lock_timeout",
        deserialize_with = "crate::duration::positive"
    )]
    pub lock_timeout: DurationText,
    /// Write the copied rows to the target's binary log (default false, as
    /// myloader: the rows are a starting point, not changes for the target's
    /// own replicas; needs a privilege to turn off, and stays on without it).
    #[serde(default)]
    pub binlog: bool,
}

fn default_jobs() -> u32 {
    4
}

fn default_lock_timeout() -> DurationText {
    DurationText(Duration::from_secs(10))
}

/// Bytes of SQL per INSERT at most (less if the target's max_allowed_packet is smaller).
const BATCH: usize = 1024 * 1024;

/// Every session is pinned (`session.rs`: utf8mb4, TIMESTAMPs in UTC, a
/// `sql_mode` of its own, zero kept as a value in AUTO_INCREMENT columns);
/// the target's writers also skip the checks a copy of consistent data does
/// not need.
const WRITER_SESSION: &str = "SET SESSION foreign_key_checks = 0, SESSION unique_checks = 0";
const READER_SESSION: &str = "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ";

/// How the target is being filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Our own tables, views, routines and triggers.
    Fresh,
    /// The target's own tables (`on_existing: truncate`): rows only.
    Existing,
}

/// Says which tables' ranges will only take turns: `LOAD DATA` into a table
/// with an AUTO_INCREMENT column holds its table-level AUTO-INC lock for the
/// whole statement unless the target's `innodb_autoinc_lock_mode` is 2
/// (MariaDB's default is 1; explicit ids do not avoid it). Measured here:
/// one of two writers in LOCK WAIT in 9 of 12 samples. Loading such ranges
/// as INSERTs instead cost the target 40 % more CPU on 2 cores, so the copy
/// keeps LOAD DATA and tells the operator the setting that lifts it.
async fn turns_warning(
    control: &mut mysql_async::Conn,
    tables: &[Table],
    chunks_left: &BTreeMap<String, usize>,
    cx: &StepContext<'_>,
) {
    let mode: Option<u64> = control
        .query_first("SELECT @@innodb_autoinc_lock_mode")
        .await
        .unwrap_or(None);
    let Some(mode) = mode.filter(|&mode| mode < 2) else {
        return;
    };
    let taking_turns: Vec<&str> = tables
        .iter()
        .filter(|t| t.auto_increment && chunks_left.get(&t.name).is_some_and(|&n| n > 1))
        .map(|t| t.name.as_str())
        .collect();
    if !taking_turns.is_empty() {
        cx.report(Progress::Status(format!(
            "the ranges of {} take turns on the target: LOAD DATA into a table with an AUTO_INCREMENT column holds a table lock while innodb_autoinc_lock_mode is {mode} (hint: 2, safe with row-based binary logging, lets them load side by side)",
            taking_turns.join(", ")
        )));
    }
}

fn fail(endpoint: &Endpoint) -> impl Fn(mysql_async::Error) -> anyhow::Error + '_ {
    move |error| anyhow!("{}: {}", endpoint.label(), describe(&error))
}

impl Copy {
    /// A copy beginning: checks the target, and records how it will be filled.
    async fn start(
        &self,
        control: &mut mysql_async::Conn,
        target: &Endpoint,
        db: &str,
        present: &[Table],
        tables: &[Table],
        cx: &StepContext<'_>,
    ) -> anyhow::Result<Shape> {
        ledger::clear(control, target, db).await?;
        if present.is_empty() {
            ledger::record(control, target, db, ledger::STARTED, None).await?;
            return Ok(Shape::Fresh);
        }
        if self.on_existing == OnExisting::Fail {
            let names: Vec<&str> = present.iter().take(5).map(|t| t.name.as_str()).collect();
            return Err(anyhow!(
                "the target {} is not empty: it has {} table(s) ({}{}) (hint: set `on_existing: truncate` to empty them and copy the rows into the existing tables, or copy into an empty database)",
                target.label(),
                present.len(),
                names.join(", "),
                if present.len() > 5 { ", …" } else { "" }
            ));
        }
        let missing: Vec<&str> = tables
            .iter()
            .filter(|t| !present.iter().any(|p| p.name == t.name))
            .map(|t| t.name.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(anyhow!("the target lacks table(s) {}", missing.join(", ")));
        }
        let triggers: Vec<String> = control
            .exec(
                "SELECT CONCAT(trigger_name, ' on ', event_object_table) FROM information_schema.triggers WHERE trigger_schema = ?",
                (db,),
            )
            .await
            .map_err(fail(target))?;
        if !triggers.is_empty() {
            return Err(anyhow!(
                "the target's tables have triggers ({}) that would fire on every copied row (hint: drop them before the copy and create them after, or copy into an empty database)",
                triggers.join(", ")
            ));
        }
        ledger::record(control, target, db, ledger::STARTED, None).await?;
        ledger::record(control, target, db, ledger::EXISTING, None).await?;
        for table in tables {
            control
                .query_drop(format!("TRUNCATE TABLE {}", quote(&table.name)))
                .await
                .map_err(fail(target))
                .with_context(|| format!("failed to empty {} on the target", table.name))?;
        }
        cx.report(Progress::Status(format!(
            "emptied {} table(s) of the target",
            tables.len()
        )));
        Ok(Shape::Existing)
    }

    /// The rows: a snapshot shared by every worker, the tables' ranges
    /// planned (or the plan of an earlier attempt read back), then the
    /// workers. Returns the rows and bytes copied.
    #[allow(clippy::too_many_arguments)]
    async fn copy_rows(
        &self,
        source: &Endpoint,
        target: &Endpoint,
        target_db: &str,
        tables: &[Table],
        done: &BTreeMap<String, Option<String>>,
        deferred: BTreeMap<String, Vec<DeferredIndex>>,
        jobs: usize,
        max_rate: Option<u64>,
        control: &mut mysql_async::Conn,
        cx: &StepContext<'_>,
    ) -> anyhow::Result<(u64, u64)> {
        // Tables with a range left to copy; those planned before keep their cuts.
        let pending: Vec<&Table> = tables
            .iter()
            .filter(|t| match done.get(&ledger::plan_key(&t.name)) {
                Some(plan) => {
                    let cuts = parse_cuts(plan.as_deref());
                    copy_rows::chunks(&t.name, &cuts)
                        .iter()
                        .any(|c| !done.contains_key(&c.key()))
                }
                None => true,
            })
            .collect();
        if pending.is_empty() {
            let work = Work {
                queue: RefCell::new(VecDeque::new()),
                tables,
                meter: &Meter::new(Vec::new(), 0, None),
                db: target_db,
                batch: BATCH,
                format: Format::Insert,
                deferred,
                chunks_left: RefCell::new(BTreeMap::new()),
                indexed: RefCell::new(BTreeSet::new()),
                to_index: RefCell::new(VecDeque::new()),
                rows_done: std::cell::Cell::new(true),
            };
            // Every row was in before; indexes may still be missing.
            let mut conn = connect_pinned(target).await?;
            for table in work.deferred.keys() {
                copy_rows::build_indexes(&mut conn, &work, table, cx).await?;
            }
            return Ok((0, 0));
        }
        let wanted: usize = pending
            .iter()
            .map(|t| copy_rows::chunk_count(t, jobs))
            .sum();
        let workers = jobs.min(wanted).max(1);
        let (mut readers, position) = self.snapshot(source, workers, cx).await?;
        position::record_snapshot(control, target, target_db, source.label(), &position).await?;

        let mut queue = Vec::new();
        let mut rows_expected = 0;
        // Tables with nothing left count whole in the bytes bar.
        let mut shares: Vec<TableShare> = tables
            .iter()
            .map(|t| TableShare {
                name: t.name.clone(),
                bytes: t.bytes,
                rows_estimate: t.rows_estimate,
                done_before: 1.0,
                chunks_left: 0,
                rows: 0,
            })
            .collect();
        for table in &pending {
            let cuts = match done.get(&ledger::plan_key(&table.name)) {
                Some(plan) => parse_cuts(plan.as_deref()),
                None => {
                    let count = copy_rows::chunk_count(table, jobs);
                    let cuts = if count > 1 {
                        match copy_rows::key_range(&mut readers[0], table).await? {
                            Some((min, max)) => copy_rows::cut_points(min, max, count),
                            None => Vec::new(),
                        }
                    } else {
                        Vec::new()
                    };
                    let plan = serde_json::to_string(
                        &cuts.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                    )
                    .unwrap_or_default();
                    ledger::record(
                        control,
                        target,
                        target_db,
                        &ledger::plan_key(&table.name),
                        Some(&plan),
                    )
                    .await?;
                    cuts
                }
            };
            let chunks: Vec<Chunk> = copy_rows::chunks(&table.name, &cuts)
                .into_iter()
                .filter(|c| !done.contains_key(&c.key()))
                .collect();
            let total = copy_rows::chunks(&table.name, &cuts).len().max(1) as u64;
            rows_expected += table.rows_estimate * chunks.len() as u64 / total;
            if let Some(share) = shares.iter_mut().find(|s| s.name == table.name) {
                share.chunks_left = chunks.len();
                share.done_before = 1.0 - chunks.len() as f64 / total as f64;
            }
            queue.extend(chunks);
        }
        // The largest tables were listed first: their ranges start first.
        let mut writers = Vec::new();
        for _ in 0..readers.len() {
            let mut conn = connect_pinned(target).await?;
            conn.query_drop(WRITER_SESSION)
                .await
                .map_err(fail(target))?;
            writers.push(conn);
        }
        let packet: Option<u64> = control
            .query_first("SELECT @@max_allowed_packet")
            .await
            .map_err(fail(target))?;
        let batch = BATCH.min(
            packet
                .unwrap_or(BATCH as u64)
                .saturating_sub(64 * 1024)
                .max(64 * 1024) as usize,
        );
        let local_infile: Option<String> = control
            .query_first("SELECT CAST(@@GLOBAL.local_infile AS CHAR)")
            .await
            .unwrap_or(None);
        let format = if matches!(local_infile.as_deref(), Some("1" | "ON")) {
            Format::LoadData
        } else {
            cx.report(Progress::Status(
                "the target has local_infile off: rows go as INSERT statements (slower)".into(),
            ));
            Format::Insert
        };
        let meter = Meter::new(shares, rows_expected, max_rate);
        meter.report_transfer(cx);
        cx.report(Progress::Status(format!(
            "copying {} range(s) of {} table(s) over {} connection pair(s)",
            queue.len(),
            pending.len(),
            readers.len()
        )));
        let mut chunks_left = BTreeMap::new();
        for chunk in &queue {
            *chunks_left.entry(chunk.table.clone()).or_insert(0) += 1;
        }
        if format == Format::LoadData && readers.len() > 1 {
            turns_warning(control, tables, &chunks_left, cx).await;
        }
        let work = Work {
            queue: RefCell::new(VecDeque::from(queue)),
            tables,
            meter: &meter,
            db: target_db,
            batch,
            format,
            deferred,
            chunks_left: RefCell::new(chunks_left),
            indexed: RefCell::new(BTreeSet::new()),
            to_index: RefCell::new(VecDeque::new()),
            rows_done: std::cell::Cell::new(false),
        };
        // Indexes are built on a connection of their own while the workers
        // go on with other tables: a worker building them would leave its
        // share of the rows waiting (8.6 s for 4M rows here).
        let mut builder_conn = connect_pinned(target).await?;
        let runs = readers
            .iter_mut()
            .zip(writers.iter_mut())
            .map(|(src, dst)| copy_rows::worker(src, dst, &work, cx));
        let rows = async {
            let result = futures_util::future::try_join_all(runs).await;
            work.rows_done.set(true);
            result
        };
        tokio::try_join!(rows, copy_rows::builder(&mut builder_conn, &work, cx))?;
        for mut reader in readers {
            let _ = reader.query_drop("COMMIT").await;
        }
        // Tables whose rows were all in before this attempt.
        let unbuilt: Vec<String> = work
            .deferred
            .keys()
            .filter(|t| !work.indexed.borrow().contains(*t))
            .cloned()
            .collect();
        for table in unbuilt {
            copy_rows::build_indexes(&mut builder_conn, &work, &table, cx).await?;
        }
        meter.total.report_total(cx);
        meter.total.report_transfer_done(cx, meter.disk_bytes().1);
        Ok((meter.total.rows(), meter.total.bytes()))
    }

    /// `workers` source connections inside one consistent snapshot, and the
    /// binlog position of that snapshot.
    async fn snapshot(
        &self,
        source: &Endpoint,
        workers: usize,
        cx: &StepContext<'_>,
    ) -> anyhow::Result<(Vec<mysql_async::Conn>, Option<BinlogPosition>)> {
        let mut readers = Vec::with_capacity(workers);
        for _ in 0..workers {
            let mut conn = connect_pinned(source).await?;
            conn.query_drop(READER_SESSION)
                .await
                .map_err(fail(source))?;
            readers.push(conn);
        }
        let mariadb = position::is_mariadb(&mut readers[0], source).await?;
        let binlog = position::binlog_enabled(&mut readers[0], source).await?;
        // MariaDB tells one connection's snapshot position without a lock.
        if workers == 1 && (mariadb || !binlog) {
            start_snapshot(&mut readers[0], source).await?;
            let position = if binlog {
                Some(position::of_snapshot(&mut readers[0], source).await?)
            } else {
                None
            };
            return Ok((readers, position));
        }
        let mut locker = connect_pinned(source).await?;
        let held = self.global_read_lock(&mut locker, source).await?;
        let lined_up = async {
            for reader in readers.iter_mut() {
                start_snapshot(reader, source).await?;
            }
            if binlog {
                position::under_lock(&mut locker, source, mariadb)
                    .await
                    .map(Some)
            } else {
                Ok(None)
            }
        }
        .await;
        let held_for = held.elapsed();
        let unlocked = locker.query_drop("UNLOCK TABLES").await;
        let position = lined_up?;
        unlocked.map_err(fail(source))?;
        cx.report(Progress::Status(format!(
            "{workers} connections share one snapshot (global read lock held {} ms){}",
            held_for.as_millis(),
            position
                .as_ref()
                .map(|p| format!("; source binlog at {p}"))
                .unwrap_or_default()
        )));
        Ok((readers, position))
    }

    /// `FLUSH TABLES WITH READ LOCK`, given up after `lock_timeout` (the
    /// waiting lock is killed: writes must not queue behind it).
    async fn global_read_lock(
        &self,
        locker: &mut mysql_async::Conn,
        source: &Endpoint,
    ) -> anyhow::Result<Instant> {
        let id = locker.id();
        let lock = locker.query_drop("FLUSH TABLES WITH READ LOCK");
        match tokio::time::timeout(self.lock_timeout.0, lock).await {
            Ok(Ok(())) => Ok(Instant::now()),
            Ok(Err(error)) => {
                let hint = if matches!(&error, mysql_async::Error::Server(s) if s.code == 1227) {
                    " (hint: the source's user needs the RELOAD privilege for the global read lock that lines up the workers' snapshots; on MariaDB `jobs: 1` needs none)"
                } else {
                    ""
                };
                Err(anyhow!(
                    "{}: failed to take the global read lock: {}{hint}",
                    source.label(),
                    describe(&error)
                ))
            }
            Err(_) => {
                let mut killer = source.connect().await?;
                let _ = killer.query_drop(format!("KILL CONNECTION {id}")).await;
                let long: Vec<(u64, String, u64, Option<String>)> = killer
                    .query(format!(
                        "SELECT id, user, time, LEFT(info, 80) FROM information_schema.processlist WHERE command NOT IN ('Sleep', 'Daemon', 'Binlog Dump', 'Binlog Dump GTID') AND id NOT IN (CONNECTION_ID(), {id}) AND time >= 1 ORDER BY time DESC LIMIT 5"
                    ))
                    .await
                    .unwrap_or_default();
                let blockers: Vec<String> = long
                    .iter()
                    .map(|(id, user, time, info)| {
                        format!("#{id} {user} {time}s `{}`", info.as_deref().unwrap_or(""))
                    })
                    .collect();
                Err(anyhow!(
                    "{}: the global read lock was not granted within {} s and was given up so writes do not queue behind it{} (hint: wait for or end the long statements, or raise `lock_timeout`)",
                    source.label(),
                    self.lock_timeout.0.as_secs(),
                    if blockers.is_empty() {
                        String::new()
                    } else {
                        format!("; running: {}", blockers.join("; "))
                    }
                ))
            }
        }
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "mysql.copy",
    Copy,
    "copy a database: schema, rows in parallel chunks by primary key from one consistent snapshot, views/routines/triggers; binlog position recorded; resumable"
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
            "copy {} into {} ({} connections, one snapshot{}{})",
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
        let (source_db, target_db) = (source.db().to_string(), target.db().to_string());
        if source_db.is_empty() || target_db.is_empty() {
            return Err(anyhow!(
                "both URLs must name a database (mysql://user:password@host:port/DATABASE)"
            )
            .into());
        }
        let target_server = target.without_db();
        // Pinned: `SHOW CREATE TABLE` under the source's `ANSI_QUOTES` would
        // quote names with `"`, which the target cannot parse.
        let (mut src, mut control) =
            tokio::try_join!(connect_pinned(&source), connect_pinned(&target_server))?;
        create_database_if_missing(&mut src, &source, &mut control, &target, &target_db, cx)
            .await?;
        position::ensure_internal(&mut control, &target)
            .await
            .context("failed to create cutover's bookkeeping database `_cutover` on the target")?;
        control
            .query_drop(format!("USE {}", quote(&target_db)))
            .await
            .map_err(fail(&target))?;
        control
            .query_drop(WRITER_SESSION)
            .await
            .map_err(fail(&target))?;

        let mut done = ledger::read(&mut control, &target, &target_db).await?;
        let present =
            catalog::list_tables(&mut control, &target, &target_db, &TableFilter::default())
                .await?;
        if done.is_empty() {
            if let Some(recorded) = position::recorded(&mut control, &target, &target_db).await? {
                if recorded.done && !present.is_empty() {
                    cx.report(Progress::Status(format!(
                        "already copied from {}; nothing to do",
                        recorded.source
                    )));
                    return Ok(Applied {
                        data: serde_json::json!({ "already_done": true, "position": recorded.first.map(|p| p.to_string()) }),
                        ..Applied::default()
                    });
                }
            }
        }
        let tables = catalog::list_tables(&mut src, &source, &source_db, &self.tables).await?;

        let shape = if done.contains_key(ledger::STARTED) {
            cx.report(Progress::Status(format!(
                "resuming: {} range(s) of rows were copied before",
                done.keys().filter(|k| k.starts_with("chunk:")).count()
            )));
            if done.contains_key(ledger::EXISTING) {
                Shape::Existing
            } else {
                Shape::Fresh
            }
        } else {
            position::forget(&mut control, &target, &target_db).await?;
            let shape = self
                .start(&mut control, &target, &target_db, &present, &tables, cx)
                .await?;
            done = ledger::read(&mut control, &target, &target_db).await?;
            shape
        };

        if shape == Shape::Fresh && !done.contains_key(ledger::TABLES) {
            create_tables(
                &mut src,
                &source,
                &source_db,
                &mut control,
                &target,
                &target_db,
                &tables,
                &present,
                cx,
            )
            .await?;
            ledger::record(&mut control, &target, &target_db, ledger::TABLES, None).await?;
        }

        let mut deferred = BTreeMap::new();
        if shape == Shape::Fresh {
            for table in &tables {
                if !done.contains_key(&ledger::indexes_key(&table.name)) {
                    let create =
                        catalog::create_table(&mut src, &source, &source_db, &table.name).await?;
                    let (_, indexes) = catalog::defer_indexes(&create);
                    if !indexes.is_empty() {
                        deferred.insert(table.name.clone(), indexes);
                    }
                }
            }
        }
        let rows_meter = self
            .copy_rows(
                &source,
                &target,
                &target_db,
                &tables,
                &done,
                deferred,
                jobs,
                max_rate,
                &mut control,
                cx,
            )
            .await?;

        let mut objects = 0;
        if shape == Shape::Fresh && !done.contains_key(ledger::OBJECTS) {
            objects = create_objects(&mut src, &source, &source_db, &mut control, &target).await?;
            ledger::record(&mut control, &target, &target_db, ledger::OBJECTS, None).await?;
        }
        position::record_done(&mut control, &target, &target_db).await?;
        ledger::clear(&mut control, &target, &target_db).await?;
        let recorded = position::recorded(&mut control, &target, &target_db).await?;
        let (first, last) = recorded.map(|r| (r.first, r.last)).unwrap_or((None, None));
        match &first {
            Some(position) => cx.report(Progress::Status(format!(
                "source binlog position recorded for mysql.replicate: {position}"
            ))),
            None => cx.report(Progress::Status(
                "the source writes no binary log (log_bin is off): mysql.replicate cannot follow this copy"
                    .into(),
            )),
        }
        let seconds = started.elapsed().as_secs_f64();
        Ok(Applied {
            data: super::measure::moved(&tables)
                .with_rows(rows_meter.0)
                .into_data(serde_json::json!({
                    "tables": tables.len(),
                    "rows": rows_meter.0,
                    "bytes": rows_meter.1,
                    "objects": objects,
                    "position": first.as_ref().map(|p| p.to_string()),
                    "gtid": first.as_ref().and_then(|p| p.gtid.clone()),
                    "snapshots": if first != last { 2 } else { 1 },
                    "seconds": (seconds * 1000.0).round() / 1000.0,
                    "resumed": done.keys().any(|k| k.starts_with("chunk:")),
                })),
            ..Applied::default()
        })
    }

    // Every table in scope, as `apply` counts it in `moved`.
    async fn measure(&self) -> Option<anyhow::Result<crate::actions::shared::moved::Moved>> {
        Some(super::measure::measure_tables(&self.source, &self.tables).await)
    }

    // The ledger in the target says which ranges are in: a second run copies only the rest.
    fn idempotent(&self) -> bool {
        true
    }

    // No inverse: the rows of a half-done copy stay in the target, and its ledger lets the next run finish the copy (see the doc page).
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}

async fn start_snapshot(conn: &mut mysql_async::Conn, source: &Endpoint) -> anyhow::Result<()> {
    conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        .await
        .map_err(fail(source))
        .context("failed to start a consistent snapshot")
}

fn parse_cuts(plan: Option<&str>) -> Vec<i128> {
    plan.and_then(|p| serde_json::from_str::<Vec<String>>(p).ok())
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c.parse().ok())
        .collect()
}

/// Creates the target database with the source's character set and collation.
async fn create_database_if_missing(
    src: &mut mysql_async::Conn,
    source: &Endpoint,
    control: &mut mysql_async::Conn,
    target: &Endpoint,
    db: &str,
    cx: &StepContext<'_>,
) -> anyhow::Result<()> {
    let exists: Option<u64> = control
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?",
            (db,),
        )
        .await
        .map_err(fail(target))?;
    if exists.unwrap_or(0) > 0 {
        return Ok(());
    }
    let charset: Option<(String, String)> = src
        .exec_first(
            "SELECT default_character_set_name, default_collation_name FROM information_schema.schemata WHERE schema_name = DATABASE()",
            (),
        )
        .await
        .map_err(fail(source))?;
    let (set, collation) = charset.unwrap_or(("utf8mb4".into(), "utf8mb4_general_ci".into()));
    control
        .query_drop(format!(
            "CREATE DATABASE {} CHARACTER SET {set} COLLATE {collation}",
            quote(db)
        ))
        .await
        .map_err(fail(target))
        .context("failed to create the target database")?;
    cx.report(Progress::Status(format!(
        "created database {db} on the target ({set}, {collation})"
    )));
    Ok(())
}

/// The tables, as the source defines them (indexes and constraints
/// included: foreign keys are not checked while the rows arrive).
#[allow(clippy::too_many_arguments)]
async fn create_tables(
    src: &mut mysql_async::Conn,
    source: &Endpoint,
    source_db: &str,
    control: &mut mysql_async::Conn,
    target: &Endpoint,
    target_db: &str,
    tables: &[Table],
    present: &[Table],
    cx: &StepContext<'_>,
) -> anyhow::Result<()> {
    cx.report(Progress::Status(format!(
        "creating {} table(s) on the target",
        tables.len()
    )));
    for table in tables {
        let create = catalog::create_table(src, source, source_db, &table.name).await?;
        let (create, _) = catalog::defer_indexes(&create);
        if present.iter().any(|p| p.name == table.name) {
            // Created by an attempt that stopped before every table existed:
            // no rows were copied into it yet.
            control
                .query_drop(format!("DROP TABLE {}", quote(&table.name)))
                .await
                .map_err(fail(target))?;
        }
        control
            .query_drop(create)
            .await
            .map_err(fail(target))
            .with_context(|| format!("failed to create table {} in {target_db}", table.name))?;
    }
    Ok(())
}

/// Views (in an order their dependencies allow), routines and triggers.
async fn create_objects(
    src: &mut mysql_async::Conn,
    source: &Endpoint,
    source_db: &str,
    control: &mut mysql_async::Conn,
    target: &Endpoint,
) -> anyhow::Result<usize> {
    let objects = catalog::objects(src, source, source_db).await?;
    let mut pending: Vec<&catalog::SchemaObject> = objects.iter().collect();
    let mut created = 0;
    // A view may read another view: create what can be, then retry the rest.
    while !pending.is_empty() {
        let mut failed = Vec::new();
        let mut last_error = None;
        for object in &pending {
            let mode = object
                .sql_mode
                .as_deref()
                .unwrap_or("NO_ENGINE_SUBSTITUTION");
            let attempt = async {
                control
                    .exec_drop("SET SESSION sql_mode = ?", (mode,))
                    .await?;
                control.query_drop(&object.drop).await?;
                control.query_drop(&object.create).await
            }
            .await;
            match attempt {
                Ok(()) => created += 1,
                Err(error) => {
                    last_error = Some(format!(
                        "{} {}: {}",
                        object.kind,
                        object.name,
                        describe(&error)
                    ));
                    failed.push(*object);
                }
            }
        }
        if failed.len() == pending.len() {
            return Err(anyhow!(
                "{}: failed to create {} view(s), routine(s) or trigger(s) after the rows; last: {}",
                target.label(),
                failed.len(),
                last_error.unwrap_or_default()
            ));
        }
        pending = failed;
    }
    pin(control, target).await?;
    control
        .query_drop(WRITER_SESSION)
        .await
        .map_err(fail(target))?;
    Ok(created)
}
