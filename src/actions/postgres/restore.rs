//! `postgres.restore`: restores a `pg_dump -Fc` archive (`postgres.snapshot`'s)
//! into a database with `pg_restore --jobs`. Refuses a target that already
//! holds objects unless `on_existing: clean`. Marks the target with the
//! archive it is restoring, so a re-run after a crash cleans its own partial
//! restore and one after the end does nothing.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use tokio_postgres::Client;

use super::connect::label;
use super::connect::{pg, quote_ident, quote_literal, Endpoint};
use super::tables::INTERNAL_SCHEMA;
use super::tool::tool;
use crate::actions::shared::on_existing::RestoreOnExisting;
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};

/// The database setting naming the archive a restore started from.
const STARTED: &str = "cutover.restore_started";
/// The database setting naming the archive a restore completed from.
const DONE: &str = "cutover.restore_done";

/// Parameters of `postgres.restore`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Restore {
    /// The archive (`pg_dump -Fc`, as `postgres.snapshot` writes), relative to the playbook.
    pub from: String,
    /// The database to restore into (it must exist; the archive's roles too).
    pub url: String,
    /// Parallel `pg_restore` jobs (default 4).
    #[serde(default = "default_jobs")]
    pub jobs: u32,
    /// `fail` (default) or `clean` when the target already holds objects.
    #[serde(default)]
    pub on_existing: RestoreOnExisting,
}

