//! `maintenance.command`: turn maintenance on and off with commands of the
//! operator's own (a feature flag CLI, a config push). Its own inverse.

use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::switch::Switch;
use crate::actions::builtin::shell::Shell;
use crate::actions::{
    descriptor, Action, ActionFailure, ActionRef, Applied, Descriptor, StepContext,
};

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
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "maintenance.command",
    MaintenanceCommand,
    "turn maintenance on or off with commands of your own"
);

#[async_trait(?Send)]
impl Action for MaintenanceCommand {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn describe(&self) -> String {
        let state = if self.state == Switch::On {
            "on"
        } else {
            "off"
        };
        format!("turn maintenance {state}: {}", self.command().describe())
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        self.command().apply(cx).await
    }

    fn inverse(&self) -> Option<ActionRef> {
        Some(Arc::new(MaintenanceCommand {
            state: self.state.flipped(),
            ..self.clone()
        }))
    }

    /// Maintenance on turns the application's users away.
    fn stops_writes(&self) -> bool {
        self.state == Switch::On
    }

    // The commands are the operator's own: nobody knows whether they may run twice.
    fn idempotent(&self) -> bool {
        false
    }

    // The operator's commands: whether `off` may follow a half-run `on` is theirs to know (see the doc page).
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}
