//! `rds.restore`: RestoreDBInstanceFromDBSnapshot into a new instance and wait
//! until it is `available`. Its implied rollback deletes the instance it
//! restored — only if this run created it.

use std::sync::Arc;

use anyhow::{bail, Context};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::api::{RdsApi, RestoreRequest};
use super::aws::{aws_fields, instance_to_create, run_tags, Here};
use super::delete_instance::RdsDeleteInstance;
use super::poll::{self, Poll};
use super::poll::{two_hours, yes};
use crate::actions::{
    descriptor, Action, ActionFailure, ActionRef, Applied, Descriptor, Progress, StepContext,
};
use crate::duration::{format_duration, DurationText};

/// Parameters of `rds.restore`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RdsRestore {
    /// The DB snapshot to restore from.
    pub snapshot: String,
    /// The new DB instance's id.
    pub instance: String,
    /// Its instance class (`db.r6g.xlarge`); by default the snapshot's.
    #[serde(default)]
    pub class: Option<String>,
    /// Its DB subnet group; by default the default VPC's.
    #[serde(default)]
    pub subnet_group: Option<String>,
    /// Its DB parameter group; by default the engine's default group.
    #[serde(default)]
    pub parameter_group: Option<String>,
    /// Its VPC security group ids.
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Multi-AZ deployment.
    #[serde(default)]
    pub multi_az: Option<bool>,
    /// Wait until the instance is `available`.
    #[serde(default = "yes")]
    pub wait: bool,
    /// Longest wait for `available`.
    #[serde(default = "two_hours", deserialize_with = "crate::duration::positive")]
    pub timeout: DurationText,
    /// The implied rollback takes a final snapshot with this id before
    /// deleting the instance (none by default).
    #[serde(default)]
    pub rollback_final_snapshot: Option<String>,
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

aws_fields!(RdsRestore);

impl RdsRestore {
    /// Deletes the restored instance (only if this run created it).
    pub fn undo(&self) -> RdsDeleteInstance {
        RdsDeleteInstance {
            instance: self.instance.clone(),
            final_snapshot: self.rollback_final_snapshot.clone(),
            only_created_by_run: true,
            wait: true,
            timeout: two_hours(),
            region: self.region.clone(),
            profile: self.profile.clone(),
            endpoint_url: self.endpoint_url.clone(),
        }
    }

    pub async fn run<A: RdsApi>(
        &self,
        api: &A,
        here: &Here<'_>,
    ) -> anyhow::Result<serde_json::Value> {
        let id = &self.instance;
        let again =
            format!("instance `{id}` was restored earlier in this run: not restoring again");
        let created = instance_to_create(api, id, here, &again).await?;
        if created {
            if api.snapshot(&self.snapshot).await?.is_none() {
                bail!("snapshot `{}` does not exist", self.snapshot);
            }
            let request = RestoreRequest {
                snapshot: self.snapshot.clone(),
                instance: id.clone(),
                class: self.class.clone(),
                subnet_group: self.subnet_group.clone(),
                parameter_group: self.parameter_group.clone(),
                security_groups: self.security_groups.clone(),
                multi_az: self.multi_az,
                tags: run_tags(here.run, here.step),
            };
            api.restore(&request).await.with_context(|| {
                format!("failed to restore snapshot `{}` into `{id}`", self.snapshot)
            })?;
        }
        let instance = if self.wait {
            poll::instance(
                api,
                id,
                "available",
                Poll::within(self.timeout.0),
                here.report,
            )
            .await?
        } else {
            api.instance(id).await?
        };
        let instance = instance.unwrap_or_default();
        (here.report)(Progress::Status(format!(
            "instance `{id}`: {} ({})",
            instance.status, instance.class
        )));
        Ok(serde_json::json!({
            "instance": id,
            "snapshot": self.snapshot,
            "created": created,
            "status": instance.status,
            "class": instance.class,
            "endpoint": instance.endpoint,
        }))
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "rds.restore",
    RdsRestore,
    "restore an RDS snapshot into a new instance and wait until it is available; rolled back by deleting it"
);

#[async_trait(?Send)]
impl Action for RdsRestore {
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
        let class = self
            .class
            .as_deref()
            .map(|c| format!(" as {c}"))
            .unwrap_or_default();
        let wait = if self.wait {
            format!(
                ", wait until available (at most {})",
                format_duration(self.timeout.0)
            )
        } else {
            String::new()
        };
        format!(
            "restore RDS snapshot `{}` into new instance `{}`{class}{wait}",
            self.snapshot, self.instance
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

    fn inverse(&self) -> Option<ActionRef> {
        Some(Arc::new(self.undo()))
    }

    // Finds what an earlier attempt of this run did (by id and the `cutover:run` tag) and goes on.
    fn idempotent(&self) -> bool {
        true
    }

    // A restore whose wait failed has left an instance behind; the inverse deletes only
    // what this run created, and finds nothing when the call never went through.
    fn undoes_partial_failure(&self) -> bool {
        true
    }
}