fn default_jobs() -> u32 {
    4
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "postgres.restore",
    Restore,
    "restore a pg_dump -Fc archive into a database with parallel pg_restore; refuses a non-empty target unless told to clean"
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
            "restore {} into {} (pg_restore, {} jobs{})",
            self.from,
            label(&self.url),
            self.jobs.clamp(1, 64),
            if self.on_existing == RestoreOnExisting::Clean {
                ", dropping the archive's objects first"
            } else {
                ""
            }
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let started = Instant::now();
        let jobs = self.jobs.clamp(1, 64);
        let endpoint = Endpoint::parse(&self.url)?;
        let archive = cx.base_dir.join(&self.from);
        let meta = std::fs::metadata(&archive)
            .with_context(|| format!("no archive at {}", archive.display()))?;
        let toc = tool("pg_restore", &endpoint)
            .args(["--list".as_ref(), archive.as_os_str()])
            .run(cx, None)
            .await
            .with_context(|| format!("{} is not a pg_dump archive", archive.display()))?;
        let toc = String::from_utf8_lossy(&toc);
        let items = toc
            .lines()
            .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
            .count() as u64;
        let identity = identity(&toc, meta.len());

        let client = endpoint.connect().await?;
        let db = endpoint.dbname();
        let objects = user_objects(&client).await?;
        if !objects.is_empty() && setting(&client, db, DONE).await?.as_deref() == Some(&identity) {
            cx.report(Progress::Status(format!(
                "already restored ({identity}); nothing to do"
            )));
            return Ok(Applied {
                data: serde_json::json!({ "already_done": identity }),
                ..Applied::default()
            });
        }
        let resumed = setting(&client, db, STARTED).await?.as_deref() == Some(&identity);
        let clean = !objects.is_empty();
        if clean && !resumed && self.on_existing == RestoreOnExisting::Fail {
            return Err(anyhow!(
                "the target {} is not empty: it holds {} object(s) ({}{}) (hint: set `on_existing: clean` to drop the archive's objects before restoring, or restore into an empty database)",
                endpoint.label(),
                objects.len(),
                objects.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
                if objects.len() > 5 { ", …" } else { "" }
            )
            .into());
        }
        if resumed && clean {
            cx.report(Progress::Status(
                "an earlier attempt started restoring this archive: cleaning it and restoring again"
                    .into(),
            ));
        }
        let quoted = quote_ident(db);
        client
            .batch_execute(&format!(
                "ALTER DATABASE {quoted} SET {STARTED} = {}; ALTER DATABASE {quoted} RESET {DONE}",
                quote_literal(&identity)
            ))
            .await
            .map_err(pg)
            .context("failed to mark the target with the archive being restored")?;

        let mut args = vec![
            "--verbose".to_string(),
            format!("--jobs={jobs}"),
            format!("--dbname={db}"),
        ];
        if clean {
            // Not `--exit-on-error`: some drops fail harmlessly (a partition's
            // inherited constraint goes with its parent's), judged below.
            args.extend(["--clean".to_string(), "--if-exists".to_string()]);
        } else {
            args.push("--exit-on-error".to_string());
        }
        args.push(archive.display().to_string());
        let done = Cell::new(0u64);
        let current = RefCell::new(String::new());
        let last_report = Cell::new(Instant::now() - Duration::from_secs(1));
        let failed = RefCell::new(Vec::<String>::new());
        let on_line = |line: &str| {
            if let Some(command) = line.strip_prefix("Command was: ") {
                failed.borrow_mut().push(command.to_string());
            }
            let Some(what) = line.strip_prefix("pg_restore: ") else {
                return;
            };
            if what.starts_with("creating ") || what.starts_with("processing data for table ") {
                done.set((done.get() + 1).min(items));
                *current.borrow_mut() = what.to_string();
            }
            if last_report.get().elapsed() >= Duration::from_millis(500) {
                last_report.set(Instant::now());
                cx.report(Progress::Amount {
                    done: done.get(),
                    total: Some(items),
                    unit: "items",
                });
                cx.report(Progress::Status(format!(
                    "{} of {items} archive items, {:.0} s: {}",
                    done.get(),
                    started.elapsed().as_secs_f64(),
                    current.borrow()
                )));
            }
        };
        let ended = tool("pg_restore", &endpoint)
            .args(args)
            .stream_out(cx, &mut tokio::io::sink(), |_| {}, on_line)
            .await
            .with_context(|| format!("failed to restore into {}", endpoint.label()))?;
        let failed = failed.into_inner();
        if !ended.status.success() {
            if !clean || failed.is_empty() || !failed.iter().all(|c| is_drop(c)) {
                return Err(ended
                    .failure("pg_restore")
                    .context(format!("failed to restore into {}", endpoint.label()))
                    .into());
            }
            for command in &failed {
                cx.report(Progress::Output(format!(
                    "ignored a failed drop while cleaning (the object went with its parent): {command}"
                )));
            }
        }
        client
            .batch_execute(&format!(
                "ALTER DATABASE {quoted} SET {DONE} = {}; ALTER DATABASE {quoted} RESET {STARTED}",
                quote_literal(&identity)
            ))
            .await
            .map_err(pg)
            .context("failed to mark the restore complete")?;
        let seconds = started.elapsed().as_secs_f64();
        cx.report(Progress::Amount {
            done: items,
            total: Some(items),
            unit: "items",
        });
        cx.report(Progress::Status(format!(
            "restored {items} archive items into {} in {seconds:.2} s ({jobs} jobs)",
            endpoint.label()
        )));
        // What it read: the archive.
        let moved = crate::actions::shared::moved::Moved {
            bytes: std::fs::metadata(&archive).map(|m| m.len()).unwrap_or(0),
            ..Default::default()
        };
        Ok(Applied {
            data: moved.into_data(serde_json::json!({
                "database": endpoint.label(),
                "archive": archive.display().to_string(),
                "items": items,
                "cleaned": clean,
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

/// Names an archive by what its table of contents says of it (database,
/// creation time, entries) and its size: cheap, and different for every dump.
fn identity(toc: &str, size: u64) -> String {
    let field = |prefix: &str| {
        toc.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    format!(
        "{} created {} ({} entries, {size} bytes)",
        field(";     dbname:"),
        field("; Archive created at"),
        field(";     TOC Entries:")
    )
}

/// A statement of `--clean`'s drop phase.
fn is_drop(command: &str) -> bool {
    command.starts_with("DROP ") || (command.starts_with("ALTER ") && command.contains(" DROP "))
}

/// A database-level setting of the target (`ALTER DATABASE … SET`).
async fn setting(client: &Client, dbname: &str, key: &str) -> anyhow::Result<Option<String>> {
    let row = client
        .query_opt(
            "SELECT substr(cfg, length($2) + 2)
             FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase, unnest(s.setconfig) cfg
             WHERE d.datname = $1 AND s.setrole = 0 AND starts_with(cfg, $2 || '=')",
            &[&dbname, &key],
        )
        .await
        .map_err(pg)?;
    Ok(row.map(|r| r.get(0)))
}

/// Tables, views, sequences, schemas, functions and types of the user's, by
/// name (extensions' own objects and cutover's `_cutover` schema left out).
async fn user_objects(client: &Client) -> anyhow::Result<Vec<String>> {
    let rows = client
        .query(
            "WITH user_ns AS (
               SELECT oid, nspname FROM pg_namespace
               WHERE nspname NOT IN ('pg_catalog', 'information_schema', $1)
                 AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp%'),
             owned AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e')
             SELECT what FROM (
               SELECT format('%s %I.%I', CASE c.relkind WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view'
                        WHEN 'm' THEN 'view' ELSE 'table' END, n.nspname, c.relname) AS what
               FROM pg_class c JOIN user_ns n ON n.oid = c.relnamespace
               WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
                 AND NOT EXISTS (SELECT 1 FROM owned o WHERE o.classid = 'pg_class'::regclass AND o.objid = c.oid)
               UNION ALL
               SELECT format('schema %I', nspname) FROM user_ns
               WHERE nspname <> 'public'
                 AND NOT EXISTS (SELECT 1 FROM owned o WHERE o.classid = 'pg_namespace'::regclass AND o.objid = user_ns.oid)
               UNION ALL
               SELECT format('function %s', p.oid::regprocedure) FROM pg_proc p JOIN user_ns n ON n.oid = p.pronamespace
               WHERE NOT EXISTS (SELECT 1 FROM owned o WHERE o.classid = 'pg_proc'::regclass AND o.objid = p.oid)
               UNION ALL
               SELECT format('type %I.%I', n.nspname, t.typname) FROM pg_type t JOIN user_ns n ON n.oid = t.typnamespace
               WHERE t.typtype IN ('e', 'd', 'r', 'm')
                 AND NOT EXISTS (SELECT 1 FROM owned o WHERE o.classid = 'pg_type'::regclass AND o.objid = t.oid)
             ) x ORDER BY 1",
            &[&INTERNAL_SCHEMA],
        )
        .await
        .map_err(pg)
        .context("failed to look for objects in the target")?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
