//! The freeze shared by `mysql.read_only` and `mysql.read_write`, each the
//! other's inverse: their parameters, and which threads are clients.

use schemars::JsonSchema;
use serde::Deserialize;

/// Threads that are not clients: replication and the server's own.
pub const NOT_CLIENTS: &str =
    "('Binlog Dump', 'Binlog Dump GTID', 'Daemon', 'Slave_IO', 'Slave_SQL', 'Slave_worker')";

/// Parameters of `mysql.read_only` and `mysql.read_write`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "MysqlFreeze")]
pub struct FreezeParams {
    /// `mysql://user:password@host:port/db` of the server to freeze or thaw.
    pub url: String,
    /// When freezing, kill the client connections so open transactions cannot
    /// go on writing (default).
    #[serde(default = "yes")]
    pub terminate: bool,
}

fn yes() -> bool {
    true
}
