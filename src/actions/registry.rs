//! The action registry: every action's name, summary and parameter decoder.
//! A new action is a new file, a variant in `ActionSpec` and a line here; the
//! engine does not change.

use serde::de::DeserializeOwned;

use super::postgres;
use super::rds;
use super::{
    ActionSpec, Approve, HaproxySwap, HaproxyWeights, HttpCheck, MaintenanceCommand,
    MaintenanceFile, MaintenanceHttp, NginxSwap, Shell, SqlCheck, TcpCheck, Wait,
};

/// How a playbook names an action and how its `with` becomes typed parameters.
pub struct ActionInfo {
    pub name: &'static str,
    pub summary: &'static str,
    pub decode: fn(serde_json::Value) -> Result<ActionSpec, ParamsError>,
    pub schema: fn(&mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema,
}

/// A parameter error with the path inside `with` where it was found.
#[derive(Debug)]
pub struct ParamsError {
    pub path: Vec<String>,
    pub message: String,
}

fn decode_params<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ParamsError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error
            .path()
            .iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                _ => None,
            })
            .collect();
        ParamsError {
            path,
            message: error.into_inner().to_string(),
        }
    })
}

macro_rules! action {
    ($name:literal, $summary:literal, $variant:ident, $params:ty) => {
        ActionInfo {
            name: $name,
            summary: $summary,
            decode: |value| decode_params::<$params>(value).map(ActionSpec::$variant),
            schema: |generator| generator.subschema_for::<$params>(),
        }
    };
}

