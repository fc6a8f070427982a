//! `mysql.snapshot`:  (being built).

use schemars::JsonSchema;
use serde::Deserialize;

use crate::actions::{ActionFailure, Applied, StepContext};

/// Parameters of `mysql.snapshot`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    pub url: String,
    pub to: String,
}

impl Snapshot {
    pub fn describe(&self) -> String {
        "mysql.snapshot".to_string()
    }

    pub async fn apply(&self, _cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        Err(anyhow::anyhow!("mysql.snapshot is not built yet").into())
    }
}
