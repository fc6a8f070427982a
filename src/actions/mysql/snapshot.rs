//! `mysql.snapshot`: a consistent `mariadb-dump` (or `mysqldump`) archive of
//! one database — a way back, or the records — with routines, triggers and
//! events, and the binary log position it was taken at when the server keeps
//! one. Written to a hidden temporary file beside `to`, hashed as it streams,
//! synced and only then renamed over `to`: the final name never holds half an
//! archive, whatever happens to the dump or to us.

use std::cell::RefCell;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use schemars::JsonSchema;
use serde::Deserialize;

use super::archive::{DumpNotes, COMPLETED};
use super::connect::{describe, label, Endpoint};
use super::program;
use crate::actions::shared::archive::{remove_partial, ArchiveMeter, Partial};
use crate::actions::shared::units::human_bytes;
use crate::actions::{
    descriptor, Action, ActionFailure, ActionRef, Applied, Descriptor, Progress, StepContext,
};

/// Parameters of `mysql.snapshot`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// The database to archive (`mysql://user:password@host:port/db`).
    pub url: String,
    /// The archive file to write (plain SQL, relative to the playbook's
    /// directory); an existing file is replaced only by a complete archive.
    pub to: String,
    /// Set on the inverse: remove the half-written archive a killed dump left.
    #[serde(skip)]
    pub remove_partial: bool,
}

const DUMPERS: &[&str] = &["mariadb-dump", "mysqldump"];

pub static DESCRIPTOR: Descriptor = descriptor!(
    "mysql.snapshot",
    Snapshot,
    "archive a database with mariadb-dump / mysqldump (one consistent snapshot)"
);

#[async_trait(?Send)]
impl Action for Snapshot {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn endpoints(&self) -> Vec<String> {
        vec![crate::actions::shared::endpoint::database(&self.url)]
    }

