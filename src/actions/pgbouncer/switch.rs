//! `pgbouncer.switch`: point one database of PgBouncer at another server with
//! no failed query. Pause (clients wait), rewrite that one entry of the
//! `[databases]` section (every other line and comment kept; atomically,
//! never through a symlink), `RELOAD`, check `SHOW DATABASES` names the new
//! host and port, resume. A pause already held by an earlier
//! `pgbouncer.pause` step is left for that step's resume. Its inverse
//! switches back to the entry as it was.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

use super::console::{self, database_name, field, Console};
use super::ini::{retarget, target_of, Target};
use crate::actions::{
    descriptor, Action, ActionFailure, ActionRef, Applied, Descriptor, Progress, StepContext,
};
use crate::duration::{format_duration, DurationText};
use crate::files;

fn ten_seconds() -> DurationText {
    DurationText(Duration::from_secs(10))
}

/// Where the database must point.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct To {
    /// The new server's host name or address (or a unix socket directory).
    #[serde(deserialize_with = "host_name")]
    pub host: String,
    /// Its port: a number, or a template that gives one (`${{ vars.port }}`).
    #[serde(deserialize_with = "port_number")]
    #[schemars(with = "u16")]
    pub port: u16,
    /// The database name on the new server, if it differs from the entry's.
    #[serde(default, deserialize_with = "optional_name")]
    pub dbname: Option<String>,
}

/// Parameters of `pgbouncer.switch`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    /// PgBouncer's admin console: `postgres://admin@host:6432/pgbouncer`.
    pub admin: String,
    /// The configuration file PgBouncer runs with (`pgbouncer.ini`); relative
    /// to the playbook's directory. Not a symbolic link.
    pub config: PathBuf,
    /// The entry of its `[databases]` section to switch.
    #[serde(deserialize_with = "database_name")]
    pub database: String,
    /// Where the entry must point afterwards.
    pub to: To,
    /// Longest wait for the transactions under way to end (the pause).
    #[serde(
        default = "ten_seconds",
        deserialize_with = "crate::duration::positive"
    )]
    pub timeout: DurationText,
    /// Set on the inverse: put the entry back as it was before the switch.
    #[serde(skip)]
    pub restore: bool,
}

fn host_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let host = String::deserialize(deserializer)?;
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '/'));
    if valid {
        Ok(host)
    } else {
        Err(serde::de::Error::custom(format!(
            "expected a host name, an address or a socket directory, found `{}`",
            host.escape_debug()
        )))
    }
}

/// A port from the playbook, or from a template (which gives text).
fn port_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u16, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|port| *port > 0)
    .ok_or_else(|| serde::de::Error::custom("expected a port, 1 to 65535"))
}

fn optional_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    database_name(deserializer).map(Some)
}

/// The file as it was before this run's switch, beside it and hidden.
fn backup_of(path: &Path, run_id: &str, step: &str) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".before-{run_id}-{step}"));
    path.with_file_name(name)
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    let bytes = files::read_regular(path).map_err(|error| {
        if error.raw_os_error() == Some(libc::ELOOP) {
            anyhow!(
                "{} is a symbolic link: refusing to edit through it (hint: name the file it points to)",
                path.display()
            )
        } else {
            anyhow!("cannot read {}: {error}", path.display())
        }
    })?;
    String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8 text", path.display()))
}

fn write_over(path: &Path, text: &str) -> anyhow::Result<()> {
    files::replace(path, text.as_bytes(), files::Keep::Existing { mode: 0o640 })
        .map_err(anyhow::Error::new)
}

fn show(target: &Target) -> String {
    format!(
        "{}:{}{}",
        target.host.as_deref().unwrap_or("(default host)"),
        target.port.as_deref().unwrap_or("5432"),
        target
            .dbname
            .as_ref()
            .map(|d| format!("/{d}"))
            .unwrap_or_default()
    )
}

impl Switch {
    fn target(&self) -> Target {
        Target {
            host: Some(self.to.host.clone()),
            port: Some(self.to.port.to_string()),
            dbname: self.to.dbname.clone(),
        }
    }

    /// PgBouncer runs with `expected` for the database.
    async fn check(&self, expected: &Target) -> anyhow::Result<()> {
        let console = Console::connect(&self.admin).await?;
        let row = console.database(&self.database).await?;
        let host = field(&row, "host");
        let port = field(&row, "port");
        let dbname = field(&row, "database");
        let differs = |want: &Option<String>, have: &Option<String>| {
            want.as_ref().is_some_and(|w| have.as_ref() != Some(w))
        };
        if differs(&expected.host, &host)
            || differs(&expected.port, &port)
            || differs(&expected.dbname, &dbname)
        {
            bail!(
                "after RELOAD, PgBouncer runs `{}` against {}:{}/{} instead of {}",
                self.database,
                host.unwrap_or_default(),
                port.unwrap_or_default(),
                dbname.unwrap_or_default(),
                show(expected)
            );
        }
        Ok(())
    }

