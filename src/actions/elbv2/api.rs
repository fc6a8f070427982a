//! `Elbv2Api`: the four ELBv2 calls `elbv2.swap` uses — find a target group,
//! register, deregister, and read its targets' health — behind a trait so the
//! waiting is tested with a fake; `SdkElbv2` is the real one over
//! aws-sdk-elasticloadbalancingv2.

use std::fmt;

use aws_sdk_elasticloadbalancingv2::types::TargetDescription;

use crate::actions::shared::aws::{sdk_error, AwsError, AwsTarget};

/// A target: an instance id, an IP address or a Lambda ARN, and a port
/// (`None`: the target group's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub id: String,
    pub port: Option<i32>,
}

impl Target {
    /// `i-0abc`, `10.0.1.5:5432`; a Lambda ARN's colons are part of its id.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("a target is an id, or id:port".into());
        }
        match text.rsplit_once(':') {
            Some((id, port)) if !id.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => {
                let port: i32 = port
                    .parse()
                    .ok()
                    .filter(|p| (1..=65535).contains(p))
                    .ok_or_else(|| format!("target `{text}`: the port is 1 to 65535"))?;
                Ok(Self {
                    id: id.to_string(),
                    port: Some(port),
                })
            }
            _ => Ok(Self {
                id: text.to_string(),
                port: None,
            }),
        }
    }

    /// This target, as the target group reports one (which always has a port).
    pub fn is(&self, id: &str, port: Option<i32>) -> bool {
        self.id == id && (self.port.is_none() || self.port == port)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.id),
            None => write!(f, "{}", self.id),
        }
    }
}

/// One target as DescribeTargetHealth reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub id: String,
    pub port: Option<i32>,
    /// `initial`, `healthy`, `unhealthy`, `unused`, `draining`, `unavailable` …
    pub state: String,
    /// `Target.FailedHealthChecks`, `Target.NotRegistered` …
    pub reason: Option<String>,
    pub description: Option<String>,
}

/// The ELBv2 calls `elbv2.swap` uses, nothing more.
#[allow(async_fn_in_trait)]
pub trait Elbv2Api {
    /// The ARN of a target group given by ARN or by name.
    async fn target_group_arn(&self, name_or_arn: &str) -> Result<String, AwsError>;
    async fn register(&self, arn: &str, targets: &[Target]) -> Result<(), AwsError>;
    async fn deregister(&self, arn: &str, targets: &[Target]) -> Result<(), AwsError>;
    /// Every target the group has, with its health.
    async fn health(&self, arn: &str) -> Result<Vec<Health>, AwsError>;
}

pub struct SdkElbv2 {
    client: aws_sdk_elasticloadbalancingv2::Client,
}

impl SdkElbv2 {
    pub async fn connect(aws: &AwsTarget) -> anyhow::Result<Self> {
        let config = aws.sdk_config().await?;
        Ok(Self {
            client: aws_sdk_elasticloadbalancingv2::Client::new(&config),
        })
    }
}

fn descriptions(targets: &[Target]) -> Vec<TargetDescription> {
    targets
        .iter()
        .map(|t| {
            TargetDescription::builder()
                .id(&t.id)
                .set_port(t.port)
                .build()
        })
        .collect()
}

impl Elbv2Api for SdkElbv2 {
    async fn target_group_arn(&self, name_or_arn: &str) -> Result<String, AwsError> {
        if name_or_arn.starts_with("arn:") {
            return Ok(name_or_arn.to_string());
        }
        let reply = self
            .client
            .describe_target_groups()
            .names(name_or_arn)
            .send()
            .await
            .map_err(sdk_error)?;
        reply
            .target_groups()
            .first()
            .and_then(|g| g.target_group_arn())
            .map(str::to_string)
            .ok_or_else(|| {
                AwsError::new(
                    "TargetGroupNotFound",
                    format!("no target group is named `{name_or_arn}`"),
                )
            })
    }

    async fn register(&self, arn: &str, targets: &[Target]) -> Result<(), AwsError> {
        self.client
            .register_targets()
            .target_group_arn(arn)
            .set_targets(Some(descriptions(targets)))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn deregister(&self, arn: &str, targets: &[Target]) -> Result<(), AwsError> {
        self.client
            .deregister_targets()
            .target_group_arn(arn)
            .set_targets(Some(descriptions(targets)))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn health(&self, arn: &str) -> Result<Vec<Health>, AwsError> {
        let reply = self
            .client
            .describe_target_health()
            .target_group_arn(arn)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(reply
            .target_health_descriptions()
            .iter()
            .filter_map(|d| {
                let target = d.target()?;
                let health = d.target_health();
                Some(Health {
                    id: target.id()?.to_string(),
                    port: target.port(),
                    state: health
                        .and_then(|h| h.state())
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    reason: health
                        .and_then(|h| h.reason())
                        .map(|r| r.as_str().to_string()),
                    description: health.and_then(|h| h.description()).map(str::to_string),
                })
            })
            .collect())
    }
}
