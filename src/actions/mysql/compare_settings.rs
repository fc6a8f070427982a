//! `mysql.compare_settings`:  (being built).

use schemars::JsonSchema;
use serde::Deserialize;

use crate::actions::{ActionFailure, Applied, StepContext};

/// Parameters of `mysql.compare_settings`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareSettings {
    pub source: String,
    pub target: String,
}

impl CompareSettings {
    pub fn describe(&self) -> String {
        "mysql.compare_settings".to_string()
    }

    pub async fn apply(&self, _cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        Err(anyhow::anyhow!("mysql.compare_settings is not built yet").into())
    }
}
