//! `RdsApi`: the few RDS calls the `rds.*` actions use, behind a trait so the
//! waiting and state logic can be tested with a fake; `SdkRds` (sdk.rs) is the
//! real one over aws-sdk-rds.

use std::collections::BTreeMap;

use crate::actions::shared::aws::AwsError;

/// Tag keys cutover puts on what it creates, so a resume finds its own work
/// and a rollback deletes only what this run made.
pub const RUN_TAG: &str = "cutover:run";
pub const STEP_TAG: &str = "cutover:step";

pub type RdsResult<T> = Result<T, AwsError>;

/// Values a `ModifyDBInstance` has accepted but not applied yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pending {
    pub class: Option<String>,
    pub allocated_storage: Option<i32>,
    pub iops: Option<i32>,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.class.is_none() && self.allocated_storage.is_none() && self.iops.is_none()
    }
}

/// What the actions need to know of a DB instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    /// `creating`, `available`, `modifying`, `backing-up`, `deleting` …
    pub status: String,
    pub class: String,
    pub engine: String,
    pub engine_version: String,
    pub storage_type: String,
    /// GiB.
    pub allocated_storage: i32,
    /// Provisioned IOPS, when the storage type has them.
    pub iops: Option<i32>,
    pub multi_az: bool,
    pub parameter_groups: Vec<String>,
    /// The instance this one replicates, while it is a read replica.
    pub replica_source: Option<String>,
    pub pending: Pending,
    /// `host:port`, once RDS has one.
    pub endpoint: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// `arn:aws:rds:REGION:ACCOUNT:db:ID`.
    pub arn: String,
}

impl Instance {
    /// True when `run` created it (its `cutover:run` tag).
    pub fn created_by(&self, run: &str) -> bool {
        self.tags.get(RUN_TAG).map(String::as_str) == Some(run)
    }
}

/// What the actions need to know of a DB snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub id: String,
    pub instance: String,
    /// `creating`, `available`, `failed` …
    pub status: String,
    pub percent_progress: i32,
    pub tags: BTreeMap<String, String>,
}

impl Snapshot {
    pub fn created_by(&self, run: &str) -> bool {
        self.tags.get(RUN_TAG).map(String::as_str) == Some(run)
    }
}

/// RestoreDBInstanceFromDBSnapshot's parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreRequest {
    pub snapshot: String,
    pub instance: String,
    pub class: Option<String>,
    pub subnet_group: Option<String>,
    pub parameter_group: Option<String>,
    pub security_groups: Vec<String>,
    pub multi_az: Option<bool>,
    pub tags: BTreeMap<String, String>,
}

/// CreateDBInstanceReadReplica's parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicaRequest {
    pub source: String,
    pub instance: String,
    pub class: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// ModifyDBInstance's parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModifyRequest {
    pub instance: String,
    pub class: Option<String>,
    pub allocated_storage: Option<i32>,
    pub iops: Option<i32>,
    pub apply_immediately: bool,
}

/// The RDS calls used by the `rds.*` actions, nothing more. Futures need not be
/// `Send`: the runtime is single-threaded.
#[allow(async_fn_in_trait)]
pub trait RdsApi {
    /// DescribeDBInstances for one id; `None` when RDS does not know it.
    async fn instance(&self, id: &str) -> RdsResult<Option<Instance>>;
    /// DescribeDBSnapshots for one id; `None` when RDS does not know it.
    async fn snapshot(&self, id: &str) -> RdsResult<Option<Snapshot>>;
    /// CreateDBSnapshot.
    async fn create_snapshot(
        &self,
        instance: &str,
        id: &str,
        tags: &BTreeMap<String, String>,
    ) -> RdsResult<Snapshot>;
    /// DeleteDBSnapshot.
    async fn delete_snapshot(&self, id: &str) -> RdsResult<()>;
    /// RestoreDBInstanceFromDBSnapshot.
    async fn restore(&self, request: &RestoreRequest) -> RdsResult<Instance>;
    /// CreateDBInstanceReadReplica.
    async fn create_replica(&self, request: &ReplicaRequest) -> RdsResult<Instance>;
    /// PromoteReadReplica.
    async fn promote(&self, id: &str) -> RdsResult<Instance>;
    /// ModifyDBInstance.
    async fn modify(&self, request: &ModifyRequest) -> RdsResult<Instance>;
    /// DeleteDBInstance, with a final snapshot or without.
    async fn delete_instance(&self, id: &str, final_snapshot: Option<&str>) -> RdsResult<()>;
    /// DescribeDBParameters of a parameter group: every name with a value.
    async fn parameters(&self, group: &str) -> RdsResult<BTreeMap<String, String>>;
}
