//! `Route53Api`: the three Route 53 calls `route53.swap` uses — read one
//! record set, change it, ask whether a change is `INSYNC` — behind a trait so
//! the waiting is tested with a fake; `SdkRoute53` is the real one over
//! aws-sdk-route53. `RecordSet` is the journaled form of a record set: what
//! the rollback puts back, field for field.

use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord,
    ResourceRecordSet, ResourceRecordSetFailover, ResourceRecordSetRegion, RrType,
};
use serde::{Deserialize, Serialize};

use crate::actions::shared::aws::{sdk_error, AwsError, AwsTarget};

/// An alias to an AWS resource (a load balancer, CloudFront, another record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alias {
    pub dns_name: String,
    pub zone_id: String,
    pub evaluate_target_health: bool,
}

/// One record set, with every field Route 53 uses to identify and answer it
/// that cutover can put back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordSet {
    pub name: String,
    #[serde(rename = "type")]
    pub record_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_value_answer: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<Alias>,
}

/// `db.example.com.` and `DB.example.com` are one name; Route 53 writes `*`
/// as `\052`.
pub fn same_name(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.trim_end_matches('.')
            .replace("\\052", "*")
            .to_ascii_lowercase()
    };
    norm(a) == norm(b)
}

/// `Z123` from `/hostedzone/Z123` or `Z123`.
pub fn zone(id: &str) -> &str {
    id.trim_start_matches("/hostedzone/")
}

/// Create or replace, or delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Upsert,
    Delete,
}

/// The Route 53 calls `route53.swap` uses, nothing more.
#[allow(async_fn_in_trait)]
pub trait Route53Api {
    /// The record set of that name, type and set identifier, if there is one.
    async fn record(
        &self,
        zone_id: &str,
        name: &str,
        record_type: &str,
        set_identifier: Option<&str>,
    ) -> Result<Option<RecordSet>, AwsError>;
    /// ChangeResourceRecordSets with one change: the change's id.
    async fn change(&self, zone_id: &str, op: Op, set: &RecordSet) -> Result<String, AwsError>;
    /// GetChange: `PENDING` or `INSYNC`.
    async fn change_status(&self, change_id: &str) -> Result<String, AwsError>;
}

pub struct SdkRoute53 {
    client: aws_sdk_route53::Client,
}

impl SdkRoute53 {
    pub async fn connect(aws: &AwsTarget) -> anyhow::Result<Self> {
        let config = aws.sdk_config().await?;
        Ok(Self {
            client: aws_sdk_route53::Client::new(&config),
        })
    }
}

fn build_error(error: impl std::fmt::Display) -> AwsError {
    AwsError::new("InvalidRecordSet", error.to_string())
}

/// What `RecordSet` cannot carry: a record set with one of these is refused
/// rather than put back without it.
fn unsupported(set: &ResourceRecordSet) -> Option<&'static str> {
    if set.geo_location().is_some() {
        Some("geolocation routing")
    } else if set.geo_proximity_location().is_some() {
        Some("geoproximity routing")
    } else if set.cidr_routing_config().is_some() {
        Some("IP-based (CIDR) routing")
    } else if set.traffic_policy_instance_id().is_some() {
        Some("a traffic policy")
    } else {
        None
    }
}

fn from_sdk(set: &ResourceRecordSet) -> Result<RecordSet, AwsError> {
    if let Some(what) = unsupported(set) {
        return Err(AwsError::new(
            "Unsupported",
            format!(
                "record set `{}` {} uses {what}, which route53.swap cannot put back exactly; change it by hand",
                set.name(),
                set.r#type().as_str()
            ),
        ));
    }
    let alias = set.alias_target().map(|a| Alias {
        dns_name: a.dns_name().to_string(),
        zone_id: a.hosted_zone_id().to_string(),
        evaluate_target_health: a.evaluate_target_health(),
    });
    Ok(RecordSet {
        name: set.name().to_string(),
        record_type: set.r#type().as_str().to_string(),
        set_identifier: set.set_identifier().map(str::to_string),
        weight: set.weight(),
        region: set.region().map(|r| r.as_str().to_string()),
        failover: set.failover().map(|f| f.as_str().to_string()),
        multi_value_answer: set.multi_value_answer(),
        health_check_id: set.health_check_id().map(str::to_string),
        // An alias has no TTL of its own (moto answers 0).
        ttl: if alias.is_some() { None } else { set.ttl() },
        values: set
            .resource_records()
            .iter()
            .map(|r| r.value().to_string())
            .collect(),
        alias,
    })
}

