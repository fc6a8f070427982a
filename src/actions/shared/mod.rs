//! What the database actions of every engine share: archives written whole or
//! not at all, row and byte meters, host facts, size units, table filters and
//! verify modes, TLS clients and RDS IAM tokens. One concept, one parameter shape, across engines.

pub mod archive;
pub mod aws;
pub mod client;
pub mod cloudwatch;
pub mod command_line;
pub mod endpoint;
pub mod engine;
pub mod freeze;
pub mod health;
pub mod host;
pub mod iam;
pub mod meter;
pub mod moved;
pub mod on_existing;
pub mod poll;
pub mod query;
pub mod readiness;
pub mod replica_lag;
pub mod stragglers;
pub mod tables;
pub mod throughput;
pub mod tls;
pub mod tls_error;
pub mod units;
pub mod verify_mode;
