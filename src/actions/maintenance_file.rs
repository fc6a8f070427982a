//! `maintenance.file`: the flag-file convention of web servers (nginx:
//! `if (-f …/maintenance.on) { return 503; }`). Its own inverse.

use std::path::PathBuf;

use anyhow::Context;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{ActionFailure, Applied, StepContext};

/// `on` or `off`. YAML 1.1 tools read a bare `on` as `true`, so booleans are
/// accepted too rather than failing a playbook a linter rewrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Switch {
    On,
    Off,
}

impl Switch {
    pub fn flipped(self) -> Switch {
        match self {
            Switch::On => Switch::Off,
            Switch::Off => Switch::On,
        }
    }
}

impl<'de> Deserialize<'de> for Switch {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::Bool(true) => Ok(Switch::On),
            serde_json::Value::Bool(false) => Ok(Switch::Off),
            serde_json::Value::String(s) if s == "on" => Ok(Switch::On),
            serde_json::Value::String(s) if s == "off" => Ok(Switch::Off),
            other => Err(serde::de::Error::custom(format!(
                "expected `on` or `off`, found {other}"
            ))),
        }
    }
}

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

impl MaintenanceFile {
    pub fn describe(&self) -> String {
        match self.state {
            Switch::On => format!("turn maintenance on: create {}", self.path.display()),
            Switch::Off => format!("turn maintenance off: remove {}", self.path.display()),
        }
    }

    pub fn preflight(&self, cx: &StepContext<'_>) -> Result<(), ActionFailure> {
        let path = cx.base_dir.join(&self.path);
        let dir = path.parent().unwrap_or(cx.base_dir);
        if !dir.is_dir() {
            return Err(anyhow::anyhow!("directory {} does not exist", dir.display()).into());
        }
        Ok(())
    }

    pub fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        self.preflight(cx)?;
        let path = cx.base_dir.join(&self.path);
        match self.state {
            Switch::On => {
                let tmp = path.with_extension("cutover-tmp");
                std::fs::write(&tmp, &self.content)
                    .and_then(|()| std::fs::rename(&tmp, &path))
                    .with_context(|| format!("failed to create {}", path.display()))?;
            }
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

    pub fn inverse(&self) -> MaintenanceFile {
        MaintenanceFile {
            state: match self.state {
                Switch::On => Switch::Off,
                Switch::Off => Switch::On,
            },
            ..self.clone()
        }
    }
}
