//! cutover: runs database migration cutovers from YAML playbooks.
//!
//! Flow: `playbook` (text → model) → `plan` (resolved, type-checked steps) →
//! `engine` (ordering, rollback, journal) → `report` (renders events). `cli` ties
//! them to the command line.

pub mod actions;
pub mod canary;
pub mod cli;
pub mod engine;
pub mod journal;
pub mod plan;
pub mod playbook;
pub mod report;
pub mod store;

// Leaves: imported from every floor, importing nothing of the crate.
pub mod duration;
pub mod files;
pub mod process;
pub mod redact;
