//! `rds.delete_instance`: the implied rollback of `rds.restore` and
//! `rds.read_replica`, also usable as a step. As a rollback it deletes only
//! what this run created.

use anyhow::Context;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::api::RdsApi;
use super::aws::{aws_fields, Here};
use super::poll::{self, one_hour, yes, Poll};
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};
use crate::duration::DurationText;

/// Parameters of `rds.delete_instance`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RdsDeleteInstance {
    /// The DB instance to delete.
    pub instance: String,
    /// Take a final snapshot with this id before deleting (none by default).
    #[serde(default)]
    pub final_snapshot: Option<String>,
    /// Keep the instance unless this run created it (its `cutover:run` tag).
    #[serde(default)]
    pub only_created_by_run: bool,
    /// Wait until RDS no longer lists the instance.
    #[serde(default = "yes")]
    pub wait: bool,
    /// Longest wait for the deletion.
    #[serde(default = "one_hour", deserialize_with = "crate::duration::positive")]
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

aws_fields!(RdsDeleteInstance);

impl RdsDeleteInstance {
    pub async fn run<A: RdsApi>(
        &self,
        api: &A,
        here: &Here<'_>,
    ) -> anyhow::Result<serde_json::Value> {
        let id = &self.instance;
        let report = |text: String| (here.report)(Progress::Status(text));
        let Some(found) = api.instance(id).await? else {
            report(format!("instance `{id}` does not exist: nothing to delete"));
            return Ok(serde_json::json!({ "instance": id, "deleted": false }));
        };
        if self.only_created_by_run && !found.created_by(here.run) {
            report(format!("instance `{id}` was not created by this run: kept"));
            return Ok(serde_json::json!({ "instance": id, "deleted": false }));
        }
        if found.status != "deleting" {
            api.delete_instance(id, self.final_snapshot.as_deref())
                .await
                .with_context(|| format!("failed to delete instance `{id}`"))?;
        }
        if self.wait {
            poll::instance(
                api,
                id,
                "deleted",
                Poll::within(self.timeout.0),
                here.report,
            )
            .await?;
        }
        report(format!("instance `{id}` deleted"));
        Ok(serde_json::json!({
            "instance": id,
            "deleted": true,
            "final_snapshot": self.final_snapshot,
        }))
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "rds.delete_instance",
    RdsDeleteInstance,
    "delete an RDS instance (the implied rollback of rds.restore and rds.read_replica)"
);

#[async_trait(?Send)]
impl Action for RdsDeleteInstance {
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
        let only = if self.only_created_by_run {
            " if this run created it"
        } else {
            ""
        };
        let last = match &self.final_snapshot {
            Some(id) => format!(", final snapshot `{id}`"),
            None => ", no final snapshot".into(),
        };
        format!("delete RDS instance `{}`{only}{last}", self.instance)
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let api = super::sdk::SdkRds::connect(&self.aws()).await?;
        let data = self.run(&api, &Here::of(cx)).await?;
        Ok(Applied {
            data,
            ..Applied::default()
        })
    }

    // Deleting what is gone finds nothing to delete.
    fn idempotent(&self) -> bool {
        true
    }

    // No inverse: a deleted instance is gone (see the doc page).
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}
