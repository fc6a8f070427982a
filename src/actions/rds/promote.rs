//! `rds.promote`: check the replica has replayed everything, PromoteReadReplica,
//! wait until the instance stands alone. A promotion cannot be undone: it has
//! no implied rollback.

use std::cell::Cell;

use anyhow::{bail, Context};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::api::RdsApi;
use super::aws::{aws_fields, Here};
use super::lag_check::{wait_caught_up, CloudWatchLag, LagProbe, SqlLag};
use super::poll::{self, two_hours, waiting, yes, Check, Poll};
use crate::actions::shared::cloudwatch::SdkMetrics;
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};
use crate::duration::{format_duration, DurationText};

fn five_minutes() -> DurationText {
    DurationText(std::time::Duration::from_secs(300))
}

/// Polls that must see a promoted instance `available` but still naming its
/// source before the promotion counts as done without RDS saying so.
const SETTLE_POLLS: u32 = 3;

/// How often the lag is read: CloudWatch's `ReplicaLag` has one-minute
/// periods, the engine's own view is cheap.
const LAG_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Parameters of `rds.promote`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RdsPromote {
    /// The read replica to promote to a standalone instance.
    pub instance: String,
    /// Wait until the promotion is over and the instance `available`.
    #[serde(default = "yes")]
    pub wait: bool,
    /// Longest wait.
    #[serde(default = "two_hours", deserialize_with = "crate::duration::positive")]
    pub timeout: DurationText,
    /// Longest wait for the replica to have replayed everything before the
    /// promotion (writes on the source must be frozen by then).
    #[serde(
        default = "five_minutes",
        deserialize_with = "crate::duration::positive"
    )]
    pub lag_timeout: DurationText,
    /// Read the replica's replay from the engine itself (a `postgres://` or
    /// `mysql://` URL of the replica) instead of CloudWatch's `ReplicaLag`.
    #[serde(default)]
    pub sql_url: Option<String>,
    /// Promote without the lag check (journaled as skipped).
    #[serde(default)]
    pub force: bool,
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

aws_fields!(RdsPromote);

impl RdsPromote {
    /// Promotes unless RDS already shows no source (a resumed step), then
    /// waits until the instance is `available` without a source. An instance
    /// `available` that still names its source for `SETTLE_POLLS` polls after
    /// the call counts as promoted, with a warning (an emulator never clears
    /// the source; RDS itself shows `modifying` at once).
    pub async fn run<A: RdsApi>(
        &self,
        api: &A,
        lag: Option<&dyn LagProbe>,
        here: &Here<'_>,
    ) -> anyhow::Result<serde_json::Value> {
        let id = &self.instance;
        let Some(before) = api.instance(id).await? else {
            bail!("instance `{id}` does not exist");
        };
        let source = before.replica_source.clone();
        let called = source.is_some();
        let mut lag_check = serde_json::Value::Null;
        if let (Some(_), Some(probe)) = (&source, lag) {
            let reading =
                wait_caught_up(probe, id, self.lag_timeout.0, LAG_POLL, here.report).await?;
            lag_check = serde_json::json!({ "source": probe.source(), "reading": reading.shown });
        } else if source.is_some() && self.force {
            (here.report)(Progress::Output(format!(
                "warning: `force: true`: promoting `{id}` without checking its lag"
            )));
            lag_check = serde_json::json!("skipped (force)");
        }
        match &source {
            Some(source) => {
                api.promote(id).await.with_context(|| {
                    format!("failed to promote `{id}` (a read replica of `{source}`)")
                })?;
            }
            None => (here.report)(Progress::Status(format!(
                "instance `{id}` is not a read replica (promoted earlier?): not promoting"
            ))),
        }
        if !self.wait {
            return Ok(
                serde_json::json!({ "instance": id, "promoted_from": source, "lag_check": lag_check }),
            );
        }
        let unchanged = Cell::new(0u32);
        let lingering = Cell::new(None::<String>);
        let what = format!("instance `{id}`");
        let after = poll::until(&what, Poll::within(self.timeout.0), here.report, || async {
            let Some(now) = api.instance(id).await? else {
                bail!("instance `{id}` does not exist");
            };
            if now.status != "available" {
                unchanged.set(0);
                return Ok(Check::Pending(format!("{} (promoting)", now.status)));
            }
            let Some(still) = &now.replica_source else {
                return Ok(Check::Done(now));
            };
            unchanged.set(unchanged.get() + 1);
            if !called || unchanged.get() >= SETTLE_POLLS {
                lingering.set(Some(still.clone()));
                return Ok(Check::Done(now));
            }
            Ok(Check::Pending(
                "available, promotion not visible yet".into(),
            ))
        })
        .await?;
        if let Some(still) = lingering.take() {
            (here.report)(Progress::Output(format!(
                "warning: RDS still lists `{id}` as a replica of `{still}` while it is available"
            )));
        }
        Ok(serde_json::json!({
            "instance": id,
            "promoted_from": source,
            "status": after.status,
            "lag_check": lag_check,
        }))
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "rds.promote",
    RdsPromote,
    "promote an RDS read replica to a standalone instance and wait until it is available"
);

#[async_trait(?Send)]
impl Action for RdsPromote {
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
        let check = if self.force {
            "without a lag check (force)".to_string()
        } else {
            format!(
                "once {} shows it caught up (at most {})",
                match &self.sql_url {
                    Some(url) => format!("replay on {}", crate::redact::redact_urls(url)),
                    None => "CloudWatch ReplicaLag".into(),
                },
                format_duration(self.lag_timeout.0)
            )
        };
        format!(
            "promote RDS read replica `{}` to a standalone instance {check}{}",
            self.instance,
            waiting(self.wait, self.timeout)
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let api = super::sdk::SdkRds::connect(&self.aws()).await?;
        let data = if self.force {
            self.run(&api, None, &Here::of(cx)).await?
        } else if let Some(url) = &self.sql_url {
            let probe = SqlLag { url: url.clone() };
            self.run(&api, Some(&probe), &Here::of(cx)).await?
        } else {
            let metrics = SdkMetrics::connect(&self.aws()).await?;
            let probe = CloudWatchLag {
                metrics: &metrics,
                instance: self.instance.clone(),
            };
            self.run(&api, Some(&probe), &Here::of(cx)).await?
        };
        Ok(Applied {
            data,
            ..Applied::default()
        })
    }

    // Finds what an earlier attempt of this run did (by id and the `cutover:run` tag) and goes on.
    fn idempotent(&self) -> bool {
        true
    }

    // No inverse: a promoted replica cannot be made a replica again (see the doc page).
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}
