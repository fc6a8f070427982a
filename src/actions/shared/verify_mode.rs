//! `VerifyMode`: how closely a verify compares two databases, the same for
//! every engine.

use schemars::JsonSchema;
use serde::Deserialize;

/// How closely to compare.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VerifyMode {
    /// Row counts per table.
    #[default]
    Counts,
    /// Row counts and an order-independent hash of every row, computed inside
    /// each server.
    Checksum,
}
