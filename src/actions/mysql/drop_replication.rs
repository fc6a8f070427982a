//! `mysql.drop_replication`: stop and reset the replication channel
//! `mysql.replicate` set up; its implied rollback.

use anyhow::Context;
use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use schemars::JsonSchema;
use serde::Deserialize;

use super::channel::{channel_name, default_channel, failed, Dialect};
use super::connect::{label, Endpoint};
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};

/// Parameters of `mysql.drop_replication`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DropReplication {
    /// The source.
    pub source: String,
    /// The target, where the channel is.
    pub target: String,
    /// The replication channel (default `cutover`).
    #[serde(default = "default_channel", deserialize_with = "channel_name")]
    pub channel: String,
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "mysql.drop_replication",
    DropReplication,
    "stop and reset the replication mysql.replicate set up"
);

#[async_trait(?Send)]
impl Action for DropReplication {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn endpoints(&self) -> Vec<String> {
        vec![
            crate::actions::shared::endpoint::database(&self.source),
            crate::actions::shared::endpoint::database(&self.target),
        ]
    }

    fn describe(&self) -> String {
        format!(
            "stop and remove replication channel `{}` on {} (from {})",
            self.channel,
            label(&self.target),
            label(&self.source)
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let target = Endpoint::parse(&self.target)?;
        let mut dst = target.without_db().connect().await?;
        let dialect = Dialect::detect(&mut dst, &target).await?;
        let Some(status) = dialect.status(&mut dst, &target, &self.channel).await? else {
            cx.report(Progress::Status("nothing to drop".into()));
            return Ok(Applied {
                data: serde_json::json!({ "dropped": null }),
                ..Applied::default()
            });
        };
        for sql in [
            dialect.stop(&self.channel),
            dialect.reset_all(&self.channel),
        ] {
            dst.query_drop(&sql)
                .await
                .map_err(failed(&target))
                .with_context(|| format!("failed to run `{sql}`"))?;
        }
        cx.report(Progress::Status(format!(
            "dropped channel {} (replicated from {}:{})",
            self.channel, status.host, status.port
        )));
        Ok(Applied {
            data: serde_json::json!({
                "dropped": self.channel,
                "from": format!("{}:{}", status.host, status.port),
            }),
            ..Applied::default()
        })
    }

    // Drops only a channel that is still there.
    fn idempotent(&self) -> bool {
        true
    }

    // No inverse: a half-done drop is finished by running it again.
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}
