//! PostgreSQL actions: copy, logical replication, freezes, verification and
//! preflight checks, over tokio-postgres (SQL and COPY) and the PostgreSQL
//! client tools where they are the right tool (schema sections, archives).

mod catch_up;
mod compare_settings;
mod connect;
mod copy;
mod copy_progress;
mod freeze;
mod health;
mod replicate;
mod restore;
mod reverse;
mod size;
mod snapshot;
mod sync_sequences;
mod tables;
mod tool;
mod verify;

pub use catch_up::CatchUp;
pub use compare_settings::CompareSettings;
pub use connect::{describe as describe_error, Endpoint};
pub use copy::{human_bytes, parse_rate, Copy, OnExisting};
pub use freeze::{ReadOnly, ReadWrite};
pub use health::Health;
pub use replicate::{DropReplication, Replicate};
pub use restore::{Restore, RestoreOnExisting};
pub use reverse::{DropReverseReplication, ReverseReplicate};
pub use size::ByteSize;
pub use snapshot::Snapshot;
pub use sync_sequences::SyncSequences;
pub use tables::TableFilter;
pub use verify::Verify;
