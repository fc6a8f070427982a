//! `rds.blue_green_delete`: delete a Blue/Green deployment once it has served
//! its purpose — after the soak, with `delete_old: true` also the old blue
//! instance (`…-old1`). As the implied rollback of `rds.blue_green` (before a
//! switchover) it deletes the deployment and the green instance this run made.

use anyhow::Context;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::api::{RdsApi, RUN_TAG};
use super::aws::{aws_fields, Here};
use super::blue_green_api::{instance_of, BlueGreenApi};
use super::poll::{self, two_hours, Check, Poll};
use super::sdk::SdkRds;
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};
use crate::duration::DurationText;

/// Parameters of `rds.blue_green_delete`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RdsBlueGreenDelete {
    /// The deployment's name.
    pub name: String,
    /// After a switchover, also delete the old blue instance (`…-old1`),
    /// without a final snapshot. Before one, delete the green instance.
    #[serde(default)]
    pub delete_old: bool,
    /// Set on the implied rollback of `rds.blue_green`: delete the deployment
    /// and the green instance, only what this run made.
    #[serde(skip)]
    pub undo: bool,
    /// Longest wait for an instance to be deleted.
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

aws_fields!(RdsBlueGreenDelete);

impl RdsBlueGreenDelete {
    pub async fn run<A: RdsApi + BlueGreenApi>(
        &self,
        api: &A,
        here: &Here<'_>,
    ) -> anyhow::Result<serde_json::Value> {
        let Some(d) = api.deployment(&self.name).await? else {
            (here.report)(Progress::Status(format!(
                "there is no Blue/Green deployment `{}`: nothing to delete",
                self.name
            )));
            return Ok(serde_json::json!({ "deleted": null }));
        };
        let ours = d.tags.get(RUN_TAG).map(String::as_str) == Some(here.run);
        if self.undo && !ours {
            (here.report)(Progress::Status(format!(
                "Blue/Green `{}` was not made by this run: left alone",
                self.name
            )));
            return Ok(serde_json::json!({ "deleted": null }));
        }
        let switched = d.status == "SWITCHOVER_COMPLETED";
        // Before a switchover green is expendable; after it, green is the
        // primary and blue is the old one.
        let green = d.target.as_deref().map(instance_of).map(str::to_string);
        let doomed = match (switched, self.undo || self.delete_old) {
            (false, true) => green.clone(),
            (true, true) if !self.undo => Some(instance_of(&d.source).to_string()),
            _ => None,
        };
        // Only a green instance this run tagged is deleted by an undo.
        let doomed = match doomed {
            Some(id) if self.undo => match api.instance(&id).await? {
                Some(i) if i.created_by(here.run) => Some(id),
                _ => None,
            },
            other => other,
        };
        api.delete_deployment(&d.id, !switched && doomed.is_some())
            .await
            .with_context(|| {
                format!("failed to delete the Blue/Green deployment `{}`", self.name)
            })?;
        if let Some(id) = &doomed {
            if api
                .instance(id)
                .await?
                .is_some_and(|i| i.status != "deleting")
            {
                api.delete_instance(id, None)
                    .await
                    .with_context(|| format!("failed to delete instance `{id}`"))?;
            }
            poll::until(
                &format!("instance `{id}`"),
                Poll::within(self.timeout.0),
                here.report,
                || async {
                    Ok(match api.instance(id).await? {
                        None => Check::Done(()),
                        Some(i) => Check::Pending(i.status),
                    })
                },
            )
            .await?;
        }
        (here.report)(Progress::Status(format!(
            "deleted Blue/Green `{}`{}",
            self.name,
            doomed
                .as_ref()
                .map(|id| format!(" and instance `{id}`"))
                .unwrap_or_default()
        )));
        Ok(serde_json::json!({ "deleted": d.id, "instance_deleted": doomed }))
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "rds.blue_green_delete",
    RdsBlueGreenDelete,
    "delete a Blue/Green deployment, with delete_old also the old blue instance after the switchover"
);

#[async_trait(?Send)]
impl Action for RdsBlueGreenDelete {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn endpoints(&self) -> Vec<String> {
        vec![crate::actions::shared::endpoint::aws(
            "rds-blue-green",
            &self.name,
        )]
    }

    fn describe(&self) -> String {
        if self.undo {
            format!(
                "delete Blue/Green deployment `{}` and its green instance (only if this run made them)",
                self.name
            )
        } else if self.delete_old {
            format!(
                "delete Blue/Green deployment `{}` and its old instance",
                self.name
            )
        } else {
            format!(
                "delete Blue/Green deployment `{}` (instances kept)",
                self.name
            )
        }
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let api = SdkRds::connect(&self.aws()).await?;
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

    // No inverse: what was deleted is gone (see the doc page).
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}
