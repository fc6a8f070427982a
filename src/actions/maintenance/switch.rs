//! `Switch`: the `state: on | off` every maintenance action takes.

use schemars::JsonSchema;
use serde::Deserialize;

/// `on` or `off`. YAML 1.1 tools read a bare `on` as `true`, so booleans are
/// accepted too rather than failing a playbook a linter rewrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Switch {
    On,
    Off,
}

impl Switch {
    pub fn flipped(self) -> Switch {
        match self {
            Switch::On => Switch::Off,
            Switch::Off => Switch::On,
        }
    }
}

impl<'de> Deserialize<'de> for Switch {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::Bool(true) => Ok(Switch::On),
            serde_json::Value::Bool(false) => Ok(Switch::Off),
            serde_json::Value::String(s) if s == "on" => Ok(Switch::On),
            serde_json::Value::String(s) if s == "off" => Ok(Switch::Off),
            other => Err(serde::de::Error::custom(format!(
                "expected `on` or `off`, found {other}"
            ))),
        }
    }
}
