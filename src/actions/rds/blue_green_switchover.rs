//! `rds.blue_green_switchover`: switch a Blue/Green deployment over (green
//! takes the blue's name and endpoint, blue becomes `…-old1`) and wait for
//! `SWITCHOVER_COMPLETED`. A point of no return: RDS cannot switch back.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::aws::{aws_fields, Here};
use super::blue_green_api::{instance_of, wait_for, BlueGreenApi};
use super::sdk::SdkRds;
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};
use crate::duration::{format_duration, DurationText};

fn five_minutes() -> DurationText {
    DurationText(Duration::from_secs(300))
}

fn half_an_hour() -> DurationText {
    DurationText(Duration::from_secs(1800))
}

/// Parameters of `rds.blue_green_switchover`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RdsBlueGreenSwitchover {
    /// The deployment's name.
    pub name: String,
    /// RDS's own limit for the switchover (30 s to 1 h); past it RDS gives up
    /// and leaves blue serving.
    #[serde(
        default = "five_minutes",
        deserialize_with = "crate::duration::positive"
    )]
    pub switchover_timeout: DurationText,
    /// Longest wait for `SWITCHOVER_COMPLETED`.
    #[serde(
        default = "half_an_hour",
        deserialize_with = "crate::duration::positive"
    )]
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

aws_fields!(RdsBlueGreenSwitchover);

impl RdsBlueGreenSwitchover {
    pub async fn run<A: BlueGreenApi>(
        &self,
        api: &A,
        here: &Here<'_>,
    ) -> anyhow::Result<serde_json::Value> {
        let Some(d) = api.deployment(&self.name).await? else {
            anyhow::bail!("there is no Blue/Green deployment `{}`", self.name);
        };
        if d.status != "SWITCHOVER_COMPLETED" && d.status != "SWITCHOVER_IN_PROGRESS" {
            api.switchover(&d.id, self.switchover_timeout.0)
                .await
                .with_context(|| format!("failed to switch `{}` over", self.name))?;
        } else {
            (here.report)(Progress::Status(format!(
                "`{}` is {} already",
                self.name, d.status
            )));
        }
        let done = wait_for(
            api,
            &self.name,
            "SWITCHOVER_COMPLETED",
            self.timeout.0,
            here.report,
            None,
        )
        .await?;
        Ok(serde_json::json!({
            "deployment": done.id,
            "serving": instance_of(done.target.as_deref().unwrap_or_default()),
            "old": instance_of(&done.source),
            "status": done.status,
        }))
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "rds.blue_green_switchover",
    RdsBlueGreenSwitchover,
    "switch a Blue/Green deployment over and wait until it completes (a point of no return)"
);

#[async_trait(?Send)]
impl Action for RdsBlueGreenSwitchover {
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
        format!(
            "switch Blue/Green deployment `{}` over (RDS limit {}, wait at most {})",
            self.name,
            format_duration(self.switchover_timeout.0),
            format_duration(self.timeout.0)
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let api = SdkRds::connect(&self.aws()).await?;
        let data = self.run(&api, &Here::of(cx)).await?;
        Ok(Applied {
            data,
            ..Applied::default()
        })
    }

    /// The switchover blocks writes on both environments while it runs.
    fn stops_writes(&self) -> bool {
        true
    }

    // A switchover under way or done is waited for, not started again.
    fn idempotent(&self) -> bool {
        true
    }

    // RDS switches over or rolls itself back; a switchover cannot be undone by cutover (see the doc page).
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}
