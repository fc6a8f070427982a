//! Reporters: render the engine's records and progress for people (a live
//! display on a terminal, plain lines otherwise) and machines (JSON lines).

mod html;
mod human;
mod json;
mod markdown;
mod plain;
mod style;
mod summary;

pub use html::html;
pub use human::Human;
pub use json::Json;
pub use markdown::markdown;
pub use plain::Plain;
pub use style::{clock, describe_record, StepTitles};
pub use summary::{Bar, RunSummary};

use crate::actions::Progress;
use crate::journal::Record;

/// Something that watches a run: every journaled record, and transient progress.
pub trait Observer {
    /// A record was journaled (already redacted).
    fn record(&mut self, record: &Record);
    /// A running step reported progress (already redacted).
    fn progress(&mut self, step: &str, progress: &Progress);
    /// A message for the operator that is not an event (a warning, a notice).
    fn notice(&mut self, text: &str);
    /// Runs `f` with the live display hidden, for prompts.
    fn suspend(&mut self, f: &mut dyn FnMut()) {
        f()
    }
}
