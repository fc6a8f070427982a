//! `mysql.drop_reverse_replication`: stop and remove the channel
//! `mysql.reverse_replicate` set up on the old primary (its implied
//! rollback, and the end of a go-back). Only a channel that replicates from
//! the new primary is removed; the old primary's `read_only` is not touched.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::channel::{channel_name, Dialect};
use super::connect::{label, Endpoint};
use super::drop_replication::DropReplication;
use super::replicate::{address, sender_address};
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};

/// Note keys `mysql.reverse_replicate` journals before it creates the channel.
pub const NOTE_CHANNEL: &str = "made_reverse_channel";
pub const NOTE_ADDRESS: &str = "reverse_channel_address";

pub fn default_reverse_channel() -> String {
    "cutover_reverse".to_string()
}

/// Parameters of `mysql.drop_reverse_replication`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DropReverseReplication {
    /// The cutover's source (the old primary, where the channel is).
    pub source: String,
    /// The cutover's target (the new primary, which the channel reads).
    pub target: String,
    /// The replication channel (default `cutover_reverse`).
    #[serde(default = "default_reverse_channel", deserialize_with = "channel_name")]
    pub channel: String,
    /// `host:port` of the target as the source server reaches it (default: the target URL's).
    #[serde(default, deserialize_with = "address")]
    pub target_address: Option<String>,
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "mysql.drop_reverse_replication",
    DropReverseReplication,
    "stop and remove the reverse replication of mysql.reverse_replicate; the old primary's read_only is left as it is"
);

impl DropReverseReplication {
    /// The channel to drop and the address it must replicate from: what the
    /// reverse step noted when it is the undo of one, else the parameters.
    fn doomed(&self, cx: &StepContext<'_>) -> anyhow::Result<(String, String)> {
        let noted = |key: &str| cx.recall(key).and_then(|v| v.as_str()).map(str::to_string);
        if let (Some(channel), Some(address)) = (noted(NOTE_CHANNEL), noted(NOTE_ADDRESS)) {
            return Ok((channel, address));
        }
        let new = Endpoint::parse(&self.target)?;
        let (host, port) = sender_address(&new, self.target_address.as_deref())?;
        Ok((self.channel.clone(), format!("{host}:{port}")))
    }
}

#[async_trait(?Send)]
impl Action for DropReverseReplication {
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
            "stop and remove reverse replication channel `{}` on {} (from {}); its read_only is left as it is",
            self.channel,
            label(&self.source),
            label(&self.target)
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let (channel, expected) = self.doomed(cx)?;
        let old = Endpoint::parse(&self.source)?;
        let mut conn = old.without_db().connect().await?;
        let dialect = Dialect::detect(&mut conn, &old).await?;
        if let Some(status) = dialect.status(&mut conn, &old, &channel).await? {
            let from = format!("{}:{}", status.host, status.port);
            if from != expected {
                // Not the one the reverse step made: someone else's to keep.
                cx.report(Progress::Status(format!(
                    "channel `{channel}` on {} replicates from {from}, not from the target at {expected}: left alone",
                    old.label()
                )));
                return Ok(Applied {
                    data: serde_json::json!({ "dropped": null, "left_alone": channel, "from": from }),
                    ..Applied::default()
                });
            }
        }
        drop(conn);
        // The same stop and reset as the forward drop, on the old server.
        let forward = DropReplication {
            source: self.target.clone(),
            target: self.source.clone(),
            channel,
        };
        Ok(forward.apply(cx).await?)
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
