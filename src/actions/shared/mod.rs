//! What the database actions of every engine share: archives written whole or
//! not at all, row and byte meters, host facts, size units, table filters and
//! verify modes. One concept, one parameter shape, across engines.

pub mod archive;
pub mod aws;
pub mod client;
pub mod command_line;
pub mod freeze;
pub mod host;
pub mod meter;
pub mod on_existing;
pub mod tables;
pub mod units;
pub mod verify_mode;
