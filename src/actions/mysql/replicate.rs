//! `mysql.replicate`:  (being built).

use schemars::JsonSchema;
use serde::Deserialize;

use crate::actions::{ActionFailure, Applied, StepContext};

/// Parameters of `mysql.replicate`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Replicate {
    pub source: String,
    pub target: String,
}

impl Replicate {
    pub fn describe(&self) -> String {
        "mysql.replicate".to_string()
    }

    pub async fn apply(&self, _cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        Err(anyhow::anyhow!("mysql.replicate is not built yet").into())
    }
}

/// Parameters of `mysql.drop_replication`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DropReplication {
    pub source: String,
    pub target: String,
}

impl DropReplication {
    pub fn describe(&self) -> String {
        "mysql.drop_replication".to_string()
    }

    pub async fn apply(&self, _cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        Err(anyhow::anyhow!("mysql.drop_replication is not built yet").into())
    }
}

impl Replicate {
    pub fn inverse(&self) -> DropReplication {
        DropReplication {
            source: self.source.clone(),
            target: self.target.clone(),
        }
    }
}
