//! The engine: runs a `Plan` step by step, owns ordering, retries, timeouts,
//! rollback and the journal. It never prints: reporters observe its records.

mod lock;
mod options;
mod resume;
mod rollback;
mod runner;
mod step;

pub use lock::{LockError, PlaybookLock};
pub use options::{Decision, RunOptions};
pub use resume::{resume_blocker, rollback_targets};
pub use runner::{Finish, Journal, Runner};
