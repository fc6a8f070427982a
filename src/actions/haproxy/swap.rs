//! `haproxy.swap`: move a backend's traffic from some servers to others — the
//! new ones made ready, the old ones drained (until their sessions reach 0 or
//! `drain` passes), what is left of their sessions shut, then put in
//! maintenance; verified with `show stat`. With `config`, the configuration
//! file's `server` lines are made to match first (checked with `haproxy -c`),
//! so a reload keeps the new routing. Its inverse swaps back, file included.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::config::set_disabled;
use super::RuntimeApi;
use crate::actions::shared::command_line;
use crate::actions::{
    descriptor, Action, ActionFailure, ActionRef, Applied, Descriptor, Progress, StepContext,
};
use crate::duration::{format_duration, DurationText};
use crate::files;

fn default_drain() -> DurationText {
    DurationText(Duration::from_secs(10))
}

fn yes() -> bool {
    true
}

/// Parameters of `haproxy.swap`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HaproxySwap {
    /// The runtime API: a unix socket path (`/run/haproxy/admin.sock`) or `host:port`.
    pub socket: String,
    /// The backend whose servers are swapped.
    #[serde(deserialize_with = "super::name::backend")]
    pub backend: String,
    /// Servers that take traffic now and must stop.
    #[serde(deserialize_with = "super::name::servers")]
    pub from: Vec<String>,
    /// Servers that must take all the traffic afterwards.
    #[serde(deserialize_with = "super::name::servers")]
    pub to: Vec<String>,
    /// Longest wait for the old servers' sessions to end by themselves.
    #[serde(default = "default_drain")]
    pub drain: DurationText,
    /// After `drain`, shut the sessions still on the old servers (a database
    /// client's idle connection would otherwise keep writing to the old host).
    #[serde(default = "yes")]
    pub shutdown_sessions: bool,
    /// The configuration file HAProxy loads: its `server` lines for `from`
    /// get `disabled` and those for `to` lose it, so a reload keeps the swap.
    /// Without it, a reload undoes the swap.
    #[serde(default)]
    pub config: Option<PathBuf>,
    /// The command line that checks the configuration; ` -c -f CONFIG` is
    /// appended (e.g. `haproxy -f /etc/haproxy/conf.d`, `sudo -n haproxy`).
    #[serde(default = "default_haproxy")]
    pub haproxy: String,
}

fn default_haproxy() -> String {
    "haproxy".into()
}

impl HaproxySwap {
    /// Makes the configuration file say what the swap does, before the
    /// runtime changes: a file HAProxy refuses is put back and nothing moves.
    /// Returns whether the file changed.
    async fn persist(&self, cx: &StepContext<'_>) -> anyhow::Result<bool> {
        let Some(config) = &self.config else {
            return Ok(false);
        };
        let path = cx.base_dir.join(config);
        let current = files::read_regular(&path)
            .map_err(|error| {
                if error.raw_os_error() == Some(libc::ELOOP) {
                    anyhow::anyhow!(
                        "{} is a symbolic link: refusing to edit through it (hint: name the file it points to)",
                        path.display()
                    )
                } else {
                    anyhow::anyhow!("cannot read {}: {error}", path.display())
                }
            })
            .and_then(|bytes| {
                String::from_utf8(bytes)
                    .map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", path.display()))
            })?;
        let next = set_disabled(&current, &self.backend, &self.to, &self.from)?;
        if next == current {
            return Ok(false);
        }
        let write = |text: &str| {
            files::replace(
                &path,
                text.as_bytes(),
                files::Keep::Existing { mode: 0o644 },
            )
            .map_err(anyhow::Error::new)
        };
        write(&next)?;
        let target = path.display().to_string();
        if let Err(error) =
            command_line::run(&self.haproxy, &["-c", "-f", &target], cx.base_dir).await
        {
            write(&current)?;
            return Err(error.context(format!(
                "the edited {target} does not pass `haproxy -c`; the old file is back in place and nothing was swapped"
            )));
        }
        cx.report(Progress::Status(format!(
            "{target}: {} disabled, {} enabled (a reload keeps the swap)",
            self.from.join(", "),
            self.to.join(", ")
        )));
        Ok(true)
    }

