//! `rds.delete_snapshot` and `rds.delete_instance`: the implied rollbacks of
//! `rds.snapshot` (when asked) and of `rds.restore` / `rds.read_replica`, also
//! usable as steps. As rollbacks they delete only what this run created.

use std::time::Duration;

use anyhow::Context;
use schemars::JsonSchema;
use serde::Deserialize;

use super::api::RdsApi;
use super::aws::{aws_fields, default_snapshot_id, Here};
use super::poll::{self, Check, Poll};
use crate::actions::{ActionFailure, Applied, Progress, StepContext};
use crate::playbook::DurationText;

fn one_hour() -> DurationText {
    DurationText(Duration::from_secs(3600))
}

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
    pub fn describe(&self) -> String {
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

    pub async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let api = self.aws().connect().await?;
        let data = self.run(&api, &Here::of(cx)).await?;
        Ok(Applied {
            data,
            ..Applied::default()
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
    #[serde(default = "super::snapshot::yes")]
    pub wait: bool,
    /// Longest wait for the deletion.
    #[serde(default = "one_hour")]
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
    pub fn describe(&self) -> String {
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

    pub async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let api = self.aws().connect().await?;
        let data = self.run(&api, &Here::of(cx)).await?;
        Ok(Applied {
            data,
            ..Applied::default()
        })
    }

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
