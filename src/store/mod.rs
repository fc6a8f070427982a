//! The shared state store (`--state postgres://…`, `CUTOVER_STATE`): run
//! state, locks and approvals in a PostgreSQL database of the operator's
//! choice, so every operator on every host sees every run and no two drive
//! the same database. The local state directory stays the default; with a
//! store it becomes a working copy, brought up to date from the store by
//! each command (pull.rs).
//!
//! ```text
//! cutover.schema_version   the migrations applied (schema.rs)
//! cutover.runs             one row per run: who, where, playbook, vars, head, heartbeat
//! cutover.events           one row per journal line, its exact text (hash chain included)
//! cutover.approvals        one row per operator and gate
//! cutover.locks            who holds each advisory lock
//! ```

mod approvals;
mod client;
mod locks;
mod mirror;
mod pull;
mod runs;
pub mod schema;

pub use client::Store;
pub use locks::{Held, Holder};
pub use mirror::StoreMirror;
pub use pull::Pull;
pub use runs::{NewRun, StoredRun, HEARTBEAT};
