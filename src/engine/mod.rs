//! The engine: runs a `Plan` step by step, owns ordering, retries, timeouts,
//! rollback and the journal. It never prints: reporters observe its records.
//!
//! Top to bottom: `runner` (the state machine) → `resume` → `guard`, `rollback`
//! and `go_back` (past the point of no return, the playbook's way back) →
//! `undo` (compensations, for both) → `step` (`Executor`: attempts of one action call) → `recorder` (journal,
//! state, observer) → `notify`, `stop` (`Finish`, `Stop`). Nothing imports
//! upward.

mod budget;
mod canary;
mod clock;
mod go_back;
mod guard;
mod lock;
mod notify;
mod options;
mod recorder;
mod resume;
mod rollback;
mod runner;
mod slow;
mod step;
mod stop;
#[cfg(test)]
mod tests;
mod undo;

pub use clock::Clock;
pub use lock::{host_lock_dir, LockError, PlaybookLock};
pub use options::{Decision, RunOptions};
pub use recorder::Journal;
pub use resume::{leftovers, resume_blocker, rollback_targets};
pub use runner::Runner;
pub use stop::Finish;
