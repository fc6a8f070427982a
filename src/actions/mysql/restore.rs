//! `mysql.restore`: loads an archive of `mysql.snapshot` (any complete plain
//! `mariadb-dump` / `mysqldump` of one database) into a database with the
//! `mariadb` (or `mysql`) client, streamed from the file by us. Refuses a
//! target that already holds tables, views, routines or events unless
//! `on_existing: clean`. Marks the target with the archive it is restoring
//! (`_cutover.restore_mark`), so a re-run after a crash cleans its own
//! partial restore and one after the end does nothing.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use schemars::JsonSchema;
use serde::Deserialize;

use super::archive::{inspect, DumpNotes};
use super::connect::{describe, label, Endpoint};
use super::position::INTERNAL_DB;
use super::program;
use super::session;
use crate::actions::shared::on_existing::RestoreOnExisting;
use crate::actions::shared::units::human_bytes;
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};

/// Parameters of `mysql.restore`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Restore {
    /// The archive (plain SQL, as `mysql.snapshot` writes it), relative to the playbook.
    pub from: String,
    /// The database to restore into (`mysql://user:password@host:port/db`);
    /// created if missing.
    pub url: String,
    /// `fail` (default) or `clean` when the target database already holds objects.
    #[serde(default)]
    pub on_existing: RestoreOnExisting,
}

const CLIENTS: &[&str] = &["mariadb", "mysql"];

/// The restore of one database, as marked on the target.
#[derive(Debug, PartialEq, Eq)]
enum Mark {
    Started(String),
    Done(String),
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "mysql.restore",
    Restore,
    "load an archive written by mysql.snapshot"
);

#[async_trait(?Send)]
impl Action for Restore {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn endpoints(&self) -> Vec<String> {
        vec![crate::actions::shared::endpoint::database(&self.url)]
    }

