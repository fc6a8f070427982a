//! `postgres.drop_replication`: drop the subscription (and its slot) and the
//! publication `postgres.replicate` made; the implied rollback of it.

use anyhow::Context;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::catalog::exists;
use super::connect::{label, pg, quote_ident, Endpoint};
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};

/// Parameters of `postgres.drop_replication`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DropReplication {
    /// The publisher.
    pub source: String,
    /// The subscriber.
    pub target: String,
    #[serde(default = "default_name")]
    pub publication: String,
    #[serde(default = "default_name")]
    pub subscription: String,
}

fn default_name() -> String {
    "cutover".to_string()
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "postgres.drop_replication",
    DropReplication,
    "drop the subscription (and its slot) and the publication of postgres.replicate"
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
            "drop subscription `{}` on {} and publication `{}` on {}",
            self.subscription,
            label(&self.target),
            self.publication,
            label(&self.source)
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let source = Endpoint::parse(&self.source)?;
        let target = Endpoint::parse(&self.target)?;
        let dst = target.connect().await?;
        let sub = quote_ident(&self.subscription);
        let mut dropped = Vec::new();
        if exists(&dst, "pg_subscription", "subname", &self.subscription).await? {
            // DROP SUBSCRIPTION also drops the slot on the publisher; when the
            // publisher is unreachable, detach the slot and drop it below.
            if let Err(error) = dst.batch_execute(&format!("DROP SUBSCRIPTION {sub}")).await {
                cx.report(Progress::Status(format!(
                    "could not drop the subscription with its slot ({}); detaching the slot",
                    super::connect::describe(&error)
                )));
                dst.batch_execute(&format!(
                    "ALTER SUBSCRIPTION {sub} DISABLE; ALTER SUBSCRIPTION {sub} SET (slot_name = NONE); DROP SUBSCRIPTION {sub}"
                ))
                .await
                .map_err(pg)
                .context("failed to drop the subscription")?;
            }
            dropped.push(format!("subscription {}", self.subscription));
        }
        let src = source.connect().await?;
        if exists(&src, "pg_publication", "pubname", &self.publication).await? {
            src.batch_execute(&format!(
                "DROP PUBLICATION {}",
                quote_ident(&self.publication)
            ))
            .await
            .map_err(pg)
            .context("failed to drop the publication")?;
            dropped.push(format!("publication {}", self.publication));
        }
        let slot = src
            .query(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active",
                &[&self.subscription],
            )
            .await
            .map_err(pg)
            .context("failed to drop the replication slot")?;
        if !slot.is_empty() {
            dropped.push(format!("slot {}", self.subscription));
        }
        cx.report(Progress::Status(if dropped.is_empty() {
            "nothing to drop".to_string()
        } else {
            format!("dropped {}", dropped.join(", "))
        }));
        Ok(Applied {
            data: serde_json::json!({ "dropped": dropped }),
            ..Applied::default()
        })
    }

    // Drops only what is still there.
    fn idempotent(&self) -> bool {
        true
    }
}
