//! `Clock`: the time windows are checked against. `--now` fixes where it
//! starts (rehearsals, tests); it then advances with real time.

use std::time::Instant;

use jiff::Timestamp;

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Timestamp,
    started: Instant,
}

impl Clock {
    pub fn system() -> Self {
        Self::starting_at(Timestamp::now())
    }

    pub fn starting_at(origin: Timestamp) -> Self {
        Self {
            origin,
            started: Instant::now(),
        }
    }

    pub fn now(&self) -> Timestamp {
        let elapsed = jiff::SignedDuration::try_from(self.started.elapsed()).unwrap_or_default();
        self.origin.saturating_add(elapsed).unwrap_or(self.origin)
    }
}
