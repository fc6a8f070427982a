//! `ActionSpec`: a typed, resolved action call, dispatched by `match` to the
//! action's own file.

use super::postgres;
use super::rds;
use super::{
    ActionFailure, Applied, Approve, HaproxySwap, HaproxyWeights, HttpCheck, MaintenanceCommand,
    MaintenanceFile, MaintenanceHttp, NginxSwap, Shell, SqlCheck, StepContext, TcpCheck, Wait,
};

#[derive(Debug, Clone, PartialEq)]
pub enum ActionSpec {
    Shell(Shell),
    Wait(Wait),
    Approve(Approve),
    MaintenanceFile(MaintenanceFile),
    HaproxySwap(HaproxySwap),
    HaproxyWeights(HaproxyWeights),
    NginxSwap(NginxSwap),
    HttpCheck(HttpCheck),
    TcpCheck(TcpCheck),
    SqlCheck(SqlCheck),
    MyReadOnly(super::mysql::ReadOnly),
    MyReadWrite(super::mysql::ReadWrite),
    MyVerify(super::mysql::Verify),
    MyCopy(super::mysql::Copy),
    MyReplicate(super::mysql::Replicate),
    MyDropReplication(super::mysql::DropReplication),
    MyCatchUp(super::mysql::CatchUp),
    MyCompareSettings(super::mysql::CompareSettings),
    MySnapshot(super::mysql::Snapshot),
    MyRestore(super::mysql::Restore),
    MaintenanceHttp(MaintenanceHttp),
    MaintenanceCommand(MaintenanceCommand),
    PgCopy(postgres::Copy),
    PgReadOnly(postgres::ReadOnly),
    PgReadWrite(postgres::ReadWrite),
    PgVerify(postgres::Verify),
    PgSyncSequences(postgres::SyncSequences),
    PgCompareSettings(postgres::CompareSettings),
    PgReplicate(postgres::Replicate),
    PgDropReplication(postgres::DropReplication),
    PgCatchUp(postgres::CatchUp),
    PgSnapshot(postgres::Snapshot),
    PgRestore(postgres::Restore),
    PgHealth(postgres::Health),
    PgReverseReplicate(postgres::ReverseReplicate),
    PgDropReverseReplication(postgres::DropReverseReplication),
    RdsSnapshot(rds::RdsSnapshot),
    RdsRestore(rds::RdsRestore),
    RdsReadReplica(rds::RdsReadReplica),
    RdsPromote(rds::RdsPromote),
    RdsModify(rds::RdsModify),
    RdsCompare(rds::RdsCompare),
    RdsWait(rds::RdsWait),
    RdsDeleteSnapshot(rds::RdsDeleteSnapshot),
    RdsDeleteInstance(rds::RdsDeleteInstance),
}

