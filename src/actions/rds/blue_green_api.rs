//! RDS Blue/Green deployments: the calls the `rds.blue_green*` actions use,
//! behind `BlueGreenApi` (the real one over aws-sdk-rds, a fake in the unit
//! tests), and the waits they share.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::bail;
use aws_sdk_rds::types::{BlueGreenDeployment, Filter};

use super::api::RdsResult;
use super::sdk::{not_found, tag_map, tags, SdkRds};
use crate::actions::shared::aws::{sdk_error, AwsError};
use crate::actions::Progress;

/// What the actions need to know of a deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deployment {
    pub id: String,
    pub name: String,
    /// `PROVISIONING`, `AVAILABLE`, `SWITCHOVER_IN_PROGRESS`,
    /// `SWITCHOVER_COMPLETED`, `SWITCHOVER_FAILED`, `INVALID_CONFIGURATION`,
    /// `PROVISIONING_FAILED`, `DELETING` …
    pub status: String,
    /// RDS's own words on the status (why a switchover failed).
    pub details: String,
    /// The blue side (the source): an instance ARN.
    pub source: String,
    /// The green side, once RDS has made it.
    pub target: Option<String>,
    /// (task, status), as RDS lists them.
    pub tasks: Vec<(String, String)>,
    pub tags: BTreeMap<String, String>,
}

/// CreateBlueGreenDeployment's parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateRequest {
    pub name: String,
    pub source_arn: String,
    pub engine_version: Option<String>,
    pub class: Option<String>,
    pub parameter_group: Option<String>,
    pub tags: BTreeMap<String, String>,
}

#[allow(async_fn_in_trait)]
pub trait BlueGreenApi {
    /// DescribeBlueGreenDeployments by name; `None` when there is none.
    async fn deployment(&self, name: &str) -> RdsResult<Option<Deployment>>;
    async fn create_deployment(&self, request: &CreateRequest) -> RdsResult<Deployment>;
    async fn switchover(&self, id: &str, timeout: Duration) -> RdsResult<()>;
    async fn delete_deployment(&self, id: &str, delete_target: bool) -> RdsResult<()>;
    /// AddTagsToResource.
    async fn tag(&self, arn: &str, tags: &BTreeMap<String, String>) -> RdsResult<()>;
}

