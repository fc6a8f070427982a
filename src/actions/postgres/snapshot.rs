//! `postgres.snapshot`: a consistent `pg_dump -Fc` archive of a database —
//! a way back, or the records. Written to a hidden temporary file beside `to`,
//! hashed as it streams, synced and only then renamed over `to`: the final
//! name never holds half an archive, whatever happens to the dump or to us.

use std::cell::RefCell;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::connect::label;
use super::connect::{pg, Endpoint};
use super::tables::INTERNAL_SCHEMA;
use super::tool::tool;
use crate::actions::shared::archive::{remove_partial, ArchiveMeter, Partial};
use crate::actions::shared::units::human_bytes;
use crate::actions::{
    descriptor, Action, ActionFailure, ActionRef, Applied, Descriptor, Progress, StepContext,
};

/// Parameters of `postgres.snapshot`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// The database to archive (`postgres://user:password@host:port/db`).
    pub url: String,
    /// The archive file to write (relative to the playbook's directory); an
    /// existing file is replaced only by a complete archive.
    pub to: String,
    /// Set on the inverse: remove the half-written archive a killed dump left.
    #[serde(skip)]
    pub remove_partial: bool,
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

    fn endpoints(&self) -> Vec<String> {
        vec![crate::actions::shared::endpoint::database(&self.url)]
    }

    fn describe(&self) -> String {
        if self.remove_partial {
            return format!("remove the half-written archive beside {}, if any", self.to);
        }
        format!(
            "archive {} into {} (pg_dump -Fc, one consistent snapshot)",
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
        let client = endpoint.connect().await?;
        let size: i64 = client
            .query_one("SELECT pg_database_size(current_database())", &[])
            .await
            .map_err(pg)?
            .get(0);
        drop(client);
        let path = cx.base_dir.join(&self.to);
        let partial = Partial::create(&path, cx)?;
        cx.report(Progress::Status(format!(
            "dumping {} ({} on disk) into {}",
            endpoint.label(),
            human_bytes(size.max(0) as u64),
            partial.path.display()
        )));
        let mut file = tokio::fs::File::create(&partial.path)
            .await
            .with_context(|| format!("failed to create {}", partial.path.display()))?;
        let meter = ArchiveMeter::default();
        let table = RefCell::new(String::new());
        let on_chunk = |chunk: &[u8]| meter.add(chunk, &table.borrow(), cx);
        let on_line = |line: &str| {
            if let Some(name) = line.strip_prefix("pg_dump: dumping contents of table ") {
                *table.borrow_mut() = name.trim_matches('"').to_string();
            }
        };
        let bytes = tool("pg_dump", &endpoint)
            .args([
                "--format=custom",
                "--verbose",
                &format!("--exclude-schema={INTERNAL_SCHEMA}"),
            ])
            .stream_out(cx, &mut file, on_chunk, on_line)
            .await
            .and_then(|ended| ended.bytes("pg_dump"))
            .with_context(|| format!("failed to archive {}", endpoint.label()))?;
        file.sync_all()
            .await
            .with_context(|| format!("failed to sync {}", partial.path.display()))?;
        drop(file);
        if bytes == 0 {
            return Err(anyhow!("`pg_dump` wrote nothing").into());
        }
        partial.commit(&path)?;
        let seconds = meter.seconds();
        let sha256 = meter.finish(cx);
        cx.report(Progress::Status(format!(
            "archive {} written: {} in {seconds:.2} s, sha256 {sha256}",
            path.display(),
            human_bytes(bytes)
        )));
        // What it read: the database, as the server sizes it.
        let moved = crate::actions::shared::moved::Moved {
            bytes: size.max(0) as u64,
            ..Default::default()
        };
        Ok(Applied {
            data: moved.into_data(serde_json::json!({
                "database": endpoint.label(),
                "path": path.display().to_string(),
                "bytes": bytes,
                "sha256": sha256,
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
