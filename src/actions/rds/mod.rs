//! AWS RDS through aws-sdk-rds: snapshots, restores, read replicas and their
//! promotion, scale-ups, a capacity comparison and waits — all behind
//! `RdsApi`, so the waiting and state logic is tested with a fake.

mod api;
mod aws;
mod classes;
mod compare;
mod delete;
#[cfg(test)]
mod fake;
mod modify;
mod poll;
mod replica;
mod restore;
mod sdk;
mod snapshot;
#[cfg(test)]
mod tests;
mod wait;

pub use api::{RdsApi, RdsError};
pub use compare::RdsCompare;
pub use delete::{RdsDeleteInstance, RdsDeleteSnapshot};
pub use modify::RdsModify;
pub use replica::{RdsPromote, RdsReadReplica};
pub use restore::RdsRestore;
pub use snapshot::RdsSnapshot;
pub use wait::RdsWait;
