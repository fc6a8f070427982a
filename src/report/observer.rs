//! `Observer`: what watches a run — the live display, plain lines, JSON lines —
//! fed every journaled record and transient progress by the engine.

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
