//! PostgreSQL actions: copy, logical replication, freezes, verification and
//! preflight checks, over tokio-postgres (SQL and COPY) and the PostgreSQL
//! client tools where they are the right tool (schema sections, archives).

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
pub mod sync_sequences;
pub mod verify;

mod catalog;
mod connect;
mod conninfo;
mod copy_builds;
mod copy_plan;
mod copy_progress;
mod error;
mod fingerprint;
mod freeze;
mod handshake;
mod measure;
mod schema_guard;
mod session;
mod tables;
mod tls;
mod tool;

pub use connect::{describe as describe_error, Endpoint};
