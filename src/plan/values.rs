//! `Values`: what templates resolve against — the playbook's vars, the
//! environment, and the secrets (environment variables shown only as `***`).

use std::collections::BTreeMap;

use crate::playbook::template::{self, Reference, RenderError, Scope};
use crate::redact::MASK;

/// Shortest secret value accepted: masking `ab` would mask every `ab` printed.
pub const MIN_SECRET_LEN: usize = 4;

/// How to treat environment variables that are not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvMode {
    /// `run`: every referenced variable must be set.
    Strict,
    /// `validate` and `plan`: connect to nothing, need nothing; unset values show
    /// as `<unset NAME>` and secrets as `***`.
    Lenient,
}

#[derive(Debug, Clone)]
pub struct Values {
    /// Each var rendered, or why it could not be (an unset environment variable):
    /// the error surfaces wherever the var is used, never its raw template.
    vars: BTreeMap<String, Result<String, String>>,
    secrets: Vec<String>,
    mode: EnvMode,
    env: BTreeMap<String, String>,
}

impl Values {
    pub fn new(vars: &[(String, String)], secrets: &[String], mode: EnvMode) -> Self {
        Self::with_env(vars, secrets, mode, std::env::vars().collect())
    }

    pub fn with_env(
        vars: &[(String, String)],
        secrets: &[String],
        mode: EnvMode,
        env: BTreeMap<String, String>,
    ) -> Self {
        let mut values = Self {
            vars: BTreeMap::new(),
            secrets: secrets.to_vec(),
            mode,
            env,
        };
        // Vars may use env and secrets (not other vars: no order, no cycles).
        let resolved: BTreeMap<String, Result<String, String>> = vars
            .iter()
            .map(|(name, text)| {
                let value = values
                    .render(text)
                    .map_err(|error| format!("var `{name}`: {error}"));
                (name.clone(), value)
            })
            .collect();
        values.vars = resolved;
        values
    }

    /// A secret whose value is set but too short to mask safely, if any.
    pub fn short_secret(&self) -> Option<&str> {
        if self.mode != EnvMode::Strict {
            return None;
        }
        self.secrets
            .iter()
            .find(|name| {
                self.env
                    .get(*name)
                    .is_some_and(|v| !v.is_empty() && v.chars().count() < MIN_SECRET_LEN)
            })
            .map(String::as_str)
    }

    pub fn has_var(&self, name: &str) -> bool {
        self.vars.contains_key(name)
    }

    pub fn is_secret(&self, name: &str) -> bool {
        self.secrets.iter().any(|s| s == name)
    }

    /// The values of the secrets that are set, for the redactor.
    pub fn secret_values(&self) -> Vec<String> {
        self.secrets
            .iter()
            .filter_map(|name| self.env.get(name).cloned())
            .collect()
    }

    /// Resolves one reference, or says why it cannot be.
    pub fn lookup(&self, reference: &Reference) -> Result<String, String> {
        let name = &reference.name;
        match reference.scope {
            Scope::Vars => match self.vars.get(name) {
                Some(value) => value.clone(),
                None => Err(format!("undefined var `{name}`")),
            },
            Scope::Secrets if !self.is_secret(name) => {
                Err(format!("`{name}` is not listed under `secrets`"))
            }
            Scope::Env | Scope::Secrets => match (self.env.get(name), self.mode) {
                (Some(value), EnvMode::Strict) => Ok(value.clone()),
                (_, EnvMode::Lenient) if self.is_secret(name) => Ok(MASK.to_string()),
                (Some(value), EnvMode::Lenient) => Ok(value.clone()),
                (None, EnvMode::Lenient) => Ok(format!("<unset {name}>")),
                (None, EnvMode::Strict) => Err(format!(
                    "environment variable `{name}` is not set{}",
                    if self.is_secret(name) {
                        " (it is listed under `secrets`)"
                    } else {
                        ""
                    }
                )),
            },
        }
    }

    /// Renders a string's templates.
    pub fn render(&self, text: &str) -> Result<String, String> {
        template::render(text, |reference| self.lookup(reference)).map_err(|error| match error {
            RenderError::Syntax(message) | RenderError::Lookup(message) => message,
        })
    }

    /// Renders every string inside a JSON value; the first error wins.
    pub fn render_json(&self, value: &serde_json::Value) -> Result<serde_json::Value, String> {
        use serde_json::Value;
        Ok(match value {
            Value::String(s) => Value::String(self.render(s)?),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.render_json(v))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.render_json(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => other.clone(),
        })
    }

    pub fn var_names(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }
}
