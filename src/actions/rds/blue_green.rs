//! `rds.blue_green`: create an RDS Blue/Green deployment of an instance (a
//! green copy kept in sync, with a new engine version, class or parameter
//! group) and wait until it is `AVAILABLE`, showing each of its tasks. The
//! green instance is tagged with the run as soon as it appears (green
//! instances copy the source's tags, so the run's tag is what tells them
//! apart). Its implied rollback deletes the deployment and that green
//! instance, only those.

use std::sync::Arc;

use anyhow::{bail, Context};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::api::{RdsApi, RUN_TAG};
use super::aws::{aws_fields, run_tags, Here};
use super::blue_green_api::{instance_of, wait_for, BlueGreenApi, CreateRequest};
use super::blue_green_delete::RdsBlueGreenDelete;
use super::poll::two_hours;
use super::sdk::SdkRds;
use crate::actions::{
    descriptor, Action, ActionFailure, ActionRef, Applied, Descriptor, Progress, StepContext,
};
use crate::duration::{format_duration, DurationText};

/// Parameters of `rds.blue_green`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RdsBlueGreen {
    /// The deployment's name.
    pub name: String,
    /// The blue side: the instance's identifier or ARN.
    pub source: String,
    /// The green side's engine version (an upgrade).
    #[serde(default)]
    pub target_engine_version: Option<String>,
    /// The green side's instance class (a scale-up).
    #[serde(default)]
    pub target_class: Option<String>,
    /// The green side's DB parameter group.
    #[serde(default)]
    pub target_parameter_group: Option<String>,
    /// Longest wait for `AVAILABLE`.
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

aws_fields!(RdsBlueGreen);

impl RdsBlueGreen {
    pub fn undo(&self) -> RdsBlueGreenDelete {
        RdsBlueGreenDelete {
            name: self.name.clone(),
            delete_old: false,
            undo: true,
            timeout: two_hours(),
            region: self.region.clone(),
            profile: self.profile.clone(),
            endpoint_url: self.endpoint_url.clone(),
        }
    }

    pub async fn run<A: RdsApi + BlueGreenApi>(
        &self,
        api: &A,
        here: &Here<'_>,
    ) -> anyhow::Result<serde_json::Value> {
        let tags = run_tags(here.run, here.step);
        let created = match api.deployment(&self.name).await? {
            Some(d) if d.tags.get(RUN_TAG).map(String::as_str) == Some(here.run) => {
                (here.report)(Progress::Status(format!(
                    "Blue/Green `{}` was created earlier in this run: waiting for it",
                    self.name
                )));
                false
            }
            Some(d) => bail!(
                "a Blue/Green deployment `{}` already exists ({}, {}) and this run did not create it; choose another `name`",
                self.name,
                d.id,
                d.status
            ),
            None => {
                let source_arn = if self.source.starts_with("arn:") {
                    self.source.clone()
                } else {
                    match api.instance(&self.source).await? {
                        Some(i) if !i.arn.is_empty() => i.arn,
                        Some(_) => bail!("RDS gave no ARN for instance `{}`", self.source),
                        None => bail!("instance `{}` does not exist", self.source),
                    }
                };
                let request = CreateRequest {
                    name: self.name.clone(),
                    source_arn,
                    engine_version: self.target_engine_version.clone(),
                    class: self.target_class.clone(),
                    parameter_group: self.target_parameter_group.clone(),
                    tags: tags.clone(),
                };
                api.create_deployment(&request).await.with_context(|| {
                    format!("failed to create the Blue/Green deployment `{}`", self.name)
                })?;
                true
            }
        };
        let d = wait_for(
            api,
            &self.name,
            "AVAILABLE",
            self.timeout.0,
            here.report,
            Some(&tags),
        )
        .await?;
        let green = d.target.as_deref().map(instance_of).unwrap_or_default();
        (here.report)(Progress::Status(format!(
            "Blue/Green `{}` available: blue `{}`, green `{green}`",
            self.name,
            instance_of(&d.source)
        )));
        Ok(serde_json::json!({
            "deployment": d.id,
            "name": self.name,
            "created": created,
            "blue": instance_of(&d.source),
            "green": green,
            "status": d.status,
        }))
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "rds.blue_green",
    RdsBlueGreen,
    "create an RDS Blue/Green deployment and wait until it is available; rolled back by deleting it and its green instance"
);

#[async_trait(?Send)]
impl Action for RdsBlueGreen {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn endpoints(&self) -> Vec<String> {
        vec![
            crate::actions::shared::endpoint::aws("rds-blue-green", &self.name),
            crate::actions::shared::endpoint::aws("rds-instance", &self.source),
        ]
    }

    fn describe(&self) -> String {
        let mut changes = Vec::new();
        if let Some(v) = &self.target_engine_version {
            changes.push(format!("engine {v}"));
        }
        if let Some(c) = &self.target_class {
            changes.push(format!("class {c}"));
        }
        if let Some(p) = &self.target_parameter_group {
            changes.push(format!("parameters {p}"));
        }
        format!(
            "create Blue/Green deployment `{}` of `{}`{}, wait until available (at most {})",
            self.name,
            self.source,
            if changes.is_empty() {
                String::new()
            } else {
                format!(" ({})", changes.join(", "))
            },
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

    fn inverse(&self) -> Option<ActionRef> {
        Some(Arc::new(self.undo()))
    }

    // Finds the deployment an earlier attempt of this run made (its tag) and waits for it.
    fn idempotent(&self) -> bool {
        true
    }

    // A deployment whose wait failed is left behind; the undo deletes it and
    // its green instance only if this run made them.
    fn undoes_partial_failure(&self) -> bool {
        true
    }
}
