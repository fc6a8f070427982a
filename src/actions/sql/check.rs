//! `sql.check`: a query must answer, and (optionally) answer `expect` — a smoke
//! check through the application's own database address (e.g. HAProxy's port).

use std::time::Instant;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::actions::postgres::Endpoint;
use crate::actions::shared::engine::Engine;
use crate::actions::{descriptor, Action, ActionFailure, Applied, Descriptor, StepContext};

fn select_one() -> String {
    "SELECT 1".into()
}

/// Parameters of `sql.check`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlCheck {
    /// A `postgres://` or `mysql://` URL.
    pub url: String,
    /// Run as is; its first column of its first row is compared with `expect`.
    #[serde(default = "select_one")]
    pub query: String,
    /// The expected value, as text; omitted: any answer will do.
    #[serde(default)]
    pub expect: Option<String>,
}

impl SqlCheck {
    /// The first column of the first row, as text ("NULL" for NULL).
    async fn first_value_postgres(&self) -> anyhow::Result<Option<String>> {
        // As the application sees the database: a check must be able to see a freeze.
        let endpoint = Endpoint::as_the_application(&self.url)?;
        let client = endpoint.connect().await?;
        let messages = client.simple_query(&self.query).await.map_err(|e| {
            anyhow::anyhow!(
                "`{}` failed on {}: {}",
                self.query,
                endpoint.label(),
                crate::actions::postgres::describe_error(&e)
            )
        })?;
        Ok(messages.iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => {
                Some(row.get(0).unwrap_or("NULL").to_string())
            }
            _ => None,
        }))
    }

    async fn first_value_mysql(&self) -> anyhow::Result<Option<String>> {
        use mysql_async::prelude::Queryable;
        let url = self.url.replacen("mariadb://", "mysql://", 1);
        let endpoint = crate::actions::mysql::Endpoint::parse(&url)?;
        let mut conn = endpoint.connect().await?;
        let row: Option<mysql_async::Row> = conn.query_first(&self.query).await.map_err(|e| {
            anyhow::anyhow!(
                "`{}` failed on {}: {}",
                self.query,
                endpoint.label(),
                crate::actions::mysql::describe_error(&e)
            )
        })?;
        Ok(row.map(|row| match row.as_ref(0) {
            None | Some(mysql_async::Value::NULL) => "NULL".to_string(),
            Some(mysql_async::Value::Bytes(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
            Some(other) => other.as_sql(false).trim_matches('\'').to_string(),
        }))
    }
}

pub static DESCRIPTOR: Descriptor =
    descriptor!("sql.check", SqlCheck, "run a query and compare its answer");

#[async_trait(?Send)]
impl Action for SqlCheck {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn describe(&self) -> String {
        let expect = self
            .expect
            .as_ref()
            .map(|e| format!(" = `{e}`"))
            .unwrap_or_default();
        format!(
            "check `{}`{expect} on {}",
            self.query,
            crate::redact::redact_urls(&self.url)
        )
    }

    async fn apply(&self, _cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let started = Instant::now();
        let first = match Engine::of(&self.url) {
            Some(Engine::Postgres) => self.first_value_postgres().await?,
            Some(Engine::Mysql) => self.first_value_mysql().await?,
            None => {
                return Err(anyhow::anyhow!(
                    "sql.check supports postgres:// and mysql:// URLs, not `{}`",
                    crate::redact::redact_urls(&self.url)
                )
                .into())
            }
        };
        if let Some(expected) = &self.expect {
            match &first {
                Some(value) if value == expected => {}
                Some(value) => {
                    return Err(anyhow::anyhow!(
                        "`{}` answered `{value}`, expected `{expected}`",
                        self.query
                    )
                    .into())
                }
                None => {
                    return Err(anyhow::anyhow!(
                        "`{}` returned no row, expected `{expected}`",
                        self.query
                    )
                    .into())
                }
            }
        }
        Ok(Applied {
            data: serde_json::json!({ "value": first, "ms": started.elapsed().as_millis() as u64 }),
            output_tail: first,
            ..Applied::default()
        })
    }

    // A check runs its query again; it is meant to read, not to write.
    fn idempotent(&self) -> bool {
        true
    }

    // A check runs a query meant to read; it has no inverse.
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}
