//! The freeze shared by `mysql.read_only` and `mysql.read_write`, each the
//! other's inverse: their parameters, and which threads are clients.
//!
//! One parameter type, `Freeze<D>`, serves both actions, `D` saying which: each
//! action builds its inverse as `Freeze<Other>` without naming the other's
//! module, so the two files do not import each other.

use std::marker::PhantomData;

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

/// `mysql.read_only` (`Freeze<Frozen>`) or `mysql.read_write` (`Freeze<Thawed>`).
#[derive(Debug, Clone, PartialEq)]
pub struct Freeze<D> {
    pub params: FreezeParams,
    direction: PhantomData<D>,
}

/// Writes stopped: `mysql.read_only`.
#[derive(Debug, Clone, PartialEq)]
pub enum Frozen {}

/// Writes allowed again: `mysql.read_write`.
#[derive(Debug, Clone, PartialEq)]
pub enum Thawed {}

impl<D> Freeze<D> {
    pub fn new(params: FreezeParams) -> Self {
        Self {
            params,
            direction: PhantomData,
        }
    }

    /// The same server, the other way.
    pub fn reversed<E>(&self) -> Freeze<E> {
        Freeze::new(self.params.clone())
    }
}

impl<'de, D> Deserialize<'de> for Freeze<D> {
    fn deserialize<De: serde::Deserializer<'de>>(deserializer: De) -> Result<Self, De::Error> {
        FreezeParams::deserialize(deserializer).map(Freeze::new)
    }
}

impl<D> JsonSchema for Freeze<D> {
    fn schema_name() -> String {
        FreezeParams::schema_name()
    }

    fn json_schema(generator: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        FreezeParams::json_schema(generator)
    }
}