    fn describe(&self) -> String {
        format!(
            "restore {} into {} (mariadb client{})",
            self.from,
            label(&self.url),
            if self.on_existing == RestoreOnExisting::Clean {
                ", dropping the database's tables, views, routines and events first"
            } else {
                ""
            }
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let started = Instant::now();
        let endpoint = Endpoint::parse(&self.url)?;
        let db = endpoint.db().to_string();
        if db.is_empty() {
            return Err(anyhow!(
                "`url` names no database: write it as mysql://user:password@host:port/DATABASE"
            )
            .into());
        }
        if db == INTERNAL_DB {
            return Err(
                anyhow!("`{INTERNAL_DB}` is cutover's own database: restore into another").into(),
            );
        }
        let archive = cx.base_dir.join(&self.from);
        let info = inspect(&archive)?;
        let identity = info.identity.clone();

        let server = endpoint.without_db();
        let mut conn = server.connect().await?;
        let objects = objects(&mut conn, &server, &db).await?;
        let mark = mark(&mut conn, &server, &db).await?;
        if !objects.is_empty() && mark == Some(Mark::Done(identity.clone())) {
            cx.report(Progress::Status(format!(
                "already restored ({identity}); nothing to do"
            )));
            return Ok(Applied {
                data: serde_json::json!({ "already_done": identity }),
                ..Applied::default()
            });
        }
        let resumed = mark == Some(Mark::Started(identity.clone()));
        if !objects.is_empty() && !resumed && self.on_existing == RestoreOnExisting::Fail {
            return Err(anyhow!(
                "the target {} is not empty: it holds {} object(s) ({}{}) (hint: set `on_existing: clean` to drop them before restoring, or restore into an empty database)",
                endpoint.label(),
                objects.len(),
                objects.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
                if objects.len() > 5 { ", …" } else { "" }
            )
            .into());
        }
        if resumed && !objects.is_empty() {
            cx.report(Progress::Status(
                "an earlier attempt started restoring this archive: cleaning it and restoring again"
                    .into(),
            ));
        }
        let quoted = quote(&db);
        run(
            &mut conn,
            &server,
            &format!("CREATE DATABASE IF NOT EXISTS {quoted} CHARACTER SET utf8mb4"),
        )
        .await?;
        set_mark(&mut conn, &server, &db, &Mark::Started(identity.clone()))
            .await
            .context("failed to mark the target with the archive being restored")?;
        if !objects.is_empty() {
            drop_objects(&mut conn, &server, &db, &objects).await?;
            cx.report(Progress::Output(format!(
                "dropped {} object(s) of {} before restoring: {}",
                objects.len(),
                endpoint.label(),
                objects.join(", ")
            )));
        }

        cx.report(Progress::Status(format!(
            "loading {} ({}, database `{}` dumped {}) into {}",
            archive.display(),
            human_bytes(info.size),
            info.database,
            info.completed,
            endpoint.label()
        )));
        let mut file = tokio::fs::File::open(&archive)
            .await
            .with_context(|| format!("failed to open {}", archive.display()))?;
        let notes = RefCell::new(DumpNotes::default());
        let read = Cell::new(0u64);
        let last_report = Cell::new(Instant::now());
        let on_chunk = |chunk: &[u8]| {
            notes.borrow_mut().feed(chunk);
            read.set(read.get() + chunk.len() as u64);
            if last_report.get().elapsed() >= Duration::from_millis(500) {
                last_report.set(Instant::now());
                report(cx, read.get(), info.size, started, &notes.borrow().table);
            }
        };
        // Not held open through a load that may take hours.
        let _ = conn.disconnect().await;
        let client = program::client(CLIENTS, &endpoint)?;
        let name = client.name().to_string();
        // The archive sets its own time zone, character set and sql_mode; the
        // pin also covers what it leaves to the server (autocommit, MariaDB's
        // explicit_defaults_for_timestamp and max_statement_time).
        let pin = format!("--init-command={}", session::PIN);
        let bytes = client
            .args([
                "--default-character-set=utf8mb4",
                pin.as_str(),
                "--batch",
                db.as_str(),
            ])
            .stream_in(cx, &mut file, on_chunk)
            .await
            .and_then(|ended| ended.bytes(&name))
            .with_context(|| {
                format!(
                    "failed to restore into {} (a re-run cleans this partial restore and starts again)",
                    endpoint.label()
                )
            })?;
        let mut conn = server.connect().await?;
        set_mark(&mut conn, &server, &db, &Mark::Done(identity.clone()))
            .await
            .context("failed to mark the restore complete")?;
        let _ = conn.disconnect().await;
        let tables = notes.into_inner().tables;
        let seconds = started.elapsed().as_secs_f64();
        cx.report(Progress::Amount {
            done: bytes,
            total: Some(info.size),
            unit: "bytes",
        });
        cx.report(Progress::Status(format!(
            "restored {} (data of {tables} table(s)) into {} in {seconds:.2} s",
            human_bytes(bytes),
            endpoint.label()
        )));
        // What it read: the archive.
        let moved = crate::actions::shared::moved::Moved {
            bytes,
            rows: 0,
            tables,
        };
        Ok(Applied {
            data: moved.into_data(serde_json::json!({
                "database": endpoint.label(),
                "archive": archive.display().to_string(),
                "identity": identity,
                "bytes": bytes,
                "tables": tables,
                "cleaned": objects.len(),
                "resumed": resumed,
                "seconds": (seconds * 1000.0).round() / 1000.0,
            })),
            ..Applied::default()
        })
    }

    // The target is marked with its archive: a finished restore is skipped, a partial one
    // cleaned and done again.
    fn idempotent(&self) -> bool {
        true
    }

    // No inverse: a half-done restore is cleaned and done again by its next run (its archive mark), see the doc page.
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}

fn report(cx: &StepContext<'_>, read: u64, total: u64, started: Instant, table: &str) {
    cx.report(Progress::Amount {
        done: read,
        total: Some(total),
        unit: "bytes",
    });
    cx.report(Progress::Status(format!(
        "{} of {} loaded, {:.0} s{}",
        human_bytes(read),
        human_bytes(total),
        started.elapsed().as_secs_f64(),
        if table.is_empty() {
            String::new()
        } else {
            format!(", loading {table}")
        }
    )));
}

fn quote(identifier: &str) -> String {
    format!("`{}`", identifier.replace('`', "``"))
}

fn fail(endpoint: &Endpoint) -> impl Fn(mysql_async::Error) -> anyhow::Error + '_ {
    move |error| anyhow!("{}: {}", endpoint.label(), describe(&error))
}

async fn run(conn: &mut mysql_async::Conn, endpoint: &Endpoint, sql: &str) -> anyhow::Result<()> {
    conn.query_drop(sql)
        .await
        .map_err(fail(endpoint))
        .with_context(|| format!("failed to run `{sql}`"))
}

