//! `maintenance.command`: turn maintenance on and off with commands of the
//! operator's own (a feature flag CLI, a config push). Its own inverse.

use schemars::JsonSchema;
use serde::Deserialize;

use super::maintenance_file::Switch;
use super::{ActionFailure, Applied, Shell, StepContext};

fn on() -> Switch {
    Switch::On
}

/// Parameters of `maintenance.command`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceCommand {
    /// Run (with bash) to turn maintenance on.
    pub on: String,
    /// Run to turn it off.
    pub off: String,
    /// Which of the two this step does.
    #[serde(default = "on")]
    pub state: Switch,
}

impl MaintenanceCommand {
    fn command(&self) -> Shell {
        let run = match self.state {
            Switch::On => self.on.clone(),
            Switch::Off => self.off.clone(),
        };
        Shell {
            run,
            cwd: None,
            env: Default::default(),
        }
    }

    pub fn describe(&self) -> String {
        let state = if self.state == Switch::On {
            "on"
        } else {
            "off"
        };
        format!("turn maintenance {state}: {}", self.command().describe())
    }

    pub fn inverse(&self) -> MaintenanceCommand {
        MaintenanceCommand {
            state: self.state.flipped(),
            ..self.clone()
        }
    }

    pub async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        self.command().apply(cx).await
    }
}
