//! MySQL and MariaDB actions, named and shaped like their PostgreSQL twins so a
//! playbook reads the same for both engines.

mod archive;
mod catalog;
mod catch_up;
mod compare_settings;
mod connect;
mod copy;
mod copy_ledger;
mod copy_rows;
mod freeze;
mod position;
mod program;
mod replicate;
mod restore;
mod snapshot;
mod verify;

pub use catch_up::CatchUp;
pub use compare_settings::CompareSettings;
pub use connect::{describe as describe_error, Endpoint};
pub use copy::Copy;
pub use freeze::{ReadOnly, ReadWrite};
pub use replicate::{DropReplication, Replicate};
pub use restore::Restore;
pub use snapshot::Snapshot;
pub use verify::Verify;
