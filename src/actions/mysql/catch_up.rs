//! `mysql.catch_up`:  (being built).

use schemars::JsonSchema;
use serde::Deserialize;

use crate::actions::{ActionFailure, Applied, StepContext};

/// Parameters of `mysql.catch_up`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CatchUp {
    pub source: String,
    pub target: String,
}

impl CatchUp {
    pub fn describe(&self) -> String {
        "mysql.catch_up".to_string()
    }

    pub async fn apply(&self, _cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        Err(anyhow::anyhow!("mysql.catch_up is not built yet").into())
    }
}
