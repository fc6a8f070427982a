//! `rds.modify`: the scale-up — ModifyDBInstance (class, storage, IOPS), then
//! wait until the instance is `available` with the new values in place.

use anyhow::{bail, Context};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::api::{Instance, ModifyRequest, RdsApi};
use super::aws::{aws_fields, Here};
use super::poll::{self, Check, Poll};
use super::poll::{two_hours, yes};
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};
use crate::duration::{format_duration, DurationText};

/// Parameters of `rds.modify`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RdsModify {
    /// The DB instance to change.
    pub instance: String,
    /// The new instance class (`db.r6g.2xlarge`).
    #[serde(default)]
    pub class: Option<String>,
    /// The new storage size in GiB (RDS only grows storage).
    #[serde(default)]
    pub allocated_storage: Option<i32>,
    /// The new provisioned IOPS.
    #[serde(default)]
    pub iops: Option<i32>,
    /// Apply now (a short outage for a class change) rather than in the next
    /// maintenance window.
    #[serde(default = "yes")]
    pub apply_immediately: bool,
    /// Wait until the new values are in place and the instance `available`.
    #[serde(default = "yes")]
    pub wait: bool,
    /// Longest wait.
    #[serde(default = "two_hours", deserialize_with = "crate::duration::positive")]
    pub timeout: DurationText,
    /// AWS region; by default from the standard chain.
    #[serde(default)]
    pub region: Option<String>,
    /// A profile of `~/.aws/config`.
    #[serde(default)]
    pub profile: Option<String>,
    /// Another endpoint for RDS; also `AWS_ENDPOINT_URL`.
    #[serde(default)]
    pub endpoint_url: Option<String>,
}

aws_fields!(RdsModify);

impl RdsModify {
    fn changes(&self) -> Vec<String> {
        let mut changes = Vec::new();
        if let Some(class) = &self.class {
            changes.push(format!("class {class}"));
        }
        if let Some(gib) = self.allocated_storage {
            changes.push(format!("storage {gib} GiB"));
        }
        if let Some(iops) = self.iops {
            changes.push(format!("{iops} IOPS"));
        }
        changes
    }

    /// The requested values are the instance's current ones.
    fn in_place(&self, i: &Instance) -> bool {
        self.class.as_ref().is_none_or(|c| *c == i.class)
            && self
                .allocated_storage
                .is_none_or(|s| s == i.allocated_storage)
            && self.iops.is_none_or(|n| Some(n) == i.iops)
    }

    /// The requested values wait in the instance's pending modifications.
    fn pending(&self, i: &Instance) -> bool {
        let p = &i.pending;
        self.class
            .as_ref()
            .is_none_or(|c| Some(c) == p.class.as_ref() || *c == i.class)
            && self
                .allocated_storage
                .is_none_or(|s| Some(s) == p.allocated_storage || s == i.allocated_storage)
            && self
                .iops
                .is_none_or(|n| Some(n) == p.iops || Some(n) == i.iops)
    }

    pub async fn run<A: RdsApi>(
        &self,
        api: &A,
        here: &Here<'_>,
    ) -> anyhow::Result<serde_json::Value> {
        let id = &self.instance;
        if self.changes().is_empty() {
            bail!("nothing to modify: give `class`, `allocated_storage` or `iops`");
        }
        let Some(before) = api.instance(id).await? else {
            bail!("instance `{id}` does not exist");
        };
        let called = !self.in_place(&before) && !self.pending(&before);
        if called {
            let request = ModifyRequest {
                instance: id.clone(),
                class: self.class.clone(),
                allocated_storage: self.allocated_storage,
                iops: self.iops,
                apply_immediately: self.apply_immediately,
            };
            api.modify(&request)
                .await
                .with_context(|| format!("failed to modify `{id}`"))?;
        } else {
            (here.report)(Progress::Status(format!(
                "instance `{id}` already has or awaits {}: not modifying again",
                self.changes().join(", ")
            )));
        }
        if !self.wait || !self.apply_immediately {
            return Ok(serde_json::json!({
                "instance": id,
                "previous_class": before.class,
                "previous_allocated_storage": before.allocated_storage,
                "previous_iops": before.iops,
                "requested": called,
            }));
        }
        let what = format!("instance `{id}`");
        let after = poll::until(&what, Poll::within(self.timeout.0), here.report, || async {
            let Some(now) = api.instance(id).await? else {
                bail!("instance `{id}` does not exist");
            };
            if now.status == "available" && now.pending.is_empty() && self.in_place(&now) {
                return Ok(Check::Done(now));
            }
            Ok(Check::Pending(format!("{} ({})", now.status, now.class)))
        })
        .await?;
        Ok(serde_json::json!({
            "instance": id,
            "previous_class": before.class,
            "previous_allocated_storage": before.allocated_storage,
            "previous_iops": before.iops,
            "class": after.class,
            "allocated_storage": after.allocated_storage,
            "iops": after.iops,
            "requested": called,
        }))
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "rds.modify",
    RdsModify,
    "scale an RDS instance: class, storage, IOPS; wait until the new values are in place"
);

#[async_trait(?Send)]
impl Action for RdsModify {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn endpoints(&self) -> Vec<String> {
        vec![crate::actions::shared::endpoint::aws(
            "rds-instance",
            &self.instance,
        )]
    }

    fn describe(&self) -> String {
        let when = if self.apply_immediately {
            "now"
        } else {
            "in the next maintenance window"
        };
        let wait = if self.wait && self.apply_immediately {
            format!(
                ", wait until in place (at most {})",
                format_duration(self.timeout.0)
            )
        } else {
            String::new()
        };
        format!(
            "modify RDS instance `{}`: {} ({when}){wait}",
            self.instance,
            self.changes().join(", ")
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let api = super::sdk::SdkRds::connect(&self.aws()).await?;
        let data = self.run(&api, &Here::of(cx)).await?;
        Ok(Applied {
            data,
            ..Applied::default()
        })
    }

    // Finds what an earlier attempt of this run did (by id and the `cutover:run` tag) and goes on.
    fn idempotent(&self) -> bool {
        true
    }

    // No inverse: RDS applies a modification whole or not at all, and reverting one is a modification of its own (see the doc page).
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}