impl ActionSpec {
    /// The name a playbook uses for this action.
    pub fn name(&self) -> &'static str {
        match self {
            ActionSpec::Shell(_) => "shell",
            ActionSpec::Wait(_) => "wait",
            ActionSpec::Approve(_) => "approve",
            ActionSpec::MaintenanceFile(_) => "maintenance.file",
            ActionSpec::HaproxySwap(_) => "haproxy.swap",
            ActionSpec::HaproxyWeights(_) => "haproxy.weights",
            ActionSpec::NginxSwap(_) => "nginx.swap",
            ActionSpec::HttpCheck(_) => "http.check",
            ActionSpec::TcpCheck(_) => "tcp.check",
            ActionSpec::SqlCheck(_) => "sql.check",
            ActionSpec::MyReadOnly(_) => "mysql.read_only",
            ActionSpec::MyReadWrite(_) => "mysql.read_write",
            ActionSpec::MyVerify(_) => "mysql.verify",
            ActionSpec::MyCopy(_) => "mysql.copy",
            ActionSpec::MyReplicate(_) => "mysql.replicate",
            ActionSpec::MyDropReplication(_) => "mysql.drop_replication",
            ActionSpec::MyCatchUp(_) => "mysql.catch_up",
            ActionSpec::MyCompareSettings(_) => "mysql.compare_settings",
            ActionSpec::MySnapshot(_) => "mysql.snapshot",
            ActionSpec::MyRestore(_) => "mysql.restore",
            ActionSpec::MaintenanceHttp(_) => "maintenance.http",
            ActionSpec::MaintenanceCommand(_) => "maintenance.command",
            ActionSpec::PgCopy(_) => "postgres.copy",
            ActionSpec::PgReadOnly(_) => "postgres.read_only",
            ActionSpec::PgReadWrite(_) => "postgres.read_write",
            ActionSpec::PgVerify(_) => "postgres.verify",
            ActionSpec::PgSyncSequences(_) => "postgres.sync_sequences",
            ActionSpec::PgCompareSettings(_) => "postgres.compare_settings",
            ActionSpec::PgReplicate(_) => "postgres.replicate",
            ActionSpec::PgDropReplication(_) => "postgres.drop_replication",
            ActionSpec::PgCatchUp(_) => "postgres.catch_up",
            ActionSpec::PgSnapshot(_) => "postgres.snapshot",
            ActionSpec::PgRestore(_) => "postgres.restore",
            ActionSpec::PgHealth(_) => "postgres.health",
            ActionSpec::PgReverseReplicate(_) => "postgres.reverse_replicate",
            ActionSpec::PgDropReverseReplication(_) => "postgres.drop_reverse_replication",
            ActionSpec::RdsSnapshot(_) => "rds.snapshot",
            ActionSpec::RdsRestore(_) => "rds.restore",
            ActionSpec::RdsReadReplica(_) => "rds.read_replica",
            ActionSpec::RdsPromote(_) => "rds.promote",
            ActionSpec::RdsModify(_) => "rds.modify",
            ActionSpec::RdsCompare(_) => "rds.compare",
            ActionSpec::RdsWait(_) => "rds.wait",
            ActionSpec::RdsDeleteSnapshot(_) => "rds.delete_snapshot",
            ActionSpec::RdsDeleteInstance(_) => "rds.delete_instance",
        }
    }

    /// One imperative line, used by `plan`, the progress display and the journal.
    pub fn describe(&self) -> String {
        match self {
            ActionSpec::Shell(a) => a.describe(),
            ActionSpec::Wait(a) => a.describe(),
            ActionSpec::Approve(a) => a.describe(),
            ActionSpec::MaintenanceFile(a) => a.describe(),
            ActionSpec::HaproxySwap(a) => a.describe(),
            ActionSpec::HaproxyWeights(a) => a.describe(),
            ActionSpec::NginxSwap(a) => a.describe(),
            ActionSpec::HttpCheck(a) => a.describe(),
            ActionSpec::TcpCheck(a) => a.describe(),
            ActionSpec::SqlCheck(a) => a.describe(),
            ActionSpec::MyReadOnly(a) => a.describe(),
            ActionSpec::MyReadWrite(a) => a.describe(),
            ActionSpec::MyVerify(a) => a.describe(),
            ActionSpec::MyCopy(a) => a.describe(),
            ActionSpec::MyReplicate(a) => a.describe(),
            ActionSpec::MyDropReplication(a) => a.describe(),
            ActionSpec::MyCatchUp(a) => a.describe(),
            ActionSpec::MyCompareSettings(a) => a.describe(),
            ActionSpec::MySnapshot(a) => a.describe(),
            ActionSpec::MyRestore(a) => a.describe(),
            ActionSpec::MaintenanceHttp(a) => a.describe(),
            ActionSpec::MaintenanceCommand(a) => a.describe(),
            ActionSpec::PgCopy(a) => a.describe(),
            ActionSpec::PgReadOnly(a) => a.describe(),
            ActionSpec::PgReadWrite(a) => a.describe(),
            ActionSpec::PgVerify(a) => a.describe(),
            ActionSpec::PgSyncSequences(a) => a.describe(),
            ActionSpec::PgCompareSettings(a) => a.describe(),
            ActionSpec::PgReplicate(a) => a.describe(),
            ActionSpec::PgDropReplication(a) => a.describe(),
            ActionSpec::PgCatchUp(a) => a.describe(),
            ActionSpec::PgSnapshot(a) => a.describe(),
            ActionSpec::PgRestore(a) => a.describe(),
            ActionSpec::PgHealth(a) => a.describe(),
            ActionSpec::PgReverseReplicate(a) => a.describe(),
            ActionSpec::PgDropReverseReplication(a) => a.describe(),
            ActionSpec::RdsSnapshot(a) => a.describe(),
            ActionSpec::RdsRestore(a) => a.describe(),
            ActionSpec::RdsReadReplica(a) => a.describe(),
            ActionSpec::RdsPromote(a) => a.describe(),
            ActionSpec::RdsModify(a) => a.describe(),
            ActionSpec::RdsCompare(a) => a.describe(),
            ActionSpec::RdsWait(a) => a.describe(),
            ActionSpec::RdsDeleteSnapshot(a) => a.describe(),
            ActionSpec::RdsDeleteInstance(a) => a.describe(),
        }
    }

    /// Read-only checks run before `apply`.
    pub async fn preflight(&self, cx: &StepContext<'_>) -> Result<(), ActionFailure> {
        match self {
            ActionSpec::MaintenanceFile(a) => a.preflight(cx),
            ActionSpec::HaproxySwap(a) => a.preflight(cx).await,
            ActionSpec::HaproxyWeights(_)
            | ActionSpec::NginxSwap(_)
            | ActionSpec::HttpCheck(_)
            | ActionSpec::TcpCheck(_)
            | ActionSpec::SqlCheck(_)
            | ActionSpec::MaintenanceHttp(_)
            | ActionSpec::MaintenanceCommand(_) => Ok(()),
            // MySQL actions check as they connect, like the PostgreSQL ones.
            ActionSpec::MyReadOnly(_)
            | ActionSpec::MyReadWrite(_)
            | ActionSpec::MyVerify(_)
            | ActionSpec::MyCopy(_)
            | ActionSpec::MyReplicate(_)
            | ActionSpec::MyDropReplication(_)
            | ActionSpec::MyCatchUp(_)
            | ActionSpec::MyCompareSettings(_)
            | ActionSpec::MySnapshot(_)
            | ActionSpec::MyRestore(_) => Ok(()),
            ActionSpec::Shell(_) | ActionSpec::Wait(_) | ActionSpec::Approve(_) => Ok(()),
            // PostgreSQL actions check as they connect: a separate preflight
            // would only open every connection twice.
            ActionSpec::PgCopy(_)
            | ActionSpec::PgReadOnly(_)
            | ActionSpec::PgReadWrite(_)
            | ActionSpec::PgVerify(_)
            | ActionSpec::PgSyncSequences(_)
            | ActionSpec::PgCompareSettings(_)
            | ActionSpec::PgReplicate(_)
            | ActionSpec::PgDropReplication(_)
            | ActionSpec::PgCatchUp(_)
            | ActionSpec::PgSnapshot(_)
            | ActionSpec::PgRestore(_)
            | ActionSpec::PgHealth(_)
            | ActionSpec::PgReverseReplicate(_)
            | ActionSpec::PgDropReverseReplication(_) => Ok(()),
            // RDS actions check what they need as they call: describing first
            // and again in apply would only double the calls RDS throttles.
            ActionSpec::RdsSnapshot(_)
            | ActionSpec::RdsRestore(_)
            | ActionSpec::RdsReadReplica(_)
            | ActionSpec::RdsPromote(_)
            | ActionSpec::RdsModify(_)
            | ActionSpec::RdsCompare(_)
            | ActionSpec::RdsWait(_)
            | ActionSpec::RdsDeleteSnapshot(_)
            | ActionSpec::RdsDeleteInstance(_) => Ok(()),
        }
    }

    /// Does the work.
    pub async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        match self {
            ActionSpec::Shell(a) => a.apply(cx).await,
            ActionSpec::Wait(a) => a.apply(cx).await,
            ActionSpec::Approve(a) => a.apply(cx).await,
            ActionSpec::MaintenanceFile(a) => a.apply(cx),
            ActionSpec::HaproxySwap(a) => a.apply(cx).await,
            ActionSpec::HaproxyWeights(a) => a.apply(cx).await,
            ActionSpec::NginxSwap(a) => a.apply(cx).await,
            ActionSpec::HttpCheck(a) => a.apply(cx).await,
            ActionSpec::TcpCheck(a) => a.apply(cx).await,
            ActionSpec::SqlCheck(a) => a.apply(cx).await,
            ActionSpec::MyReadOnly(a) => a.apply(cx).await,
            ActionSpec::MyReadWrite(a) => a.apply(cx).await,
            ActionSpec::MyVerify(a) => a.apply(cx).await,
            ActionSpec::MyCopy(a) => a.apply(cx).await,
            ActionSpec::MyReplicate(a) => a.apply(cx).await,
            ActionSpec::MyDropReplication(a) => a.apply(cx).await,
            ActionSpec::MyCatchUp(a) => a.apply(cx).await,
            ActionSpec::MyCompareSettings(a) => a.apply(cx).await,
            ActionSpec::MySnapshot(a) => a.apply(cx).await,
            ActionSpec::MyRestore(a) => a.apply(cx).await,
            ActionSpec::MaintenanceHttp(a) => a.apply(cx).await,
            ActionSpec::MaintenanceCommand(a) => a.apply(cx).await,
            ActionSpec::PgCopy(a) => a.apply(cx).await,
            ActionSpec::PgReadOnly(a) => a.apply(cx).await,
            ActionSpec::PgReadWrite(a) => a.apply(cx).await,
            ActionSpec::PgVerify(a) => a.apply(cx).await,
            ActionSpec::PgSyncSequences(a) => a.apply(cx).await,
            ActionSpec::PgCompareSettings(a) => a.apply(cx).await,
            ActionSpec::PgReplicate(a) => a.apply(cx).await,
            ActionSpec::PgDropReplication(a) => a.apply(cx).await,
            ActionSpec::PgCatchUp(a) => a.apply(cx).await,
            ActionSpec::PgSnapshot(a) => a.apply(cx).await,
            ActionSpec::PgRestore(a) => a.apply(cx).await,
            ActionSpec::PgHealth(a) => a.apply(cx).await,
            ActionSpec::PgReverseReplicate(a) => a.apply(cx).await,
            ActionSpec::PgDropReverseReplication(a) => a.apply(cx).await,
            ActionSpec::RdsSnapshot(a) => a.apply(cx).await,
            ActionSpec::RdsRestore(a) => a.apply(cx).await,
            ActionSpec::RdsReadReplica(a) => a.apply(cx).await,
            ActionSpec::RdsPromote(a) => a.apply(cx).await,
            ActionSpec::RdsModify(a) => a.apply(cx).await,
            ActionSpec::RdsCompare(a) => a.apply(cx).await,
            ActionSpec::RdsWait(a) => a.apply(cx).await,
            ActionSpec::RdsDeleteSnapshot(a) => a.apply(cx).await,
            ActionSpec::RdsDeleteInstance(a) => a.apply(cx).await,
        }
    }

    /// The natural inverse, used as the rollback when a step gives none.
    pub fn inverse(&self) -> Option<ActionSpec> {
        match self {
            ActionSpec::MaintenanceFile(a) => Some(ActionSpec::MaintenanceFile(a.inverse())),
            ActionSpec::MyReadOnly(a) => Some(ActionSpec::MyReadWrite(a.inverse())),
            ActionSpec::MyReadWrite(a) => Some(ActionSpec::MyReadOnly(a.inverse())),
            ActionSpec::MyVerify(_) => None,
            ActionSpec::MyReplicate(a) => Some(ActionSpec::MyDropReplication(a.inverse())),
            ActionSpec::MyCopy(_)
            | ActionSpec::MyDropReplication(_)
            | ActionSpec::MyCatchUp(_)
            | ActionSpec::MyCompareSettings(_)
            | ActionSpec::MySnapshot(_)
            | ActionSpec::MyRestore(_) => None,
            ActionSpec::MaintenanceHttp(a) => Some(ActionSpec::MaintenanceHttp(a.inverse())),
            ActionSpec::MaintenanceCommand(a) => Some(ActionSpec::MaintenanceCommand(a.inverse())),
            ActionSpec::HaproxySwap(a) => Some(ActionSpec::HaproxySwap(a.inverse())),
            ActionSpec::HaproxyWeights(a) => Some(ActionSpec::HaproxyWeights(a.inverse())),
            ActionSpec::NginxSwap(a) => Some(ActionSpec::NginxSwap(a.inverse())),
            ActionSpec::HttpCheck(_) | ActionSpec::TcpCheck(_) | ActionSpec::SqlCheck(_) => None,
            ActionSpec::PgReadOnly(a) => Some(ActionSpec::PgReadWrite(a.inverse())),
            ActionSpec::PgReplicate(a) => Some(ActionSpec::PgDropReplication(a.inverse())),
            ActionSpec::PgReverseReplicate(a) => {
                Some(ActionSpec::PgDropReverseReplication(a.inverse()))
            }
            ActionSpec::PgReadWrite(a) => Some(ActionSpec::PgReadOnly(a.inverse())),
            ActionSpec::Shell(_) | ActionSpec::Wait(_) | ActionSpec::Approve(_) => None,
            ActionSpec::PgCopy(_)
            | ActionSpec::PgVerify(_)
            | ActionSpec::PgSyncSequences(_)
            | ActionSpec::PgCompareSettings(_)
            | ActionSpec::PgDropReplication(_)
            | ActionSpec::PgCatchUp(_)
            | ActionSpec::PgSnapshot(_)
            | ActionSpec::PgRestore(_)
            | ActionSpec::PgHealth(_)
            | ActionSpec::PgDropReverseReplication(_) => None,
            ActionSpec::RdsSnapshot(a) => a.inverse().map(ActionSpec::RdsDeleteSnapshot),
            ActionSpec::RdsRestore(a) => Some(ActionSpec::RdsDeleteInstance(a.inverse())),
            ActionSpec::RdsReadReplica(a) => Some(ActionSpec::RdsDeleteInstance(a.inverse())),
            // A promotion cannot be undone; a scale-down is a decision, not a reflex.
            ActionSpec::RdsPromote(_)
            | ActionSpec::RdsModify(_)
            | ActionSpec::RdsCompare(_)
            | ActionSpec::RdsWait(_)
            | ActionSpec::RdsDeleteSnapshot(_)
            | ActionSpec::RdsDeleteInstance(_) => None,
        }
    }

    /// A failure can leave part of the change applied (servers half swapped,
    /// a switch sent but not confirmed), and the action's inverse undoes any
    /// part of it safely: the engine then undoes the failed step itself too.
    pub fn undoes_partial_failure(&self) -> bool {
        matches!(
            self,
            ActionSpec::HaproxySwap(_)
                | ActionSpec::HaproxyWeights(_)
                | ActionSpec::NginxSwap(_)
                | ActionSpec::MaintenanceHttp(_)
                | ActionSpec::MaintenanceFile(_)
                // A restore or replica whose wait failed has left an instance
                // behind; their inverses delete only what this run created,
                // and find nothing to delete when the call never went through.
                | ActionSpec::RdsRestore(_)
                | ActionSpec::RdsReadReplica(_)
                | ActionSpec::RdsSnapshot(_)
        )
    }

    /// Safe to run again after a crash left its outcome unknown.
    pub fn idempotent(&self) -> bool {
        match self {
            ActionSpec::Shell(_) => false,
            ActionSpec::Wait(_) | ActionSpec::Approve(_) | ActionSpec::MaintenanceFile(_) => true,
            ActionSpec::MyReadOnly(_) | ActionSpec::MyReadWrite(_) | ActionSpec::MyVerify(_) => {
                true
            }
            // Each finds what an earlier attempt did (the copy its ledger, replication its channel) and goes on.
            ActionSpec::MyCopy(_)
            | ActionSpec::MyReplicate(_)
            | ActionSpec::MyDropReplication(_)
            | ActionSpec::MyCatchUp(_)
            | ActionSpec::MyCompareSettings(_)
            | ActionSpec::MySnapshot(_)
            | ActionSpec::MyRestore(_) => true,
            // Setting the same states, weights, file or flag twice lands in the same place.
            ActionSpec::HaproxySwap(_)
            | ActionSpec::HaproxyWeights(_)
            | ActionSpec::NginxSwap(_)
            | ActionSpec::HttpCheck(_)
            | ActionSpec::TcpCheck(_)
            | ActionSpec::SqlCheck(_)
            | ActionSpec::MaintenanceHttp(_) => true,
            ActionSpec::MaintenanceCommand(_) => false,
            ActionSpec::PgCopy(_)
            | ActionSpec::PgReadOnly(_)
            | ActionSpec::PgReadWrite(_)
            | ActionSpec::PgVerify(_)
            | ActionSpec::PgSyncSequences(_)
            | ActionSpec::PgCompareSettings(_)
            | ActionSpec::PgReplicate(_)
            | ActionSpec::PgDropReplication(_)
            | ActionSpec::PgCatchUp(_) => true,
            // A new archive replaces the old one whole; a restore marks the
            // target with its archive, cleans its own partial work, skips a finished one.
            ActionSpec::PgSnapshot(_) | ActionSpec::PgRestore(_) => true,
            ActionSpec::PgHealth(_)
            | ActionSpec::PgReverseReplicate(_)
            | ActionSpec::PgDropReverseReplication(_) => true,
            // Each finds what an earlier attempt of this run did (by id and the
            // `cutover:run` tag) and goes on from there.
            ActionSpec::RdsSnapshot(_)
            | ActionSpec::RdsRestore(_)
            | ActionSpec::RdsReadReplica(_)
            | ActionSpec::RdsPromote(_)
            | ActionSpec::RdsModify(_)
            | ActionSpec::RdsCompare(_)
            | ActionSpec::RdsWait(_)
            | ActionSpec::RdsDeleteSnapshot(_)
            | ActionSpec::RdsDeleteInstance(_) => true,
        }
    }
}
