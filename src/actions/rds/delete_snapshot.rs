//! `rds.delete_snapshot`: the implied rollback of `rds.snapshot` (with
//! `delete_on_rollback`), also usable as a step. As a rollback it deletes only
//! what this run created.

use anyhow::Context;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::api::RdsApi;
use super::aws::{aws_fields, default_snapshot_id, Here};
use super::poll::{self, one_hour, Check, Poll};
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};

/// Parameters of `rds.delete_snapshot`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RdsDeleteSnapshot {
    /// The snapshot; by default the one an `rds.snapshot` step with this step's
    /// id made in this run (`cutover-<run id>-<step id>`).
    #[serde(default)]
    pub snapshot_id: Option<String>,
    /// Keep the snapshot unless this run created it (its `cutover:run` tag).
    #[serde(default)]
    pub only_created_by_run: bool,
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

aws_fields!(RdsDeleteSnapshot);

impl RdsDeleteSnapshot {
    pub async fn run<A: RdsApi>(
        &self,
        api: &A,
        here: &Here<'_>,
    ) -> anyhow::Result<serde_json::Value> {
        let id = self
            .snapshot_id
            .clone()
            .unwrap_or_else(|| default_snapshot_id(here.run, here.step));
        let report = |text: String| (here.report)(Progress::Status(text));
        let Some(found) = api.snapshot(&id).await? else {
            report(format!("snapshot `{id}` does not exist: nothing to delete"));
            return Ok(serde_json::json!({ "snapshot_id": id, "deleted": false }));
        };
        if self.only_created_by_run && !found.created_by(here.run) {
            report(format!("snapshot `{id}` was not made by this run: kept"));
            return Ok(serde_json::json!({ "snapshot_id": id, "deleted": false }));
        }
        api.delete_snapshot(&id)
            .await
            .with_context(|| format!("failed to delete snapshot `{id}`"))?;
        poll::until(
            &format!("snapshot `{id}`"),
            Poll::within(one_hour().0),
            here.report,
            || async {
                Ok(match api.snapshot(&id).await? {
                    None => Check::Done(()),
                    Some(s) => Check::Pending(s.status),
                })
            },
        )
        .await?;
        report(format!("snapshot `{id}` deleted"));
        Ok(serde_json::json!({ "snapshot_id": id, "deleted": true }))
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "rds.delete_snapshot",
    RdsDeleteSnapshot,
    "delete an RDS snapshot (the implied rollback of rds.snapshot with delete_on_rollback)"
);

#[async_trait(?Send)]
impl Action for RdsDeleteSnapshot {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn describe(&self) -> String {
        let id = self
            .snapshot_id
            .as_deref()
            .unwrap_or("cutover-<run>-<step>");
        let only = if self.only_created_by_run {
            " if this run made it"
        } else {
            ""
        };
        format!("delete RDS snapshot `{id}`{only}")
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

    // No inverse: a deleted snapshot is gone (see the doc page).
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}
