//! `SdkRds`: `RdsApi` over aws-sdk-rds, configured from aws-config's standard
//! chain (environment, profile, instance role) with the playbook's overrides.
//! Errors become `RdsError` (code and message only).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_rds::types::{DbInstance, DbSnapshot, Tag};
use aws_sdk_rds::Client;

use super::api::{
    Instance, ModifyRequest, Pending, RdsApi, RdsError, RdsResult, ReplicaRequest, RestoreRequest,
    Snapshot,
};
use super::aws::Aws;

/// Throttling and transient errors are retried by the SDK's standard retry
/// mode (exponential backoff with jitter); RDS throttles its Describe calls
/// first, and a cutover would rather wait than fail on them.
const MAX_ATTEMPTS: u32 = 8;

pub struct SdkRds {
    client: Client,
}

impl SdkRds {
    /// A client from the standard chain, with the playbook's `region`,
    /// `profile` and `endpoint_url` taking precedence.
    pub async fn connect(aws: &Aws) -> RdsResult<Self> {
        let retry = RetryConfig::standard()
            .with_max_attempts(MAX_ATTEMPTS)
            .with_initial_backoff(Duration::from_millis(500));
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).retry_config(retry);
        if let Some(profile) = &aws.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &aws.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &aws.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        if config.region().is_none() {
            return Err(RdsError::new(
                "NoRegion",
                "no AWS region: set `region` in the step, AWS_REGION, or a profile's region",
            ));
        }
        Ok(Self {
            client: Client::new(&config),
        })
    }
}

/// AWS's code and message; for errors that never reached AWS, the cause chain
/// (which names a missing credential provider, never a credential).
fn error<E, R>(error: SdkError<E, R>) -> RdsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = match &error {
        SdkError::ServiceError(_) => {
            return RdsError::new(
                error.code().unwrap_or("Unknown"),
                error.message().unwrap_or_default(),
            )
        }
        SdkError::TimeoutError(_) => "Timeout",
        SdkError::DispatchFailure(_) => "DispatchFailure",
        SdkError::ConstructionFailure(_) => "Config",
        SdkError::ResponseError(_) => "ResponseError",
        _ => "Unknown",
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !causes.contains(&text) {
            causes.push(text);
        }
        source = cause.source();
    }
    if causes.is_empty() {
        causes.push(error.to_string());
    }
    // The connector's error kind says nothing to an operator.
    let causes: Vec<&str> = causes
        .iter()
        .map(String::as_str)
        .filter(|c| *c != "other")
        .collect();
    // The SDK reports a credential chain that found nothing as a dispatch
    // failure; the operator needs to know it never reached AWS for that reason.
    let code = if causes.iter().any(|c| c.contains("no credentials found")) {
        "NoCredentials"
    } else {
        code
    };
    RdsError::new(code, causes.join(": "))
}

fn not_found(error: &RdsError, code: &str) -> bool {
    error.code.starts_with(code)
}

fn tags(tags: &BTreeMap<String, String>) -> Option<Vec<Tag>> {
    Some(
        tags.iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect(),
    )
}

fn tag_map(list: &[Tag]) -> BTreeMap<String, String> {
    list.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .collect()
}

fn instance(db: &DbInstance) -> Instance {
    let pending = db
        .pending_modified_values()
        .map(|p| Pending {
            class: p.db_instance_class().map(str::to_string),
            allocated_storage: p.allocated_storage(),
            iops: p.iops(),
        })
        .unwrap_or_default();
    Instance {
        id: db.db_instance_identifier().unwrap_or("").to_string(),
        status: db.db_instance_status().unwrap_or("").to_string(),
        class: db.db_instance_class().unwrap_or("").to_string(),
        engine: db.engine().unwrap_or("").to_string(),
        engine_version: db.engine_version().unwrap_or("").to_string(),
        storage_type: db.storage_type().unwrap_or("").to_string(),
        allocated_storage: db.allocated_storage().unwrap_or(0),
        iops: db.iops(),
        multi_az: db.multi_az().unwrap_or(false),
        parameter_groups: db
            .db_parameter_groups()
            .iter()
            .filter_map(|g| g.db_parameter_group_name().map(str::to_string))
            .collect(),
        replica_source: db
            .read_replica_source_db_instance_identifier()
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        pending,
        endpoint: db
            .endpoint()
            .and_then(|e| Some(format!("{}:{}", e.address()?, e.port().unwrap_or_default()))),
        tags: tag_map(db.tag_list()),
    }
}

fn snapshot(s: &DbSnapshot) -> Snapshot {
    Snapshot {
        id: s.db_snapshot_identifier().unwrap_or("").to_string(),
        instance: s.db_instance_identifier().unwrap_or("").to_string(),
        status: s.status().unwrap_or("").to_string(),
        percent_progress: s.percent_progress().unwrap_or(0),
        tags: tag_map(s.tag_list()),
    }
}

