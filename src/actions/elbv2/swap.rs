//! `elbv2.swap`: move a target group's traffic from old targets to new ones.
//! Registers the new targets and waits until the load balancer's health
//! checks call every one `healthy`, then deregisters the old ones and waits
//! until they are drained (gone from the group, or `unused`). Its inverse is
//! the same swap the other way round.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

use super::api::{Elbv2Api, Health, SdkElbv2, Target};
use crate::actions::shared::aws::aws_fields;
use crate::actions::shared::poll::{self, Check, Poll};
use crate::actions::{
    descriptor, Action, ActionFailure, ActionRef, Applied, Descriptor, Progress, StepContext,
};
use crate::duration::{format_duration, DurationText};

fn ten_minutes() -> DurationText {
    DurationText(Duration::from_secs(600))
}

/// Parameters of `elbv2.swap`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Swap {
    /// The target group: its ARN, or its name.
    pub target_group: String,
    /// The targets to take out: `i-0abc123`, `10.0.1.5:5432` (`id` or `id:port`;
    /// without a port, the group's).
    #[serde(deserialize_with = "targets")]
    #[schemars(with = "Vec<String>")]
    pub from: Vec<Target>,
    /// The targets to put in, the same way.
    #[serde(deserialize_with = "targets")]
    #[schemars(with = "Vec<String>")]
    pub to: Vec<Target>,
    /// Longest wait, each, for the new targets to be healthy and for the old
    /// ones to drain (the group's deregistration delay is 300 s by default).
    #[serde(
        default = "ten_minutes",
        deserialize_with = "crate::duration::positive"
    )]
    pub timeout: DurationText,
    /// AWS region; by default from the standard chain.
    #[serde(default)]
    pub region: Option<String>,
    /// A profile of `~/.aws/config`.
    #[serde(default)]
    pub profile: Option<String>,
    /// Another endpoint for ELBv2; also `AWS_ENDPOINT_URL`.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Set on the inverse: undo only what the swap noted it began.
    #[serde(skip)]
    pub undo: bool,
}

aws_fields!(Swap);

fn targets<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Target>, D::Error> {
    let texts = match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(one) => vec![one],
        serde_json::Value::Array(many) => many
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Ok(s),
                other => Err(serde::de::Error::custom(format!(
                    "expected a target (`id` or `id:port`), found `{other}`"
                ))),
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(serde::de::Error::custom(format!(
                "expected a list of targets (`id` or `id:port`), found `{other}`"
            )))
        }
    };
    if texts.is_empty() {
        return Err(serde::de::Error::custom("name at least one target"));
    }
    texts
        .iter()
        .map(|t| Target::parse(t).map_err(serde::de::Error::custom))
        .collect()
}

