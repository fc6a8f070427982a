//! `nginx.swap`: point an nginx upstream at other servers. Only the `server`
//! lines of the named `upstream` block change — its other directives, the
//! file's other upstreams and comments stay as they were; the file is replaced
//! atomically (never through a symlink), the configuration tested with
//! `nginx -t`, then reloaded. A failing test or reload puts the old file back
//! and fails the step, leaving the old servers serving. The old file is kept
//! beside the new one, and the inverse restores it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

use super::upstream::{check_server, servers_of, set_servers};
use crate::actions::shared::command_line;
use crate::actions::{
    descriptor, Action, ActionFailure, ActionRef, Applied, Descriptor, Progress, StepContext,
};
use crate::files;

fn default_nginx() -> String {
    "nginx".into()
}

/// Parameters of `nginx.swap`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NginxSwap {
    /// The file holding the `upstream` block (an include, or nginx.conf itself).
    pub upstream_file: PathBuf,
    /// The upstream's name.
    #[serde(deserialize_with = "upstream_name")]
    pub upstream: String,
    /// The servers it must point at (`127.0.0.1:8081`, `db2:5432 max_fails=3`):
    /// an address and nginx's `server` parameters, nothing else.
    #[serde(deserialize_with = "server_list")]
    pub servers: Vec<String>,
    /// The command line that addresses this nginx; `-t` and `-s reload` are
    /// appended (e.g. `nginx -c /etc/nginx/nginx.conf -p /srv/edge`).
    #[serde(default = "default_nginx")]
    pub nginx: String,
    /// Set on the inverse: put back the file as it was before the swap.
    #[serde(skip)]
    pub restore: bool,
}

/// Where the file as it was before this run's swap is kept: one per run and
/// step (a later run never restores an older run's original), hidden so a
/// glob include (`upstreams/*`) does not load it, and kept after a restore so
/// the restore can run again on resume.
fn backup_of(path: &Path, run_id: &str, step: &str) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".before-{run_id}-{step}"));
    path.with_file_name(name)
}

fn upstream_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let name = String::deserialize(deserializer)?;
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(name)
    } else {
        Err(serde::de::Error::custom(format!(
            "expected an upstream name of letters, digits, `_`, `-` and `.`, found `{}`",
            name.escape_debug()
        )))
    }
}

fn server_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let servers = Vec::<String>::deserialize(deserializer)?;
    if servers.is_empty() {
        return Err(serde::de::Error::custom(
            "an upstream needs at least one server",
        ));
    }
    for server in &servers {
        check_server(server).map_err(serde::de::Error::custom)?;
    }
    Ok(servers)
}

impl NginxSwap {
    async fn nginx(&self, cx: &StepContext<'_>, extra: &[&str]) -> anyhow::Result<()> {
        if self.nginx.trim().is_empty() {
            bail!("`nginx` is empty");
        }
        command_line::run(&self.nginx, extra, cx.base_dir).await
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "nginx.swap",
    NginxSwap,
    "point an nginx upstream at other servers: atomic rewrite, nginx -t, reload"
);

#[async_trait(?Send)]
impl Action for NginxSwap {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn endpoints(&self) -> Vec<String> {
        vec![crate::actions::shared::endpoint::file(&self.upstream_file)]
    }

    fn describe(&self) -> String {
        if self.restore {
            format!(
                "restore nginx upstream `{}` from before the swap ({})",
                self.upstream,
                self.upstream_file.display()
            )
        } else {
            format!(
                "point nginx upstream `{}` at {}",
                self.upstream,
                self.servers.join(", ")
            )
        }
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let path = cx.base_dir.join(&self.upstream_file);
        let backup = backup_of(&path, cx.run_id, cx.step);
        // The backup is written before the file: without one, this run's swap
        // changed nothing (it failed first), and there is nothing to undo.
        if self.restore && std::fs::symlink_metadata(&backup).is_err() {
            cx.report(Progress::Status(format!(
                "nothing to restore: this run's swap never changed {}",
                path.display()
            )));
            return Ok(Applied {
                data: serde_json::json!({ "file": path, "restored": false }),
                ..Applied::default()
            });
        }
        let current = read_text(&path)?;
        let before = servers_of(&current, &self.upstream)?;
        // Whether this attempt saved the original: if it then puts the file
        // back itself, it removes the backup too, so its undo knows the swap
        // changed nothing (and does not reload an nginx that just refused to).
        let mut saved_backup = false;
        let next = if self.restore {
            self.restored(
                &current,
                &read_text(&backup).map_err(|e| {
                    e.context(format!("nothing to restore from {}", backup.display()))
                })?,
                cx,
            )?
        } else {
            // Keep the original across retries and resumes: only the first swap saves it.
            saved_backup = files::create_new(&backup, current.as_bytes(), 0o600)
                .map_err(anyhow::Error::new)?;
            set_servers(&current, &self.upstream, &self.servers)?
        };
        write_over(&path, &next)?;
        let put_back = || -> anyhow::Result<()> {
            write_over(&path, &current)?;
            if saved_backup {
                std::fs::remove_file(&backup)
                    .with_context(|| format!("failed to remove {}", backup.display()))?;
            }
            Ok(())
        };
        if let Err(error) = self.nginx(cx, &["-t"]).await {
            put_back()?;
            return Err(error
                .context(
                    "the new configuration does not pass `nginx -t`; the old file is back in place",
                )
                .into());
        }
        if let Err(error) = self.nginx(cx, &["-s", "reload"]).await {
            // Not loaded: leave the file as it was, or the next reload (anyone's)
            // would apply it.
            put_back()?;
            return Err(error
                .context("nginx did not reload; the old file is back in place")
                .into());
        }
        let after = servers_of(&next, &self.upstream)?;
        cx.report(Progress::Status(format!(
            "upstream `{}`: {} → {}",
            self.upstream,
            before.join(", "),
            after.join(", ")
        )));
        Ok(Applied {
            data: serde_json::json!({
                "file": path,
                "servers": after,
                "before": before,
                "restored": self.restore,
            }),
            ..Applied::default()
        })
    }

    fn inverse(&self) -> Option<ActionRef> {
        Some(Arc::new(NginxSwap {
            restore: true,
            ..self.clone()
        }))
    }

    // Writing the same upstream twice lands in the same place.
    fn idempotent(&self) -> bool {
        true
    }

    // A failure after the file was written (a kill during `nginx -t` or the
    // reload) can leave the new file in place; the swap back rewrites it. A
    // failure the swap put back itself leaves no backup: the undo does nothing.
    fn undoes_partial_failure(&self) -> bool {
        true
    }
}

impl NginxSwap {
    /// The file as it was before the swap: the backup itself when nothing but
    /// the swap changed it since, else the current file with the backup's
    /// `server` lines (someone edited it meanwhile: their edit stays).
    fn restored(
        &self,
        current: &str,
        backup: &str,
        cx: &StepContext<'_>,
    ) -> anyhow::Result<String> {
        if set_servers(backup, &self.upstream, &self.servers)? == current {
            return Ok(backup.to_string());
        }
        cx.report(Progress::Output(format!(
            "{} changed since the swap: putting back only the servers of `{}`",
            self.upstream_file.display(),
            self.upstream
        )));
        set_servers(
            current,
            &self.upstream,
            &servers_of(backup, &self.upstream)?,
        )
    }
}

/// A file cutover reads to edit: never through a symlink, as text.
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
    files::replace(path, text.as_bytes(), files::Keep::Existing { mode: 0o644 })
        .map_err(anyhow::Error::new)
}
