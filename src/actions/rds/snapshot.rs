//! `rds.snapshot`: CreateDBSnapshot of an instance, then wait until it is
//! `available` with its progress. A resumed step finds the snapshot it made
//! (by its id and its `cutover:run` tag) instead of making a second one.

use std::sync::Arc;

use anyhow::{bail, Context};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::api::RdsApi;
use super::aws::{aws_fields, default_snapshot_id, run_tags, Here};
use super::delete_snapshot::RdsDeleteSnapshot;
use super::poll::{self, two_hours, yes, Poll};
use crate::actions::{
    descriptor, Action, ActionFailure, ActionRef, Applied, Descriptor, Progress, StepContext,
};
use crate::duration::{format_duration, DurationText};

/// Parameters of `rds.snapshot`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RdsSnapshot {
    /// The DB instance to snapshot.
    pub instance: String,
    /// The snapshot's id; by default `cutover-<run id>-<step id>`.
    #[serde(default)]
    pub snapshot_id: Option<String>,
    /// Wait until the snapshot is `available`.
    #[serde(default = "yes")]
    pub wait: bool,
    /// Longest wait for `available`.
    #[serde(default = "two_hours", deserialize_with = "crate::duration::positive")]
    pub timeout: DurationText,
    /// Delete the snapshot when the step is rolled back (it is kept by default).
    #[serde(default)]
    pub delete_on_rollback: bool,
    /// AWS region; by default from the standard chain (`AWS_REGION`, the profile).
    #[serde(default)]
    pub region: Option<String>,
    /// A profile of `~/.aws/config`; by default `AWS_PROFILE` or `default`.
    #[serde(default)]
    pub profile: Option<String>,
    /// Another endpoint for RDS (a VPC endpoint, an emulator); also `AWS_ENDPOINT_URL`.
    #[serde(default)]
    pub endpoint_url: Option<String>,
}

aws_fields!(RdsSnapshot);

impl RdsSnapshot {
    /// Deleting the snapshot, only when `delete_on_rollback` asks for it.
    pub fn undo(&self) -> Option<RdsDeleteSnapshot> {
        self.delete_on_rollback.then(|| RdsDeleteSnapshot {
            snapshot_id: self.snapshot_id.clone(),
            only_created_by_run: true,
            region: self.region.clone(),
            profile: self.profile.clone(),
            endpoint_url: self.endpoint_url.clone(),
        })
    }

    pub async fn run<A: RdsApi>(
        &self,
        api: &A,
        here: &Here<'_>,
    ) -> anyhow::Result<serde_json::Value> {
        let id = self
            .snapshot_id
            .clone()
            .unwrap_or_else(|| default_snapshot_id(here.run, here.step));
        let created = match api.snapshot(&id).await? {
            Some(found) if found.created_by(here.run) && found.instance == self.instance => {
                (here.report)(Progress::Status(format!(
                    "snapshot `{id}` was made earlier in this run: not making another"
                )));
                false
            }
            Some(found) => bail!(
                "snapshot `{id}` already exists (of instance `{}`, not made by this run); \
                 choose another `snapshot_id`, or leave it out for one built from the run id",
                found.instance
            ),
            None => {
                api.create_snapshot(&self.instance, &id, &run_tags(here.run, here.step))
                    .await
                    .with_context(|| {
                        format!("failed to snapshot instance `{}` as `{id}`", self.instance)
                    })?;
                true
            }
        };
        let status = if self.wait {
            poll::snapshot(api, &id, Poll::within(self.timeout.0), here.report)
                .await?
                .status
        } else {
            "creating".to_string()
        };
        (here.report)(Progress::Status(format!("snapshot `{id}`: {status}")));
        Ok(serde_json::json!({
            "snapshot_id": id,
            "instance": self.instance,
            "created": created,
            "status": status,
        }))
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "rds.snapshot",
    RdsSnapshot,
    "snapshot an RDS instance and wait until the snapshot is available; kept unless delete_on_rollback"
);

#[async_trait(?Send)]
impl Action for RdsSnapshot {
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
        let id = self
            .snapshot_id
            .as_deref()
            .unwrap_or("cutover-<run>-<step>");
        let wait = if self.wait {
            format!(
                ", wait until available (at most {})",
                format_duration(self.timeout.0)
            )
        } else {
            String::new()
        };
        format!("snapshot RDS instance `{}` as `{id}`{wait}", self.instance)
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
        self.undo().map(|undo| Arc::new(undo) as ActionRef)
    }

    // Finds what an earlier attempt of this run did (by id and the `cutover:run` tag) and goes on.
    fn idempotent(&self) -> bool {
        true
    }

    // A snapshot whose wait failed is left behind; the inverse (when asked for) deletes it
    // only if this run made it.
    fn undoes_partial_failure(&self) -> bool {
        true
    }
}
