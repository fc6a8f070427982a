//! `Clock`: the time windows are checked against. `--now` fixes where it
//! starts (rehearsals, tests); it then advances with real time.

use std::time::Instant;

use jiff::Timestamp;

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Timestamp,
    started: Instant,
    fixed: bool,
}

impl Clock {
    pub fn system() -> Self {
        Self {
            origin: Timestamp::now(),
            started: Instant::now(),
            fixed: false,
        }
    }

    /// `--now`: journaled, since it decides what the window allows.
    pub fn starting_at(origin: Timestamp) -> Self {
        Self {
            origin,
            started: Instant::now(),
            fixed: true,
        }
    }

    /// Where a fixed clock started, for the journal.
    pub fn fixed_at(&self) -> Option<String> {
        self.fixed.then(|| self.origin.to_string())
    }

    pub fn now(&self) -> Timestamp {
        let elapsed = jiff::SignedDuration::try_from(self.started.elapsed()).unwrap_or_default();
        self.origin.saturating_add(elapsed).unwrap_or(self.origin)
    }
}