/// `db-id` of `arn:aws:rds:REGION:ACCOUNT:db:db-id`.
pub fn instance_of(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

fn deployment(d: &BlueGreenDeployment) -> Deployment {
    Deployment {
        id: d
            .blue_green_deployment_identifier()
            .unwrap_or("")
            .to_string(),
        name: d.blue_green_deployment_name().unwrap_or("").to_string(),
        status: d.status().unwrap_or("").to_string(),
        details: d.status_details().unwrap_or("").to_string(),
        source: d.source().unwrap_or("").to_string(),
        target: d.target().filter(|t| !t.is_empty()).map(str::to_string),
        tasks: d
            .tasks()
            .iter()
            .map(|t| {
                (
                    t.name().unwrap_or("").to_string(),
                    t.status().unwrap_or("").to_string(),
                )
            })
            .collect(),
        tags: tag_map(d.tag_list()),
    }
}

fn missing(what: &str) -> AwsError {
    AwsError::new("ResponseError", format!("RDS answered without the {what}"))
}

impl BlueGreenApi for SdkRds {
    async fn deployment(&self, name: &str) -> RdsResult<Option<Deployment>> {
        let filter = Filter::builder()
            .name("blue-green-deployment-name")
            .values(name)
            .build();
        let answer = self
            .client
            .describe_blue_green_deployments()
            .filters(filter)
            .send()
            .await
            .map_err(sdk_error);
        match answer {
            Ok(out) => Ok(out
                .blue_green_deployments()
                .iter()
                .map(deployment)
                .find(|d| d.name == name)),
            Err(e) if not_found(&e, "BlueGreenDeploymentNotFound") => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn create_deployment(&self, request: &CreateRequest) -> RdsResult<Deployment> {
        let out = self
            .client
            .create_blue_green_deployment()
            .blue_green_deployment_name(&request.name)
            .source(&request.source_arn)
            .set_target_engine_version(request.engine_version.clone())
            .set_target_db_instance_class(request.class.clone())
            .set_target_db_parameter_group_name(request.parameter_group.clone())
            .set_tags(tags(&request.tags))
            .send()
            .await
            .map_err(sdk_error)?;
        out.blue_green_deployment()
            .map(deployment)
            .ok_or_else(|| missing("deployment"))
    }

    async fn switchover(&self, id: &str, timeout: Duration) -> RdsResult<()> {
        self.client
            .switchover_blue_green_deployment()
            .blue_green_deployment_identifier(id)
            .switchover_timeout(timeout.as_secs().clamp(30, 3600) as i32)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn delete_deployment(&self, id: &str, delete_target: bool) -> RdsResult<()> {
        let answer = self
            .client
            .delete_blue_green_deployment()
            .blue_green_deployment_identifier(id)
            .delete_target(delete_target)
            .send()
            .await
            .map_err(sdk_error);
        match answer {
            Ok(_) => Ok(()),
            Err(e) if not_found(&e, "BlueGreenDeploymentNotFound") => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn tag(&self, arn: &str, tags_to_add: &BTreeMap<String, String>) -> RdsResult<()> {
        self.client
            .add_tags_to_resource()
            .resource_name(arn)
            .set_tags(tags(tags_to_add))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }
}

/// `CREATING_READ_REPLICA_OF_SOURCE: COMPLETED, CONFIGURE_BACKUPS: IN_PROGRESS`.
pub fn show_tasks(d: &Deployment) -> String {
    if d.tasks.is_empty() {
        return "no task yet".into();
    }
    d.tasks
        .iter()
        .map(|(name, status)| format!("{name}: {status}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Waits until the deployment `name` has status `wanted`; fails on a status
/// RDS gives up in. With `tag_green`, the green instance gets those tags as
/// soon as RDS names it: green instances copy the source's tags, so only
/// this tells the run's own from the rest.
pub async fn wait_for<A: BlueGreenApi>(
    api: &A,
    name: &str,
    wanted: &str,
    timeout: Duration,
    report: &dyn Fn(Progress),
    tag_green: Option<&BTreeMap<String, String>>,
) -> anyhow::Result<Deployment> {
    let started = tokio::time::Instant::now();
    let mut last = String::new();
    let mut tagged = false;
    loop {
        let Some(d) = api.deployment(name).await? else {
            bail!("the Blue/Green deployment `{name}` is gone");
        };
        if let (Some(tags), Some(green), false) = (tag_green, &d.target, tagged) {
            api.tag(green, tags).await?;
            report(Progress::Output(format!(
                "green instance `{}` tagged with the run",
                instance_of(green)
            )));
            tagged = true;
        }
        let shown = format!("{}: {}", d.status, show_tasks(&d));
        if shown != last {
            report(Progress::Status(format!("Blue/Green `{name}` {shown}")));
            last = shown;
        }
        if d.status == wanted {
            return Ok(d);
        }
        if matches!(
            d.status.as_str(),
            "INVALID_CONFIGURATION" | "PROVISIONING_FAILED" | "SWITCHOVER_FAILED"
        ) {
            bail!(
                "the Blue/Green deployment `{name}` is {}: {}",
                d.status,
                if d.details.is_empty() {
                    "RDS gives no reason".to_string()
                } else {
                    d.details.clone()
                }
            );
        }
        if started.elapsed() >= timeout {
            bail!(
                "the Blue/Green deployment `{name}` is still {} after {} (waiting for {wanted}; {})",
                d.status,
                crate::duration::format_duration(timeout),
                show_tasks(&d)
            );
        }
        tokio::time::sleep(Duration::from_secs(5).min(timeout / 10 + Duration::from_millis(50)))
            .await;
    }
}