    fn describe(&self) -> String {
        if self.remove_partial {
            return format!("remove the half-written archive beside {}, if any", self.to);
        }
        format!(
            "archive {} into {} (mariadb-dump, one consistent snapshot)",
            label(&self.url),
            self.to
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        if self.remove_partial {
            return Ok(Applied {
                data: remove_partial(&cx.base_dir.join(&self.to), cx)?,
                ..Applied::default()
            });
        }
        let endpoint = Endpoint::parse(&self.url)?;
        let db = endpoint.db().to_string();
        if db.is_empty() {
            return Err(anyhow!(
                "`url` names no database: write it as mysql://user:password@host:port/DATABASE"
            )
            .into());
        }
        if self.to.ends_with(".gz") {
            return Err(anyhow!(
                "`to: {}`: the archive is plain SQL and is not compressed (hint: name it `.sql` and compress it in a later step if needed)",
                self.to
            )
            .into());
        }
        let (size, log_bin) = survey(&endpoint).await?;
        let dumper = program::find(DUMPERS)?;
        let mut args: Vec<String> = [
            "--single-transaction",
            "--routines",
            "--triggers",
            "--events",
            "--hex-blob",
            "--default-character-set=utf8mb4",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        if log_bin {
            // The position the archive stands at, commented in its head: a
            // replica restored from it knows where to start.
            args.extend(position_args(&program::version(&dumper).await));
        }
        args.push(db.clone());

        let path = cx.base_dir.join(&self.to);
        let partial = Partial::create(&path, cx)?;
        cx.report(Progress::Status(format!(
            "dumping {} ({} of data) into {}",
            endpoint.label(),
            human_bytes(size),
            partial.path.display()
        )));
        let mut file = tokio::fs::File::create(&partial.path)
            .await
            .with_context(|| format!("failed to create {}", partial.path.display()))?;
        let meter = ArchiveMeter::default();
        let notes = RefCell::new(DumpNotes::default());
        let on_chunk = |chunk: &[u8]| {
            notes.borrow_mut().feed(chunk);
            meter.add(chunk, &notes.borrow().table, cx);
        };
        let ended = program::client(&[dumper.as_str()], &endpoint)?
            .args(&args)
            .stream_out(cx, &mut file, on_chunk, |_| {})
            .await
            .with_context(|| format!("failed to archive {}", endpoint.label()))?;
        let bytes = ended
            .bytes(&dumper)
            .with_context(|| format!("failed to archive {}", endpoint.label()))?;
        file.sync_all()
            .await
            .with_context(|| format!("failed to sync {}", partial.path.display()))?;
        drop(file);
        let notes = notes.into_inner();
        if !notes.completed {
            return Err(anyhow!(
                "`{dumper}` exited successfully but its archive does not end with `{COMPLETED}`: not keeping it"
            )
            .into());
        }
        partial.commit(&path)?;
        let seconds = meter.seconds();
        let sha256 = meter.finish(cx);
        if let Some(position) = &notes.position {
            cx.report(Progress::Output(format!(
                "binary log position of the archive: {position}"
            )));
        }
        cx.report(Progress::Status(format!(
            "archive {} written: {} table(s), {} in {seconds:.2} s, sha256 {sha256}",
            path.display(),
            notes.tables,
            human_bytes(bytes)
        )));
        // What it read: the database, as `information_schema` sizes it.
        let moved = crate::actions::shared::moved::Moved {
            bytes: size,
            rows: 0,
            tables: notes.tables,
        };
        Ok(Applied {
            data: moved.into_data(serde_json::json!({
                "database": endpoint.label(),
                "path": path.display().to_string(),
                "bytes": bytes,
                "sha256": sha256,
                "tables": notes.tables,
                "binlog_position": notes.position,
                "seconds": (seconds * 1000.0).round() / 1000.0,
            })),
            ..Applied::default()
        })
    }

    // A new archive replaces the old one whole.
    fn idempotent(&self) -> bool {
        true
    }

    // A dump cut short by a kill -9 leaves its hidden partial file (an error,
    // a timeout or a signal remove it themselves); the inverse removes it.
    fn undoes_partial_failure(&self) -> bool {
        true
    }

    fn inverse(&self) -> Option<ActionRef> {
        Some(Arc::new(Self {
            remove_partial: true,
            ..self.clone()
        }))
    }
}

/// The database's size (data and indexes, as `information_schema` estimates
/// it) and whether the server writes a binary log; also proves the database
/// is there and the credentials work before a dump is started.
async fn survey(endpoint: &Endpoint) -> anyhow::Result<(u64, bool)> {
    let mut conn = endpoint.connect().await?;
    let fail = |e: mysql_async::Error| anyhow!("{}: {}", endpoint.label(), describe(&e));
    let size: Option<u64> = conn
        .query_first(
            "SELECT CAST(COALESCE(SUM(data_length + index_length), 0) AS UNSIGNED) FROM information_schema.tables WHERE table_schema = DATABASE()",
        )
        .await
        .map_err(fail)?;
    let log_bin: Option<String> = conn
        .query_first("SELECT CAST(@@GLOBAL.log_bin AS CHAR)")
        .await
        .map_err(fail)?;
    let _ = conn.disconnect().await;
    Ok((
        size.unwrap_or(0),
        matches!(log_bin.as_deref(), Some("1" | "ON" | "on")),
    ))
}

/// The options that write the binary log position, commented, into the
/// archive: MariaDB's programs give its GTID too; MySQL's since 8.0.26 call
/// it `--source-data`.
fn position_args(version: &str) -> Vec<String> {
    if version.contains("MariaDB") {
        return vec!["--gtid".into(), "--master-data=2".into()];
    }
    // `Ver 8.0.36` since MySQL 8; `Ver 10.13 Distrib 5.7.44` before.
    let number: Vec<u32> = version
        .split_once("Distrib ")
        .or_else(|| version.split_once("Ver "))
        .map(|(_, rest)| rest)
        .unwrap_or("")
        .split(|c: char| !c.is_ascii_digit())
        .take(3)
        .filter_map(|n| n.parse().ok())
        .collect();
    if number.as_slice() >= [8, 0, 26].as_slice() {
        vec!["--source-data=2".into()]
    } else {
        vec!["--master-data=2".into()]
    }
}

#[cfg(test)]
mod tests {
    use super::position_args;

    #[test]
    fn the_position_options_follow_the_dump_program() {
        assert_eq!(
            position_args("mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu"),
            ["--gtid", "--master-data=2"]
        );
        assert_eq!(
            position_args(
                "mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)"
            ),
            ["--source-data=2"]
        );
        assert_eq!(
            position_args("mysqldump  Ver 10.13 Distrib 5.7.44, for Linux (x86_64)"),
            ["--master-data=2"]
        );
    }
}
