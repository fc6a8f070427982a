//! `approve`: a manual gate. The run goes on only when an operator approves,
//! at the prompt (typing the step id) or ahead of time with `--approve STEP`.

use anyhow::anyhow;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{ActionFailure, Applied, StepContext};

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

impl Approve {
    pub fn describe(&self) -> String {
        format!("ask an operator: {}", self.text)
    }

    pub async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
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
}
