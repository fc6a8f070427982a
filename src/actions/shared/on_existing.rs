//! What a copy or a restore does with a target that already holds data: one
//! shape for every engine.

use schemars::JsonSchema;
use serde::Deserialize;

/// What to do when the target already has tables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnExisting {
    /// Refuse to touch a target that has tables (default).
    #[default]
    Fail,
    /// Keep the target's schema, empty its tables and copy the rows into them.
    Truncate,
}

/// What to do when the target of a restore already holds objects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RestoreOnExisting {
    /// Refuse to touch a target that holds tables, views, functions or types (default).
    #[default]
    Fail,
    /// Remove what is there first (PostgreSQL: the archive's objects, with
    /// `pg_restore --clean --if-exists`; MySQL: every table, view, routine and
    /// event of the database).
    Clean,
}
