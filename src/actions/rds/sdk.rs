//! `SdkRds`: `RdsApi` over aws-sdk-rds, configured from aws-config's standard
//! chain (environment, profile, instance role) with the playbook's overrides.
//! Errors become `AwsError` (code and message only).

use std::collections::BTreeMap;

use aws_sdk_rds::types::{DbInstance, DbSnapshot, Tag};
use aws_sdk_rds::Client;

use super::api::{
    Instance, ModifyRequest, Pending, RdsApi, RdsResult, ReplicaRequest, RestoreRequest, Snapshot,
};
use crate::actions::shared::aws::{sdk_error as error, AwsError, AwsTarget};

pub struct SdkRds {
    pub(super) client: Client,
}

impl SdkRds {
    /// A client from the standard chain, with the playbook's `region`,
    /// `profile` and `endpoint_url` taking precedence.
    pub async fn connect(aws: &AwsTarget) -> anyhow::Result<Self> {
        let config = aws.sdk_config().await?;
        Ok(Self {
            client: Client::new(&config),
        })
    }
}

pub(super) fn not_found(error: &AwsError, code: &str) -> bool {
    error.code.starts_with(code)
}

pub(super) fn tags(tags: &BTreeMap<String, String>) -> Option<Vec<Tag>> {
    Some(
        tags.iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect(),
    )
}

pub(super) fn tag_map(list: &[Tag]) -> BTreeMap<String, String> {
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
        arn: db.db_instance_arn().unwrap_or("").to_string(),
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

fn missing(what: &str) -> AwsError {
    AwsError::new("ResponseError", format!("RDS answered without the {what}"))
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