fn to_sdk(set: &RecordSet) -> Result<ResourceRecordSet, AwsError> {
    let mut builder = ResourceRecordSet::builder()
        .name(&set.name)
        .r#type(RrType::from(set.record_type.as_str()))
        .set_set_identifier(set.set_identifier.clone())
        .set_weight(set.weight)
        .set_region(set.region.as_deref().map(ResourceRecordSetRegion::from))
        .set_failover(set.failover.as_deref().map(ResourceRecordSetFailover::from))
        .set_multi_value_answer(set.multi_value_answer)
        .set_health_check_id(set.health_check_id.clone())
        .set_ttl(set.ttl);
    for value in &set.values {
        builder = builder.resource_records(
            ResourceRecord::builder()
                .value(value)
                .build()
                .map_err(build_error)?,
        );
    }
    if let Some(alias) = &set.alias {
        builder = builder.alias_target(
            AliasTarget::builder()
                .dns_name(&alias.dns_name)
                .hosted_zone_id(&alias.zone_id)
                .evaluate_target_health(alias.evaluate_target_health)
                .build()
                .map_err(build_error)?,
        );
    }
    builder.build().map_err(build_error)
}

impl Route53Api for SdkRoute53 {
    async fn record(
        &self,
        zone_id: &str,
        name: &str,
        record_type: &str,
        set_identifier: Option<&str>,
    ) -> Result<Option<RecordSet>, AwsError> {
        let mut start = (
            name.to_string(),
            RrType::from(record_type),
            set_identifier.map(str::to_string),
        );
        // Listing starts at the name and type; a weighted name has one set per
        // identifier, so page on until past them.
        loop {
            let reply = self
                .client
                .list_resource_record_sets()
                .hosted_zone_id(zone(zone_id))
                .start_record_name(&start.0)
                .start_record_type(start.1.clone())
                .set_start_record_identifier(start.2.clone())
                .max_items(100)
                .send()
                .await
                .map_err(sdk_error)?;
            let mut past = false;
            for set in reply.resource_record_sets() {
                if !same_name(set.name(), name) || set.r#type().as_str() != record_type {
                    past = true;
                    continue;
                }
                if set.set_identifier() == set_identifier {
                    return from_sdk(set).map(Some);
                }
            }
            match (
                reply.is_truncated(),
                reply.next_record_name(),
                reply.next_record_type(),
            ) {
                (true, Some(next), Some(next_type)) if !past => {
                    start = (
                        next.to_string(),
                        next_type.clone(),
                        reply.next_record_identifier().map(str::to_string),
                    );
                }
                _ => return Ok(None),
            }
        }
    }

    async fn change(&self, zone_id: &str, op: Op, set: &RecordSet) -> Result<String, AwsError> {
        let action = match op {
            Op::Upsert => ChangeAction::Upsert,
            Op::Delete => ChangeAction::Delete,
        };
        let change = Change::builder()
            .action(action)
            .resource_record_set(to_sdk(set)?)
            .build()
            .map_err(build_error)?;
        let batch = ChangeBatch::builder()
            .comment("cutover route53.swap")
            .changes(change)
            .build()
            .map_err(build_error)?;
        let reply = self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(zone(zone_id))
            .change_batch(batch)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(reply
            .change_info()
            .map(|info| info.id().to_string())
            .unwrap_or_default())
    }

    async fn change_status(&self, change_id: &str) -> Result<String, AwsError> {
        let reply = self
            .client
            .get_change()
            .id(change_id.trim_start_matches("/change/"))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(reply
            .change_info()
            .map(|info| info.status().as_str().to_string())
            .unwrap_or_else(|| ChangeStatus::Pending.as_str().to_string()))
    }
}