/// Every action a playbook may name.
pub static ACTIONS: &[ActionInfo] = &[
    action!(
        "shell",
        "run a command with bash; a non-zero exit fails the step",
        Shell,
        Shell
    ),
    action!("wait", "pause for a fixed time", Wait, Wait),
    action!(
        "approve",
        "a manual gate: an operator must approve before the run goes on",
        Approve,
        Approve
    ),
    action!(
        "maintenance.file",
        "turn a maintenance flag file on or off",
        MaintenanceFile,
        MaintenanceFile
    ),
    action!("maintenance.http", "call an application's maintenance switch and confirm it took effect", MaintenanceHttp, MaintenanceHttp),
    action!("maintenance.command", "turn maintenance on or off with commands of your own", MaintenanceCommand, MaintenanceCommand),
    action!("haproxy.swap", "move a backend's traffic to other servers through HAProxy's runtime API: ready, drain, maintenance, verify", HaproxySwap, HaproxySwap),
    action!("haproxy.weights", "shift a backend's traffic gradually by weights, with pauses and checks between stages", HaproxyWeights, HaproxyWeights),
    action!("nginx.swap", "point an nginx upstream at other servers: atomic rewrite, nginx -t, reload", NginxSwap, NginxSwap),
    action!("http.check", "smoke check: status, body and p95 latency over many requests", HttpCheck, HttpCheck),
    action!("tcp.check", "check that an address accepts connections", TcpCheck, TcpCheck),
    action!("sql.check", "run a query and compare its answer", SqlCheck, SqlCheck),
    action!("mysql.read_only", "freeze writes on a MySQL/MariaDB server: read_only, client connections ended", MyReadOnly, super::mysql::ReadOnly),
    action!("mysql.read_write", "thaw a server frozen by mysql.read_only", MyReadWrite, super::mysql::ReadWrite),
    action!("mysql.verify", "compare row counts (or checksums) of every table of two MySQL/MariaDB databases", MyVerify, super::mysql::Verify),
    action!("mysql.copy", "copy a database: schema, rows in parallel chunks by primary key from one consistent snapshot, views/routines/triggers; binlog position recorded; resumable", MyCopy, super::mysql::Copy),
    action!("mysql.replicate", "binlog replication source → target from the position mysql.copy recorded (GTID where the servers have it)", MyReplicate, super::mysql::Replicate),
    action!("mysql.drop_replication", "stop and reset the replication mysql.replicate set up", MyDropReplication, super::mysql::DropReplication),
    action!("mysql.catch_up", "wait until the replica has executed the source's current binlog position", MyCatchUp, super::mysql::CatchUp),
    action!("mysql.compare_settings", "preflight: fail where the target's version, memory, connections or disk are smaller than the source's", MyCompareSettings, super::mysql::CompareSettings),
    action!("mysql.snapshot", "archive a database with mariadb-dump / mysqldump (one consistent snapshot)", MySnapshot, super::mysql::Snapshot),
    action!("mysql.restore", "load an archive written by mysql.snapshot", MyRestore, super::mysql::Restore),
    action!(
        "postgres.copy",
        "copy a database: schema, rows streamed over parallel COPY from one snapshot, indexes, sequences; resumable per table",
        PgCopy,
        postgres::Copy
    ),
    action!(
        "postgres.read_only",
        "freeze writes on a database: read-only default, application roles' LOGIN taken, sessions ended",
        PgReadOnly,
        postgres::ReadOnly
    ),
    action!(
        "postgres.read_write",
        "thaw a database frozen by postgres.read_only",
        PgReadWrite,
        postgres::ReadWrite
    ),
    action!(
        "postgres.verify",
        "compare row counts (or checksums) of every table of two databases",
        PgVerify,
        postgres::Verify
    ),
    action!(
        "postgres.sync_sequences",
        "set every sequence of the target to the source's value",
        PgSyncSequences,
        postgres::SyncSequences
    ),
    action!(
        "postgres.compare_settings",
        "preflight: fail where the target's version, settings or capacity are smaller than the source's",
        PgCompareSettings,
        postgres::CompareSettings
    ),
    action!(
        "postgres.replicate",
        "logical replication source → target: checks, schema, publication, subscription, initial sync",
        PgReplicate,
        postgres::Replicate
    ),
    action!(
        "postgres.drop_replication",
        "drop the subscription (and its slot) and the publication of postgres.replicate",
        PgDropReplication,
        postgres::DropReplication
    ),
    action!(
        "postgres.catch_up",
        "wait until the subscriber has confirmed the source's current WAL position",
        PgCatchUp,
        postgres::CatchUp
    ),
    action!(
        "postgres.snapshot",
        "write a consistent pg_dump -Fc archive of a database, atomically, with its size and sha256",
        PgSnapshot,
        postgres::Snapshot
    ),
    action!(
        "postgres.restore",
        "restore a pg_dump -Fc archive into a database with parallel pg_restore; refuses a non-empty target unless told to clean",
        PgRestore,
        postgres::Restore
    ),
    action!(
        "postgres.health",
        "check a server before or after a swap: connections against max_connections, replication slot lag, sessions waiting on locks",
        PgHealth,
        postgres::Health
    ),
    action!(
        "postgres.reverse_replicate",
        "after the swap, replicate the new primary back to the old one (kept frozen for the application) so going back loses no write",
        PgReverseReplicate,
        postgres::ReverseReplicate
    ),
    action!(
        "postgres.drop_reverse_replication",
        "drop the reverse replication of postgres.reverse_replicate; the old primary stays frozen",
        PgDropReverseReplication,
        postgres::DropReverseReplication
    ),
    action!(
        "rds.snapshot",
        "snapshot an RDS instance and wait until the snapshot is available; kept unless delete_on_rollback",
        RdsSnapshot,
        rds::RdsSnapshot
    ),
    action!(
        "rds.restore",
        "restore an RDS snapshot into a new instance and wait until it is available; rolled back by deleting it",
        RdsRestore,
        rds::RdsRestore
    ),
    action!(
        "rds.read_replica",
        "create an RDS read replica and wait until it is available; rolled back by deleting it",
        RdsReadReplica,
        rds::RdsReadReplica
    ),
    action!(
        "rds.promote",
        "promote an RDS read replica to a standalone instance and wait until it is available",
        RdsPromote,
        rds::RdsPromote
    ),
    action!(
        "rds.modify",
        "scale an RDS instance: class, storage, IOPS; wait until the new values are in place",
        RdsModify,
        rds::RdsModify
    ),
    action!(
        "rds.compare",
        "preflight: fail where the target RDS instance is smaller than the source; warn on burstable classes",
        RdsCompare,
        rds::RdsCompare
    ),
    action!(
        "rds.wait",
        "wait until an RDS instance has a status (available, stopped, deleted …)",
        RdsWait,
        rds::RdsWait
    ),
    action!(
        "rds.delete_snapshot",
        "delete an RDS snapshot (the implied rollback of rds.snapshot with delete_on_rollback)",
        RdsDeleteSnapshot,
        rds::RdsDeleteSnapshot
    ),
    action!(
        "rds.delete_instance",
        "delete an RDS instance (the implied rollback of rds.restore and rds.read_replica)",
        RdsDeleteInstance,
        rds::RdsDeleteInstance
    ),
];

/// Finds an action by the name a playbook uses.
pub fn lookup(name: &str) -> Option<&'static ActionInfo> {
    ACTIONS.iter().find(|info| info.name == name)
}
