//! The write canary: numbered commits through the application's address for
//! the length of a run, each acknowledged one looked for on the new server at
//! the end. The engine starts it (`Canary::start`) after the guardrails and
//! ends it (`Canary::finish`) before it journals the run's end.
//!
//! `probe` (the writing thread and the end check) → `store` (the table on
//! PostgreSQL or MySQL) → `verdict` (pure: gaps, missing ids, the line).

mod probe;
mod store;
mod verdict;

pub use probe::{Canary, Checked};
pub use store::Store;
pub use verdict::{expand, ranges, StepSpan, Verdict};
