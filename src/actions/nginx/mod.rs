//! nginx: point an upstream at other servers.

pub mod swap;
mod upstream;
