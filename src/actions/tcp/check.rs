//! `tcp.check`: something accepts connections at `address`.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::actions::{descriptor, Action, ActionFailure, Applied, Descriptor, StepContext};
use crate::duration::{format_duration, DurationText};

fn default_timeout() -> DurationText {
    DurationText(Duration::from_secs(5))
}

/// Parameters of `tcp.check`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TcpCheck {
    /// `host:port`.
    pub address: String,
    #[serde(
        default = "default_timeout",
        deserialize_with = "crate::duration::positive"
    )]
    pub timeout: DurationText,
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "tcp.check",
    TcpCheck,
    "check that an address accepts connections"
);

#[async_trait(?Send)]
impl Action for TcpCheck {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn describe(&self) -> String {
        format!("check {} accepts connections", self.address)
    }

    async fn apply(&self, _cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let started = Instant::now();
        match tokio::time::timeout(
            self.timeout.0,
            tokio::net::TcpStream::connect(&self.address),
        )
        .await
        {
            Ok(Ok(_)) => Ok(Applied {
                data: serde_json::json!({ "connect_ms": started.elapsed().as_millis() as u64 }),
                ..Applied::default()
            }),
            Ok(Err(error)) => {
                Err(anyhow::anyhow!("cannot connect to {}: {error}", self.address).into())
            }
            Err(_) => Err(anyhow::anyhow!(
                "no connection to {} within {}",
                self.address,
                format_duration(self.timeout.0)
            )
            .into()),
        }
    }

    // A check changes nothing.
    fn idempotent(&self) -> bool {
        true
    }

    // A check changes nothing.
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}
