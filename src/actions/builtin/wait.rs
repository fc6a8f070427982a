//! `wait`: pause for a fixed time (let caches drain, DNS TTLs expire).

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};
use crate::duration::{format_duration, DurationText};

/// Parameters of `wait`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Wait {
    /// How long to wait, e.g. `30s`.
    pub duration: DurationText,
}

pub static DESCRIPTOR: Descriptor = descriptor!("wait", Wait, "pause for a fixed time");

#[async_trait(?Send)]
impl Action for Wait {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn describe(&self) -> String {
        format!("wait {}", format_duration(self.duration.0))
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let total = self.duration.0.as_millis() as u64;
        let started = tokio::time::Instant::now();
        let tick = std::time::Duration::from_millis(250);
        loop {
            let elapsed = started.elapsed().as_millis() as u64;
            cx.report(Progress::Amount {
                done: elapsed.min(total),
                total: Some(total),
                unit: "ms",
            });
            if elapsed >= total {
                return Ok(Applied::default());
            }
            tokio::time::sleep(tick.min(std::time::Duration::from_millis(total - elapsed))).await;
        }
    }

    // Waiting again only waits.
    fn idempotent(&self) -> bool {
        true
    }

    // Waits and changes nothing.
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}