/// The database's tables, views, routines and events, as `kind name`
/// (sequences count as tables: `DROP TABLE` drops them too).
async fn objects(
    conn: &mut mysql_async::Conn,
    endpoint: &Endpoint,
    db: &str,
) -> anyhow::Result<Vec<String>> {
    conn.exec(
        "SELECT what FROM (
           SELECT CONCAT(IF(table_type = 'VIEW', 'view ', 'table '), table_name) AS what, IF(table_type = 'VIEW', 0, 1) AS o
             FROM information_schema.tables WHERE table_schema = ?
           UNION ALL SELECT CONCAT(LOWER(routine_type), ' ', routine_name), 2
             FROM information_schema.routines WHERE routine_schema = ?
           UNION ALL SELECT CONCAT('event ', event_name), 3
             FROM information_schema.events WHERE event_schema = ?
         ) x ORDER BY o, what",
        (db, db, db),
    )
    .await
    .map_err(fail(endpoint))
    .context("failed to look for objects in the target")
}

/// Drops what `objects` listed: views first (they stand on tables), tables
/// with foreign keys unchecked (in any order), then routines and events.
async fn drop_objects(
    conn: &mut mysql_async::Conn,
    endpoint: &Endpoint,
    db: &str,
    objects: &[String],
) -> anyhow::Result<()> {
    let quoted = quote(db);
    let mut statements = vec!["SET SESSION foreign_key_checks = 0".to_string()];
    for object in objects {
        let Some((kind, name)) = object.split_once(' ') else {
            continue;
        };
        let keyword = match kind {
            "view" => "VIEW",
            "table" => "TABLE",
            "procedure" => "PROCEDURE",
            "function" => "FUNCTION",
            "event" => "EVENT",
            _ => continue,
        };
        statements.push(format!("DROP {keyword} IF EXISTS {quoted}.{}", quote(name)));
    }
    statements.push("SET SESSION foreign_key_checks = 1".to_string());
    for statement in &statements {
        run(conn, endpoint, statement)
            .await
            .context("failed to clean the target before restoring")?;
    }
    Ok(())
}

/// The mark a restore left on this database, if any.
async fn mark(
    conn: &mut mysql_async::Conn,
    endpoint: &Endpoint,
    db: &str,
) -> anyhow::Result<Option<Mark>> {
    let exists: Option<u64> = conn
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = 'restore_mark'",
            (INTERNAL_DB,),
        )
        .await
        .map_err(fail(endpoint))?;
    if exists.unwrap_or(0) == 0 {
        return Ok(None);
    }
    let row: Option<(String, String)> = conn
        .exec_first(
            format!("SELECT archive, state FROM `{INTERNAL_DB}`.restore_mark WHERE db = ?"),
            (db,),
        )
        .await
        .map_err(fail(endpoint))?;
    Ok(row.and_then(|(archive, state)| match state.as_str() {
        "started" => Some(Mark::Started(archive)),
        "done" => Some(Mark::Done(archive)),
        _ => None,
    }))
}

async fn set_mark(
    conn: &mut mysql_async::Conn,
    endpoint: &Endpoint,
    db: &str,
    mark: &Mark,
) -> anyhow::Result<()> {
    run(
        conn,
        endpoint,
        &format!(
            "CREATE DATABASE IF NOT EXISTS `{INTERNAL_DB}`;
             CREATE TABLE IF NOT EXISTS `{INTERNAL_DB}`.restore_mark (
               db VARCHAR(64) NOT NULL PRIMARY KEY, archive VARCHAR(512) NOT NULL,
               state VARCHAR(16) NOT NULL,
               updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP) ENGINE=InnoDB"
        ),
    )
    .await?;
    let (archive, state) = match mark {
        Mark::Started(archive) => (archive, "started"),
        Mark::Done(archive) => (archive, "done"),
    };
    conn.exec_drop(
        format!(
            "INSERT INTO `{INTERNAL_DB}`.restore_mark (db, archive, state) VALUES (?, ?, ?)
             ON DUPLICATE KEY UPDATE archive = VALUES(archive), state = VALUES(state)"
        ),
        (db, archive, state),
    )
    .await
    .map_err(fail(endpoint))
}
