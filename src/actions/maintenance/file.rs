//! `maintenance.file`: the flag-file convention of web servers (nginx:
//! `if (-f …/maintenance.on) { return 503; }`). Its own inverse.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::switch::Switch;
use crate::actions::{
    descriptor, Action, ActionFailure, ActionRef, Applied, Descriptor, StepContext,
};
use crate::files;

/// Parameters of `maintenance.file`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceFile {
    /// The flag file; relative paths are relative to the playbook.
    pub path: PathBuf,
    /// `on` creates the file, `off` removes it.
    pub state: Switch,
    /// What to write into the file when turning on (a message the page may show).
    #[serde(default)]
    pub content: String,
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "maintenance.file",
    MaintenanceFile,
    "turn a maintenance flag file on or off"
);

#[async_trait(?Send)]
impl Action for MaintenanceFile {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn describe(&self) -> String {
        match self.state {
            Switch::On => format!("turn maintenance on: create {}", self.path.display()),
            Switch::Off => format!("turn maintenance off: remove {}", self.path.display()),
        }
    }

    async fn preflight(&self, cx: &StepContext<'_>) -> Result<(), ActionFailure> {
        let path = cx.base_dir.join(&self.path);
        let dir = path.parent().unwrap_or(cx.base_dir);
        if !dir.is_dir() {
            return Err(anyhow::anyhow!("directory {} does not exist", dir.display()).into());
        }
        Ok(())
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        self.preflight(cx).await?;
        let path = cx.base_dir.join(&self.path);
        match self.state {
            // Readable by the web server that looks for it; never written
            // through a symlink planted at its name.
            Switch::On => files::replace(
                &path,
                self.content.as_bytes(),
                files::Keep::Existing { mode: 0o644 },
            )
            .with_context(|| format!("failed to create {}", path.display()))?,
            Switch::Off => match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    return Err(anyhow::Error::new(error)
                        .context(format!("failed to remove {}", path.display()))
                        .into())
                }
            },
        }
        Ok(Applied {
            data: serde_json::json!({ "path": path, "state": self.state == Switch::On }),
            ..Applied::default()
        })
    }

    fn inverse(&self) -> Option<ActionRef> {
        Some(Arc::new(MaintenanceFile {
            state: match self.state {
                Switch::On => Switch::Off,
                Switch::Off => Switch::On,
            },
            ..self.clone()
        }))
    }

    /// Maintenance on turns the application's users away.
    fn stops_writes(&self) -> bool {
        self.state == Switch::On
    }

    // Creating or removing the same file twice lands in the same place.
    fn idempotent(&self) -> bool {
        true
    }

    // A failed write or removal leaves the file as it was or as asked; the inverse sets it back either way.
    fn undoes_partial_failure(&self) -> bool {
        true
    }
}
