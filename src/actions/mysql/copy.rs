//! `mysql.copy`:  (being built).

use schemars::JsonSchema;
use serde::Deserialize;

use crate::actions::{ActionFailure, Applied, StepContext};

/// Parameters of `mysql.copy`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Copy {
    pub source: String,
    pub target: String,
}

impl Copy {
    pub fn describe(&self) -> String {
        "mysql.copy".to_string()
    }

    pub async fn apply(&self, _cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        Err(anyhow::anyhow!("mysql.copy is not built yet").into())
    }
}
