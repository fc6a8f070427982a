//! The engine: runs a `Plan` step by step, owns ordering, retries, timeouts,
//! rollback and the journal. It never prints: reporters observe its records.

mod clock;
mod guard;
mod lock;
mod notify;
mod options;
mod resume;
mod rollback;
mod runner;
mod step;

pub use clock::Clock;
pub use lock::{LockError, PlaybookLock};
pub use options::{Decision, RunOptions};
pub use resume::{resume_blocker, rollback_targets};
pub use runner::{Finish, Journal, Runner};
