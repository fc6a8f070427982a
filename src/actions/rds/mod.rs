//! AWS RDS through aws-sdk-rds: snapshots, restores, read replicas and their
//! promotion, scale-ups, a capacity comparison and waits — all behind
//! `RdsApi`, so the waiting and state logic is tested with a fake.

pub mod blue_green;
pub mod blue_green_delete;
pub mod blue_green_switchover;
pub mod compare;
pub mod delete_instance;
pub mod delete_snapshot;
pub mod modify;
pub mod promote;
pub mod proxy_swap;
pub mod read_replica;
pub mod restore;
pub mod snapshot;
pub mod wait;

mod api;
mod aws;
mod blue_green_api;
mod classes;
#[cfg(test)]
mod fake;
mod lag_check;
mod poll;
mod proxy_api;
mod sdk;
#[cfg(test)]
mod tests;

pub use api::RdsApi;