fn missing(what: &str) -> RdsError {
    RdsError::new("ResponseError", format!("RDS answered without the {what}"))
}

impl RdsApi for SdkRds {
    async fn instance(&self, id: &str) -> RdsResult<Option<Instance>> {
        let answer = self
            .client
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await
            .map_err(error);
        match answer {
            Ok(out) => Ok(out.db_instances().first().map(instance)),
            Err(e) if not_found(&e, "DBInstanceNotFound") => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn snapshot(&self, id: &str) -> RdsResult<Option<Snapshot>> {
        let answer = self
            .client
            .describe_db_snapshots()
            .db_snapshot_identifier(id)
            .send()
            .await
            .map_err(error);
        match answer {
            Ok(out) => Ok(out.db_snapshots().first().map(snapshot)),
            Err(e) if not_found(&e, "DBSnapshotNotFound") => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn create_snapshot(
        &self,
        instance: &str,
        id: &str,
        tag_list: &BTreeMap<String, String>,
    ) -> RdsResult<Snapshot> {
        let out = self
            .client
            .create_db_snapshot()
            .db_instance_identifier(instance)
            .db_snapshot_identifier(id)
            .set_tags(tags(tag_list))
            .send()
            .await
            .map_err(error)?;
        out.db_snapshot()
            .map(snapshot)
            .ok_or_else(|| missing("snapshot"))
    }

    async fn delete_snapshot(&self, id: &str) -> RdsResult<()> {
        self.client
            .delete_db_snapshot()
            .db_snapshot_identifier(id)
            .send()
            .await
            .map_err(error)?;
        Ok(())
    }

    async fn restore(&self, request: &RestoreRequest) -> RdsResult<Instance> {
        let groups = (!request.security_groups.is_empty()).then(|| request.security_groups.clone());
        let out = self
            .client
            .restore_db_instance_from_db_snapshot()
            .db_snapshot_identifier(&request.snapshot)
            .db_instance_identifier(&request.instance)
            .set_db_instance_class(request.class.clone())
            .set_db_subnet_group_name(request.subnet_group.clone())
            .set_db_parameter_group_name(request.parameter_group.clone())
            .set_vpc_security_group_ids(groups)
            .set_multi_az(request.multi_az)
            .set_tags(tags(&request.tags))
            .send()
            .await
            .map_err(error)?;
        out.db_instance()
            .map(instance)
            .ok_or_else(|| missing("instance"))
    }

    async fn create_replica(&self, request: &ReplicaRequest) -> RdsResult<Instance> {
        let out = self
            .client
            .create_db_instance_read_replica()
            .source_db_instance_identifier(&request.source)
            .db_instance_identifier(&request.instance)
            .set_db_instance_class(request.class.clone())
            .set_tags(tags(&request.tags))
            .send()
            .await
            .map_err(error)?;
        out.db_instance()
            .map(instance)
            .ok_or_else(|| missing("instance"))
    }

    async fn promote(&self, id: &str) -> RdsResult<Instance> {
        let out = self
            .client
            .promote_read_replica()
            .db_instance_identifier(id)
            .send()
            .await
            .map_err(error)?;
        out.db_instance()
            .map(instance)
            .ok_or_else(|| missing("instance"))
    }

    async fn modify(&self, request: &ModifyRequest) -> RdsResult<Instance> {
        let out = self
            .client
            .modify_db_instance()
            .db_instance_identifier(&request.instance)
            .set_db_instance_class(request.class.clone())
            .set_allocated_storage(request.allocated_storage)
            .set_iops(request.iops)
            .apply_immediately(request.apply_immediately)
            .send()
            .await
            .map_err(error)?;
        out.db_instance()
            .map(instance)
            .ok_or_else(|| missing("instance"))
    }

    async fn delete_instance(&self, id: &str, final_snapshot: Option<&str>) -> RdsResult<()> {
        self.client
            .delete_db_instance()
            .db_instance_identifier(id)
            .skip_final_snapshot(final_snapshot.is_none())
            .set_final_db_snapshot_identifier(final_snapshot.map(str::to_string))
            .send()
            .await
            .map_err(error)?;
        Ok(())
    }

    async fn parameters(&self, group: &str) -> RdsResult<BTreeMap<String, String>> {
        let mut values = BTreeMap::new();
        let mut marker = None;
        loop {
            let out = self
                .client
                .describe_db_parameters()
                .db_parameter_group_name(group)
                .set_marker(marker)
                .send()
                .await
                .map_err(error)?;
            for p in out.parameters() {
                if let (Some(name), Some(value)) = (p.parameter_name(), p.parameter_value()) {
                    values.insert(name.to_string(), value.to_string());
                }
            }
            marker = out.marker().filter(|m| !m.is_empty()).map(str::to_string);
            if marker.is_none() {
                return Ok(values);
            }
        }
    }
}
