//! `nginx.swap`: point an nginx upstream at other servers. The include file is
//! rewritten atomically (temp file + rename), the configuration tested with
//! `nginx -t`, then reloaded; a failing test puts the old file back and fails
//! the step, leaving the old servers serving. The old file is kept beside the
//! new one, and the inverse restores it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::actions::{
    descriptor, Action, ActionFailure, ActionRef, Applied, Descriptor, StepContext,
};

fn default_nginx() -> String {
    "nginx".into()
}

/// Parameters of `nginx.swap`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NginxSwap {
    /// The file holding the `upstream` block, included by the main configuration.
    pub upstream_file: PathBuf,
    /// The upstream's name.
    pub upstream: String,
    /// The servers it must point at (`127.0.0.1:8081`, `db2:5432 max_fails=3`).
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

impl NginxSwap {
    fn render(&self) -> String {
        let servers: String = self
            .servers
            .iter()
            .map(|s| format!("    server {s};\n"))
            .collect();
        format!(
            "# written by cutover: upstream `{}`\nupstream {} {{\n{servers}}}\n",
            self.upstream, self.upstream
        )
    }

    async fn nginx(&self, cx: &StepContext<'_>, extra: &[&str]) -> anyhow::Result<()> {
        let mut words = self.nginx.split_whitespace();
        let program = words.next().context("`nginx` is empty")?;
        let output = tokio::process::Command::new(program)
            .args(words)
            .args(extra)
            .current_dir(cx.base_dir)
            .output()
            .await
            .with_context(|| format!("failed to start `{program}`"))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            bail!(
                "`{} {}` failed ({}): {}",
                self.nginx,
                extra.join(" "),
                output.status,
                stderr.trim()
            );
        }
        Ok(())
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
        let current = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let next = if self.restore {
            std::fs::read_to_string(&backup)
                .with_context(|| format!("nothing to restore: {} is missing", backup.display()))?
        } else {
            // Keep the original across retries and resumes: only the first swap saves it.
            if !backup.exists() {
                write_atomically(&backup, &current)?;
            }
            self.render()
        };
        write_atomically(&path, &next)?;
        if let Err(error) = self.nginx(cx, &["-t"]).await {
            write_atomically(&path, &current)?;
            return Err(error
                .context(
                    "the new configuration does not pass `nginx -t`; the old file is back in place",
                )
                .into());
        }
        if let Err(error) = self.nginx(cx, &["-s", "reload"]).await {
            // Not loaded: leave the file as it was, or the next reload (anyone's)
            // would apply it.
            write_atomically(&path, &current)?;
            return Err(error
                .context("nginx did not reload; the old file is back in place")
                .into());
        }
        Ok(Applied {
            data: serde_json::json!({ "file": path, "servers": self.servers, "restored": self.restore }),
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

    // A failed reload can leave the new file in place; the swap back rewrites it.
    fn undoes_partial_failure(&self) -> bool {
        true
    }
}

fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("cutover-tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("cannot write {}", path.display()))
}
