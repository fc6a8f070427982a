//! `mysql.restore`:  (being built).

use schemars::JsonSchema;
use serde::Deserialize;

use crate::actions::{ActionFailure, Applied, StepContext};

/// Parameters of `mysql.restore`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Restore {
    pub from: String,
    pub url: String,
}

impl Restore {
    pub fn describe(&self) -> String {
        "mysql.restore".to_string()
    }

    pub async fn apply(&self, _cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        Err(anyhow::anyhow!("mysql.restore is not built yet").into())
    }
}
