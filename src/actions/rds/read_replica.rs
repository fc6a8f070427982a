//! `rds.read_replica`: CreateDBInstanceReadReplica, wait until `available`;
//! its implied rollback deletes the replica (`rds.delete_instance`).

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::api::{RdsApi, ReplicaRequest};
use super::aws::{aws_fields, instance_to_create, run_tags, Here};
use super::delete_instance::RdsDeleteInstance;
use super::poll::{self, Poll};
use super::poll::{two_hours, waiting, yes};
use crate::actions::{
    descriptor, Action, ActionFailure, ActionRef, Applied, Descriptor, StepContext,
};
use crate::duration::DurationText;

/// Parameters of `rds.read_replica`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RdsReadReplica {
    /// The DB instance to replicate.
    pub source: String,
    /// The new replica's id.
    pub instance: String,
    /// The replica's class; by default the source's.
    #[serde(default)]
    pub class: Option<String>,
    /// Wait until the replica is `available`.
    #[serde(default = "yes")]
    pub wait: bool,
    /// Longest wait for `available`.
    #[serde(default = "two_hours", deserialize_with = "crate::duration::positive")]
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

aws_fields!(RdsReadReplica);

impl RdsReadReplica {
    /// Deletes the replica (only if this run created it).
    pub fn undo(&self) -> RdsDeleteInstance {
        RdsDeleteInstance {
            instance: self.instance.clone(),
            final_snapshot: None,
            only_created_by_run: true,
            wait: true,
            timeout: two_hours(),
            region: self.region.clone(),
            profile: self.profile.clone(),
            endpoint_url: self.endpoint_url.clone(),
        }
    }

    pub async fn run<A: RdsApi>(
        &self,
        api: &A,
        here: &Here<'_>,
    ) -> anyhow::Result<serde_json::Value> {
        let id = &self.instance;
        let again = format!("replica `{id}` was created earlier in this run: not creating another");
        let created = instance_to_create(api, id, here, &again).await?;
        if created {
            let request = ReplicaRequest {
                source: self.source.clone(),
                instance: id.clone(),
                class: self.class.clone(),
                tags: run_tags(here.run, here.step),
            };
            api.create_replica(&request).await.with_context(|| {
                format!("failed to create read replica `{id}` of `{}`", self.source)
            })?;
        }
        let status = if self.wait {
            poll::instance(
                api,
                id,
                "available",
                Poll::within(self.timeout.0),
                here.report,
            )
            .await?
            .map(|i| i.status)
        } else {
            None
        };
        Ok(serde_json::json!({
            "instance": id,
            "source": self.source,
            "created": created,
            "status": status,
        }))
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "rds.read_replica",
    RdsReadReplica,
    "create an RDS read replica and wait until it is available; rolled back by deleting it"
);

#[async_trait(?Send)]
impl Action for RdsReadReplica {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn endpoints(&self) -> Vec<String> {
        vec![
            crate::actions::shared::endpoint::aws("rds-instance", &self.source),
            crate::actions::shared::endpoint::aws("rds-instance", &self.instance),
        ]
    }

    fn describe(&self) -> String {
        let class = self
            .class
            .as_deref()
            .map(|c| format!(" as {c}"))
            .unwrap_or_default();
        format!(
            "create RDS read replica `{}` of `{}`{class}{}",
            self.instance,
            self.source,
            waiting(self.wait, self.timeout)
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

    fn inverse(&self) -> Option<ActionRef> {
        Some(Arc::new(self.undo()))
    }

    // Finds what an earlier attempt of this run did (by id and the `cutover:run` tag) and goes on.
    fn idempotent(&self) -> bool {
        true
    }

    // A replica whose wait failed has left an instance behind; the inverse deletes only
    // what this run created, and finds nothing when the call never went through.
    fn undoes_partial_failure(&self) -> bool {
        true
    }
}