fn list(targets: &[Target]) -> String {
    targets
        .iter()
        .map(Target::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn show(health: &Health) -> String {
    let port = health.port.map(|p| format!(":{p}")).unwrap_or_default();
    match (&health.reason, &health.description) {
        (Some(reason), Some(text)) => {
            format!("{}{port} {} ({reason}: {text})", health.id, health.state)
        }
        (Some(reason), None) => format!("{}{port} {} ({reason})", health.id, health.state),
        _ => format!("{}{port} {}", health.id, health.state),
    }
}

impl Swap {
    fn reversed(&self) -> Swap {
        Swap {
            from: self.to.clone(),
            to: self.from.clone(),
            undo: true,
            ..self.clone()
        }
    }

    /// The step: the swap, noting the target group before registering; the
    /// undo of a swap that never got that far changes nothing.
    async fn run<A: Elbv2Api>(
        &self,
        api: &A,
        cx: &StepContext<'_>,
    ) -> anyhow::Result<serde_json::Value> {
        if self.undo && cx.recall("target_group_arn").is_none() {
            cx.report(Progress::Status(
                "the swap never registered a target: nothing to undo".into(),
            ));
            return Ok(serde_json::json!({ "undone": false }));
        }
        self.swap(api, cx.progress, &|arn| {
            if self.undo {
                return Ok(());
            }
            cx.note(serde_json::json!({ "target_group_arn": arn }))
        })
        .await
    }

    /// The whole swap against `api`: register, healthy, deregister, drained.
    /// `noting` is called with the group's ARN before anything changes.
    pub async fn swap<A: Elbv2Api>(
        &self,
        api: &A,
        report: &dyn Fn(Progress),
        noting: &dyn Fn(&str) -> anyhow::Result<()>,
    ) -> anyhow::Result<serde_json::Value> {
        if let Some(both) = self.to.iter().find(|t| self.from.contains(t)) {
            bail!("target `{both}` is in both `from` and `to`");
        }
        let group = &self.target_group;
        let arn = api
            .target_group_arn(group)
            .await
            .with_context(|| format!("failed to find target group `{group}`"))?;
        noting(&arn)?;
        api.register(&arn, &self.to)
            .await
            .with_context(|| format!("failed to register {} in `{group}`", list(&self.to)))?;
        let poll = Poll::within(self.timeout.0);
        let what = format!("target group `{group}`: new targets healthy");
        poll::until(&what, poll, report, || async {
            let all = api
                .health(&arn)
                .await
                .with_context(|| format!("failed to read the health of `{group}`"))?;
            let waiting: Vec<String> = self
                .to
                .iter()
                .filter_map(|t| match all.iter().find(|h| t.is(&h.id, h.port)) {
                    Some(h) if h.state == "healthy" => None,
                    Some(h) => Some(show(h)),
                    None => Some(format!("{t} not registered")),
                })
                .collect();
            Ok(if waiting.is_empty() {
                Check::Done(())
            } else {
                Check::Pending(waiting.join(", "))
            })
        })
        .await?;
        api.deregister(&arn, &self.from)
            .await
            .with_context(|| format!("failed to deregister {} from `{group}`", list(&self.from)))?;
        let what = format!("target group `{group}`: old targets drained");
        poll::until(&what, poll, report, || async {
            let all = api
                .health(&arn)
                .await
                .with_context(|| format!("failed to read the health of `{group}`"))?;
            let waiting: Vec<String> = self
                .from
                .iter()
                .flat_map(|t| all.iter().filter(|h| t.is(&h.id, h.port)))
                .filter(|h| {
                    h.state != "unused" && h.reason.as_deref() != Some("Target.NotRegistered")
                })
                .map(show)
                .collect();
            Ok(if waiting.is_empty() {
                Check::Done(())
            } else {
                Check::Pending(waiting.join(", "))
            })
        })
        .await?;
        Ok(serde_json::json!({
            "target_group": arn,
            "registered": self.to.iter().map(Target::to_string).collect::<Vec<_>>(),
            "deregistered": self.from.iter().map(Target::to_string).collect::<Vec<_>>(),
        }))
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "elbv2.swap",
    Swap,
    "move an ELB target group to new targets: register, wait until healthy, deregister the old, wait until drained; rollback swaps back"
);

#[async_trait(?Send)]
impl Action for Swap {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn describe(&self) -> String {
        format!(
            "register {} in target group `{}`, wait until healthy, then deregister {} and wait until drained (at most {} each)",
            list(&self.to),
            self.target_group,
            list(&self.from),
            format_duration(self.timeout.0)
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let api = SdkElbv2::connect(&self.aws()).await?;
        let data = self.run(&api, cx).await?;
        Ok(Applied {
            data,
            ..Applied::default()
        })
    }

    fn inverse(&self) -> Option<ActionRef> {
        Some(Arc::new(self.reversed()))
    }

    // Registering a registered target and deregistering a deregistered one
    // change nothing: a second attempt only waits again.
    fn idempotent(&self) -> bool {
        true
    }

    // The reverse swap registers the old targets (still in, or back in) and
    // deregisters the new ones, however far the swap got; nothing when it
    // never began registering (an unknown target group).
    fn undoes_partial_failure(&self) -> bool {
        true
    }
}
