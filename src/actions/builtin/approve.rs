//! `approve`: a manual gate. The run goes on only when an operator approves,
//! at the prompt (typing the step id) or ahead of time with `--approve STEP`.

use anyhow::anyhow;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::actions::{descriptor, Action, ActionFailure, Applied, Descriptor, StepContext};

/// Parameters of `approve`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approve {
    /// The question put to the operator.
    #[serde(default = "default_text")]
    pub text: String,
}

fn default_text() -> String {
    "Continue?".into()
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "approve",
    Approve,
    "a manual gate: an operator must approve before the run goes on"
);

#[async_trait(?Send)]
impl Action for Approve {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn describe(&self) -> String {
        format!("ask an operator: {}", self.text)
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let approval = cx
            .input
            .approve(cx.step, &self.text)
            .await
            .map_err(|why| anyhow!("not approved: {why}"))?;
        Ok(Applied {
            data: serde_json::json!({ "operator": approval.operator, "how": approval.how }),
            ..Applied::default()
        })
    }

    // Asking again only asks.
    fn idempotent(&self) -> bool {
        true
    }

    // Asks and changes nothing: nothing to undo.
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}
