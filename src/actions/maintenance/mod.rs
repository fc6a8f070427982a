//! Maintenance mode: a flag file, an application's HTTP switch, or commands of
//! the operator's own; each its own inverse.

pub mod command;
pub mod file;
pub mod http;
mod switch;
