//! `rds.wait`: wait until an instance has a status (`available` by default,
//! `deleted` for gone), showing its status and the time waited.

use std::time::Duration;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::api::RdsApi;
use super::aws::{aws_fields, Here};
use super::poll::{self, Poll};
use crate::actions::{descriptor, Action, ActionFailure, Applied, Descriptor, StepContext};
use crate::duration::{format_duration, DurationText};

fn available() -> String {
    "available".into()
}

fn half_an_hour() -> DurationText {
    DurationText(Duration::from_secs(1800))
}

/// Parameters of `rds.wait`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RdsWait {
    /// The DB instance to watch.
    pub instance: String,
    /// The status to wait for: `available`, `stopped`, … or `deleted`.
    #[serde(default = "available")]
    pub status: String,
    /// Longest wait.
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

aws_fields!(RdsWait);

impl RdsWait {
    pub async fn run<A: RdsApi>(
        &self,
        api: &A,
        here: &Here<'_>,
    ) -> anyhow::Result<serde_json::Value> {
        let started = tokio::time::Instant::now();
        let poll = Poll::within(self.timeout.0);
        poll::instance(api, &self.instance, &self.status, poll, here.report).await?;
        Ok(serde_json::json!({
            "instance": self.instance,
            "status": self.status,
            "waited_ms": started.elapsed().as_millis() as u64,
        }))
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "rds.wait",
    RdsWait,
    "wait until an RDS instance has a status (available, stopped, deleted …)"
);

#[async_trait(?Send)]
impl Action for RdsWait {
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
        format!(
            "wait until RDS instance `{}` is `{}` (at most {})",
            self.instance,
            self.status,
            format_duration(self.timeout.0)
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

    // Waits and reads.
    fn idempotent(&self) -> bool {
        true
    }

    // Waits and reads.
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}
