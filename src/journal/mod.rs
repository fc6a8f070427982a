//! The journal: one directory per run holding `journal.jsonl`, an append-only,
//! hash-chained, fsynced list of events. It is the run's state: `resume`,
//! `rollback` and `audit` read nothing else.

pub mod approvals;
mod event;
mod history;
mod layout;
mod proof;
mod reader;
mod record;
mod replay;
pub mod sign;
mod writer;

pub use event::{Event, Mode, Outcome};
pub use history::{durations_of, step_durations, step_runs, StepRun};
pub use layout::{new_run_id, RunDir, StateDir};
pub use proof::CanaryVerdict;
pub use reader::{read, verify, Verification};
pub use record::Record;
pub use replay::{replay, PendingRollback, RunState, StepStatus};
pub use sign::Signer;
pub use writer::{Mirror, Writer};
