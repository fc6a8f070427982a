//! Archives written whole or not at all, for every engine's snapshot: the
//! hidden file an archive is written to until it is complete (`Partial`), and
//! the bytes as they stream into it — hashed, counted and reported
//! (`ArchiveMeter`).

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use sha2::{Digest, Sha256};

use super::units::human_bytes;
use crate::actions::{Progress, StepContext};

/// The archive while it is written: `.NAME.partial` beside the final name,
/// removed on drop unless committed — a failed dump, a timeout or Ctrl-C
/// leaves nothing behind (a kill -9 leaves only the hidden partial file).
pub struct Partial {
    pub path: PathBuf,
    committed: bool,
}

/// The note a snapshot journals before it creates its partial file: a kill -9
/// leaves that file, and the undo (`cutover rollback`) removes it.
pub const NOTE_PARTIAL: &str = "partial_archive";

/// Where the archive for `path` is written until it is complete.
fn partial_path(path: &Path) -> anyhow::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("`to: {}` names no file", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    Ok(dir.join(format!(".{}.partial", name.to_string_lossy())))
}

impl Partial {
    /// Notes the partial file (journaled) before anything can create it.
    pub fn create(path: &Path, cx: &StepContext<'_>) -> anyhow::Result<Partial> {
        let partial = partial_path(path)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
        if path.is_dir() {
            return Err(anyhow!("`to: {}` is a directory", path.display()));
        }
        cx.note(serde_json::json!({ NOTE_PARTIAL: partial.display().to_string() }))?;
        Ok(Partial {
            path: partial,
            committed: false,
        })
    }

    /// Renames the synced archive to its final name and syncs the directory,
    /// so the rename itself survives a power cut.
    pub fn commit(mut self, path: &Path) -> anyhow::Result<()> {
        std::fs::rename(&self.path, path).with_context(|| {
            format!(
                "failed to rename {} to {}",
                self.path.display(),
                path.display()
            )
        })?;
        self.committed = true;
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("failed to sync {}", dir.display()))
    }
}

/// The undo of a snapshot: removes the half-written archive a killed dump
/// left (never the archive itself, a complete way back). `data.deleted`
/// names what it removed, for the run's `undone:` message.
pub fn remove_partial(path: &Path, cx: &StepContext<'_>) -> anyhow::Result<serde_json::Value> {
    let partial = partial_path(path)?;
    match std::fs::remove_file(&partial) {
        Ok(()) => {
            cx.report(Progress::Status(format!(
                "removed the half-written archive {}",
                partial.display()
            )));
            Ok(serde_json::json!({ "deleted": [partial.display().to_string()] }))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            cx.report(Progress::Status(format!(
                "no half-written archive left beside {} (the archive itself is kept)",
                path.display()
            )));
            Ok(serde_json::json!({ "deleted": [] }))
        }
        Err(error) => Err(anyhow!("failed to remove {}: {error}", partial.display())),
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The bytes of an archive as they stream by: hashed, counted, and reported
/// every half second with the rate and what is being dumped.
pub struct ArchiveMeter {
    started: Instant,
    hasher: RefCell<Sha256>,
    written: Cell<u64>,
    last_report: Cell<Instant>,
}

impl Default for ArchiveMeter {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            hasher: RefCell::new(Sha256::new()),
            written: Cell::new(0),
            last_report: Cell::new(Instant::now()),
        }
    }
}

impl ArchiveMeter {
    /// One chunk written; `dumping` names the table whose rows stream now.
    pub fn add(&self, chunk: &[u8], dumping: &str, cx: &StepContext<'_>) {
        self.hasher.borrow_mut().update(chunk);
        self.written.set(self.written.get() + chunk.len() as u64);
        if self.last_report.get().elapsed() >= Duration::from_millis(500) {
            self.last_report.set(Instant::now());
            self.report(dumping, cx);
        }
    }

    fn report(&self, dumping: &str, cx: &StepContext<'_>) {
        let written = self.written.get();
        cx.report(Progress::Amount {
            done: written,
            total: None,
            unit: "bytes",
        });
        let rate = written as f64 / self.started.elapsed().as_secs_f64().max(0.001);
        cx.report(Progress::Status(format!(
            "{} written ({}/s){}",
            human_bytes(written),
            human_bytes(rate as u64),
            if dumping.is_empty() {
                String::new()
            } else {
                format!(", dumping {dumping}")
            }
        )));
    }

    /// The archive is complete: reports its size and returns its sha256.
    pub fn finish(self, cx: &StepContext<'_>) -> String {
        let bytes = self.written.get();
        cx.report(Progress::Amount {
            done: bytes,
            total: Some(bytes),
            unit: "bytes",
        });
        hex::encode(self.hasher.into_inner().finalize())
    }

    /// Seconds since the dump began.
    pub fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}
