//! `postgres.snapshot`: a consistent `pg_dump -Fc` archive of a database —
//! a way back, or the records. Written to a hidden temporary file beside `to`,
//! hashed as it streams, synced and only then renamed over `to`: the final
//! name never holds half an archive, whatever happens to the dump or to us.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use schemars::JsonSchema;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::connect::label;
use super::connect::{pg, Endpoint};
use super::copy::human_bytes;
use super::tables::INTERNAL_SCHEMA;
use super::tool::Tool;
use crate::actions::{descriptor, Action, Descriptor};
use crate::actions::{ActionFailure, Applied, Progress, StepContext};
use async_trait::async_trait;

/// Parameters of `postgres.snapshot`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// The database to archive (`postgres://user:password@host:port/db`).
    pub url: String,
    /// The archive file to write (relative to the playbook's directory); an
    /// existing file is replaced only by a complete archive.
    pub to: String,
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "postgres.snapshot",
    Snapshot,
    "write a consistent pg_dump -Fc archive of a database, atomically, with its size and sha256"
);

#[async_trait(?Send)]
impl Action for Snapshot {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn describe(&self) -> String {
        format!(
            "archive {} into {} (pg_dump -Fc, one consistent snapshot)",
            label(&self.url),
            self.to
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let started = Instant::now();
        let endpoint = Endpoint::parse(&self.url)?;
        let client = endpoint.connect().await?;
        let size: i64 = client
            .query_one("SELECT pg_database_size(current_database())", &[])
            .await
            .map_err(pg)?
            .get(0);
        drop(client);
        let path = cx.base_dir.join(&self.to);
        let partial = Partial::create(&path)?;
        cx.report(Progress::Status(format!(
            "dumping {} ({} on disk) into {}",
            endpoint.label(),
            human_bytes(size.max(0) as u64),
            partial.path.display()
        )));
        let mut file = tokio::fs::File::create(&partial.path)
            .await
            .with_context(|| format!("failed to create {}", partial.path.display()))?;
        let hasher = RefCell::new(Sha256::new());
        let written = Cell::new(0u64);
        let table = RefCell::new(String::new());
        let last_report = Cell::new(Instant::now());
        let on_chunk = |chunk: &[u8]| {
            hasher.borrow_mut().update(chunk);
            written.set(written.get() + chunk.len() as u64);
            if last_report.get().elapsed() >= Duration::from_millis(500) {
                last_report.set(Instant::now());
                report(cx, written.get(), started, &table.borrow());
            }
        };
        let on_line = |line: &str| {
            if let Some(name) = line.strip_prefix("pg_dump: dumping contents of table ") {
                *table.borrow_mut() = name.trim_matches('"').to_string();
            }
        };
        let bytes = Tool::new("pg_dump", &endpoint)
            .args([
                "--format=custom",
                "--verbose",
                &format!("--exclude-schema={INTERNAL_SCHEMA}"),
            ])
            .stream_to(cx, &mut file, on_chunk, on_line)
            .await
            .with_context(|| format!("failed to archive {}", endpoint.label()))?;
        file.sync_all()
            .await
            .with_context(|| format!("failed to sync {}", partial.path.display()))?;
        drop(file);
        if bytes == 0 {
            return Err(anyhow!("`pg_dump` wrote nothing").into());
        }
        partial.commit(&path)?;
        let sha256 = hex::encode(hasher.into_inner().finalize());
        let seconds = started.elapsed().as_secs_f64();
        cx.report(Progress::Amount {
            done: bytes,
            total: Some(bytes),
            unit: "bytes",
        });
        cx.report(Progress::Status(format!(
            "archive {} written: {} in {seconds:.2} s, sha256 {sha256}",
            path.display(),
            human_bytes(bytes)
        )));
        Ok(Applied {
            data: serde_json::json!({
                "database": endpoint.label(),
                "path": path.display().to_string(),
                "bytes": bytes,
                "sha256": sha256,
                "seconds": (seconds * 1000.0).round() / 1000.0,
            }),
            ..Applied::default()
        })
    }

    // A new archive replaces the old one whole.
    fn idempotent(&self) -> bool {
        true
    }
}

fn report(cx: &StepContext<'_>, written: u64, started: Instant, table: &str) {
    cx.report(Progress::Amount {
        done: written,
        total: None,
        unit: "bytes",
    });
    let rate = written as f64 / started.elapsed().as_secs_f64().max(0.001);
    cx.report(Progress::Status(format!(
        "{} written ({}/s){}",
        human_bytes(written),
        human_bytes(rate as u64),
        if table.is_empty() {
            String::new()
        } else {
            format!(", dumping {table}")
        }
    )));
}

/// The archive while it is written: `.NAME.partial` beside the final name,
/// removed on drop unless committed — a failed dump, a timeout or Ctrl-C
/// leaves nothing behind (a kill -9 leaves only the hidden partial file).
struct Partial {
    path: PathBuf,
    committed: bool,
}

impl Partial {
    fn create(path: &Path) -> anyhow::Result<Partial> {
        let name = path
            .file_name()
            .ok_or_else(|| anyhow!("`to: {}` names no file", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
        if path.is_dir() {
            return Err(anyhow!("`to: {}` is a directory", path.display()));
        }
        let partial = dir.join(format!(".{}.partial", name.to_string_lossy()));
        Ok(Partial {
            path: partial,
            committed: false,
        })
    }

    /// Renames the synced archive to its final name and syncs the directory,
    /// so the rename itself survives a power cut.
    fn commit(mut self, path: &Path) -> anyhow::Result<()> {
        std::fs::rename(&self.path, path).with_context(|| {
            format!(
                "failed to rename {} to {}",
                self.path.display(),
                path.display()
            )
        })?;
        self.committed = true;
        if let Some(dir) = path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .with_context(|| format!("failed to sync {}", dir.display()))?;
        }
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
