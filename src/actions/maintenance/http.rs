//! `maintenance.http`: call an application's own maintenance switch, then
//! confirm it took effect. Its own inverse.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::switch::Switch;
use crate::actions::{
    descriptor, Action, ActionFailure, ActionRef, Applied, Descriptor, StepContext,
};

fn default_method() -> String {
    "POST".into()
}

/// How to confirm the switch took effect.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Confirm {
    /// Fetched with GET after the switch.
    pub url: String,
    /// Expected status while maintenance is on (e.g. 503).
    pub status_on: u16,
    /// Expected status while it is off (e.g. 200).
    pub status_off: u16,
}

/// Parameters of `maintenance.http`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceHttp {
    /// The application's maintenance endpoint.
    pub url: String,
    #[serde(default = "default_method")]
    pub method: String,
    /// Headers of the switch call (`Authorization: Bearer ${{ secrets.TOKEN }}`);
    /// their values are never shown.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A PEM file of CA certificates to trust besides the public ones (an
    /// internal CA), for the switch and the confirmation.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// The request body; `{state}` is replaced by `on` or `off`.
    /// Default: `{"maintenance": "on"}` / `"off"` as JSON.
    #[serde(default)]
    pub body: Option<String>,
    pub state: Switch,
    /// Accepted status of the switch call [default: any 2xx].
    #[serde(default)]
    pub expect_status: Option<u16>,
    /// Check that the switch took effect.
    #[serde(default)]
    pub confirm: Option<Confirm>,
}

impl MaintenanceHttp {
    fn word(&self) -> &'static str {
        if self.state == Switch::On {
            "on"
        } else {
            "off"
        }
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "maintenance.http",
    MaintenanceHttp,
    "call an application's maintenance switch and confirm it took effect"
);

#[async_trait(?Send)]
impl Action for MaintenanceHttp {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn describe(&self) -> String {
        format!(
            "turn maintenance {} with {} {}",
            self.word(),
            self.method,
            self.url
        )
    }

    async fn apply(&self, _cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10));
        let client = crate::actions::http::trust::with_ca_file(builder, self.ca_file.as_deref())?
            .build()
            .map_err(anyhow::Error::from)?;
        let method = reqwest::Method::from_bytes(self.method.as_bytes())
            .map_err(|_| anyhow::anyhow!("`{}` is not an HTTP method", self.method))?;
        let body = match &self.body {
            Some(template) => template.replace("{state}", self.word()),
            None => serde_json::json!({ "maintenance": self.word() }).to_string(),
        };
        let mut request = client.request(method, &self.url).body(body);
        if self.body.is_none() {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| {
            anyhow::anyhow!(
                "maintenance switch: {}",
                crate::actions::http::error::http_error(e)
            )
        })?;
        let status = response.status().as_u16();
        let accepted = match self.expect_status {
            Some(expected) => status == expected,
            None => response.status().is_success(),
        };
        if !accepted {
            return Err(anyhow::anyhow!("maintenance switch answered {status}").into());
        }
        if let Some(confirm) = &self.confirm {
            let expected = if self.state == Switch::On {
                confirm.status_on
            } else {
                confirm.status_off
            };
            let seen = client
                .get(&confirm.url)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!("confirming: {}", crate::actions::http::error::http_error(e))
                })?
                .status()
                .as_u16();
            if seen != expected {
                return Err(anyhow::Error::msg(format!(
                    "maintenance {} did not take effect: {} answers {seen}, expected {expected}",
                    self.word(),
                    confirm.url
                ))
                .into());
            }
        }
        Ok(Applied {
            data: serde_json::json!({ "state": self.word(), "status": status }),
            ..Applied::default()
        })
    }

    fn inverse(&self) -> Option<ActionRef> {
        Some(Arc::new(MaintenanceHttp {
            state: self.state.flipped(),
            ..self.clone()
        }))
    }

    /// Maintenance on turns the application's users away.
    fn stops_writes(&self) -> bool {
        self.state == Switch::On
    }

    // Setting the same switch twice lands in the same place.
    fn idempotent(&self) -> bool {
        true
    }

    // A switch sent but not confirmed may have taken effect; the inverse sets it back either way.
    fn undoes_partial_failure(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_never_shows_header_values() {
        let switch: MaintenanceHttp = serde_json::from_value(serde_json::json!({
            "url": "https://app/maintenance",
            "state": "on",
            "headers": { "X-Token": "header-value-2" },
        }))
        .unwrap();
        assert!(!switch.describe().contains("header-value-2"));
        assert!(!switch
            .inverse()
            .unwrap()
            .describe()
            .contains("header-value-2"));
    }
}
