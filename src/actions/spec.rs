//! `ActionSpec`: a typed, resolved action call, dispatched by `match` to the
//! action's own file.

use super::postgres;
use super::{ActionFailure, Applied, Approve, MaintenanceFile, Shell, StepContext, Wait};

#[derive(Debug, Clone, PartialEq)]
pub enum ActionSpec {
    Shell(Shell),
    Wait(Wait),
    Approve(Approve),
    MaintenanceFile(MaintenanceFile),
    PgCopy(postgres::Copy),
    PgReadOnly(postgres::ReadOnly),
    PgReadWrite(postgres::ReadWrite),
    PgVerify(postgres::Verify),
    PgSyncSequences(postgres::SyncSequences),
    PgCompareSettings(postgres::CompareSettings),
    PgReplicate(postgres::Replicate),
    PgDropReplication(postgres::DropReplication),
    PgCatchUp(postgres::CatchUp),
}

impl ActionSpec {
    /// The name a playbook uses for this action.
    pub fn name(&self) -> &'static str {
        match self {
            ActionSpec::Shell(_) => "shell",
            ActionSpec::Wait(_) => "wait",
            ActionSpec::Approve(_) => "approve",
            ActionSpec::MaintenanceFile(_) => "maintenance.file",
            ActionSpec::PgCopy(_) => "postgres.copy",
            ActionSpec::PgReadOnly(_) => "postgres.read_only",
            ActionSpec::PgReadWrite(_) => "postgres.read_write",
            ActionSpec::PgVerify(_) => "postgres.verify",
            ActionSpec::PgSyncSequences(_) => "postgres.sync_sequences",
            ActionSpec::PgCompareSettings(_) => "postgres.compare_settings",
            ActionSpec::PgReplicate(_) => "postgres.replicate",
            ActionSpec::PgDropReplication(_) => "postgres.drop_replication",
            ActionSpec::PgCatchUp(_) => "postgres.catch_up",
        }
    }

    /// One imperative line, used by `plan`, the progress display and the journal.
    pub fn describe(&self) -> String {
        match self {
            ActionSpec::Shell(a) => a.describe(),
            ActionSpec::Wait(a) => a.describe(),
            ActionSpec::Approve(a) => a.describe(),
            ActionSpec::MaintenanceFile(a) => a.describe(),
            ActionSpec::PgCopy(a) => a.describe(),
            ActionSpec::PgReadOnly(a) => a.describe(),
            ActionSpec::PgReadWrite(a) => a.describe(),
            ActionSpec::PgVerify(a) => a.describe(),
            ActionSpec::PgSyncSequences(a) => a.describe(),
            ActionSpec::PgCompareSettings(a) => a.describe(),
            ActionSpec::PgReplicate(a) => a.describe(),
            ActionSpec::PgDropReplication(a) => a.describe(),
            ActionSpec::PgCatchUp(a) => a.describe(),
        }
    }

    /// Read-only checks run before `apply`.
    pub async fn preflight(&self, cx: &StepContext<'_>) -> Result<(), ActionFailure> {
        match self {
            ActionSpec::MaintenanceFile(a) => a.preflight(cx),
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
            | ActionSpec::PgCatchUp(_) => Ok(()),
        }
    }

    /// Does the work.
    pub async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        match self {
            ActionSpec::Shell(a) => a.apply(cx).await,
            ActionSpec::Wait(a) => a.apply(cx).await,
            ActionSpec::Approve(a) => a.apply(cx).await,
            ActionSpec::MaintenanceFile(a) => a.apply(cx),
            ActionSpec::PgCopy(a) => a.apply(cx).await,
            ActionSpec::PgReadOnly(a) => a.apply(cx).await,
            ActionSpec::PgReadWrite(a) => a.apply(cx).await,
            ActionSpec::PgVerify(a) => a.apply(cx).await,
            ActionSpec::PgSyncSequences(a) => a.apply(cx).await,
            ActionSpec::PgCompareSettings(a) => a.apply(cx).await,
            ActionSpec::PgReplicate(a) => a.apply(cx).await,
            ActionSpec::PgDropReplication(a) => a.apply(cx).await,
            ActionSpec::PgCatchUp(a) => a.apply(cx).await,
        }
    }

    /// The natural inverse, used as the rollback when a step gives none.
    pub fn inverse(&self) -> Option<ActionSpec> {
        match self {
            ActionSpec::MaintenanceFile(a) => Some(ActionSpec::MaintenanceFile(a.inverse())),
            ActionSpec::PgReadOnly(a) => Some(ActionSpec::PgReadWrite(a.inverse())),
            ActionSpec::PgReplicate(a) => Some(ActionSpec::PgDropReplication(a.inverse())),
            ActionSpec::PgReadWrite(a) => Some(ActionSpec::PgReadOnly(a.inverse())),
            ActionSpec::Shell(_) | ActionSpec::Wait(_) | ActionSpec::Approve(_) => None,
            ActionSpec::PgCopy(_)
            | ActionSpec::PgVerify(_)
            | ActionSpec::PgSyncSequences(_)
            | ActionSpec::PgCompareSettings(_)
            | ActionSpec::PgDropReplication(_)
            | ActionSpec::PgCatchUp(_) => None,
        }
    }

    /// Safe to run again after a crash left its outcome unknown.
    pub fn idempotent(&self) -> bool {
        match self {
            ActionSpec::Shell(_) => false,
            ActionSpec::Wait(_) | ActionSpec::Approve(_) | ActionSpec::MaintenanceFile(_) => true,
            ActionSpec::PgCopy(_)
            | ActionSpec::PgReadOnly(_)
            | ActionSpec::PgReadWrite(_)
            | ActionSpec::PgVerify(_)
            | ActionSpec::PgSyncSequences(_)
            | ActionSpec::PgCompareSettings(_)
            | ActionSpec::PgReplicate(_)
            | ActionSpec::PgDropReplication(_)
            | ActionSpec::PgCatchUp(_) => true,
        }
    }
}