    /// Writes `next`, reloads and checks, inside a pause; a file that does not
    /// take is put back and reloaded before the pause ends.
    async fn move_to(
        &self,
        path: &Path,
        current: &str,
        next: &str,
        expected: &Target,
        cx: &StepContext<'_>,
    ) -> Result<bool, Failed> {
        let paused = console::pause(&self.admin, &self.database, self.timeout.0, cx)
            .await
            .map_err(Failed::unchanged)?;
        let result = async {
            write_over(path, next)?;
            Console::connect(&self.admin)
                .await?
                .command("RELOAD")
                .await?;
            self.check(expected).await
        }
        .await;
        if let Err(error) = result {
            let put_back = async {
                write_over(path, current)?;
                Console::connect(&self.admin).await?.command("RELOAD").await
            }
            .await;
            if !paused.already {
                console::resume(&self.admin, &self.database)
                    .await
                    .map_err(Failed::changed)?;
            }
            return Err(match put_back {
                Ok(()) => Failed::unchanged(error.context("the old entry is back in place")),
                Err(again) => Failed::changed(error.context(format!(
                    "and putting the old entry back failed too: {again:#}"
                ))),
            });
        }
        if !paused.already {
            console::resume(&self.admin, &self.database)
                .await
                .map_err(Failed::changed)?;
        }
        Ok(paused.already)
    }
}

/// A move that failed, and whether it left PgBouncer and the file as they
/// were (the pause failed, or the old entry was put back and reloaded): then
/// the switch changed nothing and its undo has nothing to do.
struct Failed {
    error: anyhow::Error,
    unchanged: bool,
}

impl Failed {
    fn unchanged(error: anyhow::Error) -> Self {
        Failed {
            error,
            unchanged: true,
        }
    }

    fn changed(error: anyhow::Error) -> Self {
        Failed {
            error,
            unchanged: false,
        }
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "pgbouncer.switch",
    Switch,
    "point a PgBouncer database at another server with no failed query: pause, rewrite its [databases] entry, RELOAD, check, resume"
);

#[async_trait(?Send)]
impl Action for Switch {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn endpoints(&self) -> Vec<String> {
        vec![
            crate::actions::shared::endpoint::database(&self.admin),
            crate::actions::shared::endpoint::file(&self.config),
        ]
    }

    fn describe(&self) -> String {
        if self.restore {
            format!(
                "switch PgBouncer database `{}` back to its entry from before the switch ({})",
                self.database,
                self.config.display()
            )
        } else {
            format!(
                "switch PgBouncer database `{}` to {} (pause at most {}, RELOAD, resume)",
                self.database,
                show(&self.target()),
                format_duration(self.timeout.0)
            )
        }
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let path = cx.base_dir.join(&self.config);
        let backup = backup_of(&path, cx.run_id, cx.step);
        if self.restore && std::fs::symlink_metadata(&backup).is_err() {
            // The backup is written before the file: none, nothing changed.
            cx.report(Progress::Status(format!(
                "nothing to switch back: this run's switch never changed {}",
                path.display()
            )));
            return Ok(Applied {
                data: serde_json::json!({ "database": self.database, "restored": false }),
                ..Applied::default()
            });
        }
        let current = read_text(&path)?;
        let before = target_of(&current, &self.database)?;
        // Whether this attempt saved the original: a switch that then fails
        // with everything as before removes it, so its undo knows nothing
        // changed (and does not wait on the same busy pause again).
        let mut saved_backup = false;
        let (next, expected) = if self.restore {
            let original = read_text(&backup)?;
            let old = target_of(&original, &self.database)?;
            if retarget(&original, &self.database, &self.target())? == current {
                (original, old)
            } else {
                cx.report(Progress::Output(format!(
                    "{} changed since the switch: putting back only the entry of `{}`",
                    self.config.display(),
                    self.database
                )));
                (retarget(&current, &self.database, &old)?, old)
            }
        } else {
            saved_backup = files::create_new(&backup, current.as_bytes(), 0o600)
                .map_err(anyhow::Error::new)?;
            (
                retarget(&current, &self.database, &self.target())?,
                self.target(),
            )
        };
        let held = match self.move_to(&path, &current, &next, &expected, cx).await {
            Ok(held) => held,
            Err(failed) => {
                if failed.unchanged && saved_backup {
                    std::fs::remove_file(&backup)
                        .with_context(|| format!("failed to remove {}", backup.display()))?;
                }
                return Err(failed.error.into());
            }
        };
        cx.report(Progress::Status(format!(
            "`{}`: {} → {}{}",
            self.database,
            show(&before),
            show(&expected),
            if held {
                " (the pause stays, for the step that took it)"
            } else {
                ""
            }
        )));
        Ok(Applied {
            data: serde_json::json!({
                "database": self.database,
                "config": path,
                "before": before,
                "after": expected,
                "pause_held_by_an_earlier_step": held,
                "restored": self.restore,
            }),
            ..Applied::default()
        })
    }

    fn inverse(&self) -> Option<ActionRef> {
        Some(Arc::new(Switch {
            restore: true,
            ..self.clone()
        }))
    }

    // The same entry written twice, reloaded twice, lands in the same place;
    // the backup of the first attempt is kept.
    fn idempotent(&self) -> bool {
        true
    }

    // A switch that failed after writing puts the old entry back itself; the
    // inverse checks and restores it again when it got cut short.
    fn undoes_partial_failure(&self) -> bool {
        true
    }
}
