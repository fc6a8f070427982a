//! `haproxy.weights`: shift traffic gradually — 10% → 50% → 100% to the new
//! servers, pausing (and optionally checking) between stages. Its inverse puts
//! all the weight back on the old servers.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::RuntimeApi;
use crate::actions::{
    descriptor, Action, ActionFailure, ActionRef, Applied, Descriptor, Progress, StepContext,
};
use crate::duration::{format_duration, DurationText};

fn default_stages() -> Vec<u8> {
    vec![10, 50, 100]
}

fn default_pause() -> DurationText {
    DurationText(Duration::from_secs(30))
}

/// Parameters of `haproxy.weights`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HaproxyWeights {
    /// The runtime API: a unix socket path or `host:port`.
    pub socket: String,
    #[serde(deserialize_with = "super::name::backend")]
    pub backend: String,
    /// Servers losing traffic.
    #[serde(deserialize_with = "super::name::servers")]
    pub from: Vec<String>,
    /// Servers gaining traffic.
    #[serde(deserialize_with = "super::name::servers")]
    pub to: Vec<String>,
    /// Percent of the traffic the new servers get at each stage.
    #[serde(default = "default_stages")]
    pub stages: Vec<u8>,
    /// Pause after each stage but the last.
    #[serde(default = "default_pause")]
    pub pause: DurationText,
    /// A shell command run after each stage's pause; a non-zero exit stops the
    /// shift (and the step fails, so its rollback puts the weights back).
    #[serde(default)]
    pub check: Option<String>,
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "haproxy.weights",
    HaproxyWeights,
    "shift a backend's traffic gradually by weights, with pauses and checks between stages"
);

#[async_trait(?Send)]
impl Action for HaproxyWeights {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn endpoints(&self) -> Vec<String> {
        vec![crate::actions::shared::endpoint::socket(&self.socket)]
    }

    fn describe(&self) -> String {
        if self.stages == [0] {
            return format!(
                "put all of HAProxy backend `{}` back on {}",
                self.backend,
                self.from.join(", ")
            );
        }
        let stages: Vec<String> = self.stages.iter().map(|s| format!("{s}%")).collect();
        format!(
            "shift HAProxy backend `{}` from {} to {} in stages {} ({} apart)",
            self.backend,
            self.from.join(", "),
            self.to.join(", "),
            stages.join(" → "),
            format_duration(self.pause.0)
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        if self.stages.is_empty() || self.stages.iter().any(|s| *s > 100) {
            return Err(anyhow::anyhow!("`stages` must list percentages from 0 to 100").into());
        }
        if self.from.is_empty() || self.to.is_empty() {
            return Err(
                anyhow::anyhow!("`from` and `to` must each name at least one server").into(),
            );
        }
        let api = RuntimeApi::at(&self.socket, cx.base_dir);
        api.servers(&self.backend).await?;
        for (index, percent) in self.stages.iter().enumerate() {
            let percent = u32::from((*percent).min(100));
            // HAProxy weights are 0..=256; 100 is a readable scale.
            for server in &self.to {
                api.change(&format!(
                    "set server {}/{server} weight {percent}",
                    self.backend
                ))
                .await?;
                api.change(&format!("set server {}/{server} state ready", self.backend))
                    .await?;
            }
            for server in &self.from {
                api.change(&format!(
                    "set server {}/{server} weight {}",
                    self.backend,
                    100 - percent
                ))
                .await?;
            }
            cx.report(Progress::Amount {
                done: u64::from(percent),
                total: Some(100),
                unit: "% shifted",
            });
            if index + 1 < self.stages.len() {
                tokio::time::sleep(self.pause.0).await;
                if let Some(check) = &self.check {
                    // Run like a `shell` step: bash -eo pipefail, output shown
                    // and masked, its process group tracked and ended with it.
                    let shell = crate::actions::builtin::shell::Shell {
                        run: check.clone(),
                        cwd: None,
                        env: Default::default(),
                    };
                    if let Err(failure) = shell.apply(cx).await {
                        return Err(failure
                            .error
                            .context(format!(
                                "check after the {percent}% stage failed; stopped shifting"
                            ))
                            .into());
                    }
                }
            }
        }
        Ok(Applied {
            data: serde_json::json!({ "backend": self.backend, "stages": self.stages }),
            ..Applied::default()
        })
    }

    fn inverse(&self) -> Option<ActionRef> {
        Some(Arc::new(HaproxyWeights {
            stages: vec![0],
            check: None,
            ..self.clone()
        }))
    }

    // Setting the same weights twice lands in the same place.
    fn idempotent(&self) -> bool {
        true
    }

    // A failure can leave the weights between two stages; the inverse sets them all back.
    fn undoes_partial_failure(&self) -> bool {
        true
    }
}
