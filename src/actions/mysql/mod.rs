//! MySQL and MariaDB actions, named and shaped like their PostgreSQL twins so a
//! playbook reads the same for both engines.

pub mod catch_up;
pub mod compare_settings;
pub mod copy;
pub mod drop_replication;
pub mod drop_reverse_replication;
pub mod health;
pub mod prewarm;
pub mod read_only;
pub mod read_write;
pub mod ready;
pub mod replica_lag;
pub mod replicate;
pub mod restore;
pub mod reverse_replicate;
pub mod snapshot;
pub mod stragglers;
pub mod verify;

mod archive;
mod catalog;
mod channel;
mod connect;
mod copy_ledger;
mod copy_rows;
mod freeze;
mod measure;
mod position;
mod probe;
mod program;
mod session;
mod tls;

pub use connect::{describe as describe_error, Endpoint};
