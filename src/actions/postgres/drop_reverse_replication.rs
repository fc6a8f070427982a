//! `postgres.drop_reverse_replication`: drop the reverse replication of
//! `postgres.reverse_replicate` (its implied rollback); the old primary stays
//! frozen, and the apply worker's exemption from the freeze ends.

use anyhow::Context;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::connect::{label, pg, quote_ident, Endpoint};
use super::drop_replication::DropReplication;
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};

/// Parameters of `postgres.drop_reverse_replication`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DropReverseReplication {
    /// The cutover's source (the old primary, the subscriber here).
    pub source: String,
    /// The cutover's target (the new primary, the publisher here).
    pub target: String,
    #[serde(default = "default_name")]
    pub publication: String,
    #[serde(default = "default_name")]
    pub subscription: String,
}

fn default_name() -> String {
    "cutover_reverse".to_string()
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "postgres.drop_reverse_replication",
    DropReverseReplication,
    "drop the reverse replication of postgres.reverse_replicate; the old primary stays frozen"
);

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
            "drop reverse replication: subscription `{}` on {}, publication `{}` on {}; {} stays frozen",
            self.subscription,
            label(&self.source),
            self.publication,
            label(&self.target),
            label(&self.source)
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let drop = DropReplication {
            source: self.target.clone(),
            target: self.source.clone(),
            publication: self.publication.clone(),
            subscription: self.subscription.clone(),
        };
        let mut applied = drop.apply(cx).await?;
        let old = Endpoint::parse(&self.source)?;
        let old_db = old.connect().await?;
        let exempt = old_db
            .query_opt(
                "SELECT 1 FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase,
                        unnest(s.setconfig) cfg
                 WHERE d.datname = current_database()
                   AND s.setrole = (SELECT oid FROM pg_roles WHERE rolname = current_user)
                   AND cfg LIKE 'default\\_transaction\\_read\\_only=%'",
                &[],
            )
            .await
            .map_err(pg)?
            .is_some();
        if exempt {
            old_db
                .batch_execute(&format!(
                    "ALTER ROLE CURRENT_USER IN DATABASE {} RESET default_transaction_read_only",
                    quote_ident(old.dbname())
                ))
                .await
                .map_err(pg)
                .context("failed to end the apply worker's exemption from the freeze")?;
            cx.report(Progress::Status(format!(
                "{} read-only by default again for every role",
                old.label()
            )));
        }
        applied.data["exemption_removed"] = serde_json::json!(exempt);
        Ok(applied)
    }

    // Drops only what is still there.
    fn idempotent(&self) -> bool {
        true
    }

    // No inverse: a half-done drop is finished by running it again.
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}