    /// Waits until every new server is up (health checks passing, if it has
    /// any): a swap to a dead server must fail before the old ones drain.
    async fn wait_until_up(&self, api: &RuntimeApi, cx: &StepContext<'_>) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let servers = api.servers(&self.backend).await?;
            // With health checks, a server leaving maintenance reads `UP` before
            // its first check: wait for a passed one (`L4OK`, `L7OK` …).
            let not_up: Vec<String> = servers
                .iter()
                .filter(|s| self.to.contains(&s.name))
                .filter(|s| {
                    !(s.status == "no check"
                        || (s.status == "UP" && s.check_status.ends_with("OK")))
                })
                .map(|s| format!("{} ({} {})", s.name, s.status, s.check_status))
                .collect();
            if not_up.is_empty() {
                return Ok(());
            }
            if started.elapsed() >= self.drain.0.max(Duration::from_secs(2)) {
                bail!(
                    "the new servers are not up: {}; the old ones still serve",
                    not_up.join(", ")
                );
            }
            cx.report(Progress::Status(format!(
                "waiting for {} to come up",
                not_up.join(", ")
            )));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the old servers hold no session; false if `drain` ran out.
    async fn wait_for_drain(&self, api: &RuntimeApi, cx: &StepContext<'_>) -> anyhow::Result<bool> {
        let started = Instant::now();
        let mut last_reported = None;
        loop {
            let servers = api.servers(&self.backend).await?;
            let left: u64 = servers
                .iter()
                .filter(|s| self.from.contains(&s.name))
                .map(|s| s.sessions)
                .sum();
            if left == 0 {
                return Ok(true);
            }
            if started.elapsed() >= self.drain.0 {
                cx.report(Progress::Status(format!(
                    "{left} session(s) still on the old servers after {}",
                    format_duration(self.drain.0)
                )));
                return Ok(false);
            }
            if last_reported != Some(left) {
                cx.report(Progress::Status(format!(
                    "draining: {left} session(s) left on {}",
                    self.from.join(", ")
                )));
                last_reported = Some(left);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Only the new servers may be in service afterwards.
    async fn verify(&self, api: &RuntimeApi) -> anyhow::Result<Vec<String>> {
        let servers = api.servers(&self.backend).await?;
        let mut status = Vec::new();
        for server in &servers {
            status.push(format!("{}={}", server.name, server.status));
            let in_service =
                !server.status.starts_with("MAINT") && !server.status.starts_with("DRAIN");
            if self.from.contains(&server.name) && in_service {
                bail!(
                    "server `{}` still takes traffic after the swap (status {})",
                    server.name,
                    server.status
                );
            }
            if self.to.contains(&server.name) && (!in_service || server.status.starts_with("DOWN"))
            {
                bail!(
                    "server `{}` does not take traffic after the swap (status {})",
                    server.name,
                    server.status
                );
            }
        }
        Ok(status)
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "haproxy.swap",
    HaproxySwap,
    "move a backend's traffic to other servers through HAProxy's runtime API: ready, drain, maintenance, verify"
);

#[async_trait(?Send)]
impl Action for HaproxySwap {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn endpoints(&self) -> Vec<String> {
        let mut keys = vec![crate::actions::shared::endpoint::socket(&self.socket)];
        keys.extend(
            self.config
                .as_deref()
                .map(crate::actions::shared::endpoint::file),
        );
        keys
    }

    fn describe(&self) -> String {
        let config = match &self.config {
            Some(path) => format!(", and in {}", path.display()),
            None => String::new(),
        };
        format!(
            "swap HAProxy backend `{}` from {} to {} (drain {}){config}",
            self.backend,
            self.from.join(", "),
            self.to.join(", "),
            format_duration(self.drain.0)
        )
    }

    /// Every named server exists, and they do not overlap.
    async fn preflight(&self, cx: &StepContext<'_>) -> Result<(), ActionFailure> {
        if self.from.is_empty() || self.to.is_empty() {
            return Err(
                anyhow::anyhow!("`from` and `to` must each name at least one server").into(),
            );
        }
        let api = RuntimeApi::at(&self.socket, cx.base_dir);
        let servers = api.servers(&self.backend).await?;
        for name in self.from.iter().chain(&self.to) {
            if !servers.iter().any(|s| &s.name == name) {
                let known: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
                return Err(anyhow::anyhow!(
                    "backend `{}` has no server `{name}` (it has: {})",
                    self.backend,
                    known.join(", ")
                )
                .into());
            }
        }
        if let Some(both) = self.from.iter().find(|s| self.to.contains(s)) {
            return Err(anyhow::anyhow!("server `{both}` is in both `from` and `to`").into());
        }
        Ok(())
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let config_changed = self.persist(cx).await?;
        let api = RuntimeApi::at(&self.socket, cx.base_dir);
        let backend = &self.backend;
        for server in &self.to {
            api.change(&format!("set server {backend}/{server} state ready"))
                .await?;
            // Its configured weight: a server left at weight 0 (by
            // `haproxy.weights`) would be "ready" and take nothing.
            api.change(&format!("set server {backend}/{server} weight 100%"))
                .await?;
        }
        // The old servers keep serving until the new ones are up.
        self.wait_until_up(&api, cx).await?;
        for server in &self.from {
            api.change(&format!("set server {backend}/{server} state drain"))
                .await?;
        }
        let drained = self.wait_for_drain(&api, cx).await?;
        if !drained && self.shutdown_sessions {
            for server in &self.from {
                api.change(&format!("shutdown sessions server {backend}/{server}"))
                    .await?;
            }
        }
        for server in &self.from {
            api.change(&format!("set server {backend}/{server} state maint"))
                .await?;
        }
        let servers = self.verify(&api).await?;
        Ok(Applied {
            data: serde_json::json!({
                "backend": backend,
                "serving": self.to,
                "in_maintenance": self.from,
                "drained_by_themselves": drained,
                "status": servers,
                "config": self.config.as_ref().map(|c| cx.base_dir.join(c)),
                "config_changed": config_changed,
            }),
            ..Applied::default()
        })
    }

    fn inverse(&self) -> Option<ActionRef> {
        Some(Arc::new(HaproxySwap {
            from: self.to.clone(),
            to: self.from.clone(),
            ..self.clone()
        }))
    }

    // Setting the same server states twice lands in the same place.
    fn idempotent(&self) -> bool {
        true
    }

    // A failure can leave the servers half swapped; the swap back sets every one of them.
    fn undoes_partial_failure(&self) -> bool {
        true
    }
}
