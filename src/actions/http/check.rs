//! `http.check`: a smoke check — `requests` requests, `concurrency` at a time,
//! each must answer `expect_status` (and contain `expect_body`), and the 95th
//! percentile latency must stay under `p95_below`. Reports p50/p95/max.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::stream::{self, StreamExt};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};
use crate::duration::{format_duration, DurationText};

fn one() -> u32 {
    1
}

fn default_status() -> u16 {
    200
}

fn default_method() -> String {
    "GET".into()
}

fn default_timeout() -> DurationText {
    DurationText(Duration::from_secs(10))
}

/// Parameters of `http.check`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    pub url: String,
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default = "default_status")]
    pub expect_status: u16,
    /// Text every response body must contain.
    #[serde(default)]
    pub expect_body: Option<String>,
    #[serde(default = "one")]
    pub requests: u32,
    #[serde(default = "one")]
    pub concurrency: u32,
    /// Fail when the 95th percentile latency is at or above this.
    #[serde(default, deserialize_with = "crate::duration::positive_option")]
    pub p95_below: Option<DurationText>,
    /// Per request.
    #[serde(
        default = "default_timeout",
        deserialize_with = "crate::duration::positive"
    )]
    pub timeout: DurationText,
    /// Headers sent with every request (`Authorization: Bearer ${{ secrets.TOKEN }}`);
    /// their values are never shown.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A PEM file of CA certificates to trust besides the public ones (an
    /// internal CA).
    #[serde(default)]
    pub ca_file: Option<String>,
}

/// What one request found.
type Answer = Result<Duration, String>;

impl HttpCheck {
    async fn one(&self, client: &reqwest::Client, method: &reqwest::Method) -> Answer {
        let started = Instant::now();
        let mut request = client.request(method.clone(), &self.url);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(super::error::http_error)?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(super::error::http_error)?;
        let elapsed = started.elapsed();
        if status != self.expect_status {
            return Err(format!("status {status}, expected {}", self.expect_status));
        }
        if let Some(expected) = &self.expect_body {
            if !body.contains(expected.as_str()) {
                return Err(format!("body lacks `{expected}`"));
            }
        }
        Ok(elapsed)
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "http.check",
    HttpCheck,
    "smoke check: status, body and p95 latency over many requests"
);

#[async_trait(?Send)]
impl Action for HttpCheck {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn describe(&self) -> String {
        let p95 = self
            .p95_below
            .map(|p| format!(", p95 under {}", format_duration(p.0)))
            .unwrap_or_default();
        format!(
            "check {} {} answers {} ({} requests{p95})",
            self.method, self.url, self.expect_status, self.requests
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let builder = reqwest::Client::builder()
            // A smoke check sees the status the service answers, redirects included.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout.0);
        let client = super::trust::with_ca_file(builder, self.ca_file.as_deref())?
            .build()
            .map_err(anyhow::Error::from)?;
        let method = reqwest::Method::from_bytes(self.method.as_bytes())
            .map_err(|_| anyhow::anyhow!("`{}` is not an HTTP method", self.method))?;
        if self.requests == 0 {
            return Err(anyhow::anyhow!("`requests` must be at least 1").into());
        }
        let total = self.requests;
        let mut answers: Vec<Answer> = Vec::with_capacity(total as usize);
        let mut results = stream::iter(0..total)
            .map(|_| self.one(&client, &method))
            .buffer_unordered(self.concurrency.max(1) as usize);
        while let Some(answer) = results.next().await {
            answers.push(answer);
            cx.report(Progress::Amount {
                done: answers.len() as u64,
                total: Some(u64::from(total)),
                unit: "requests",
            });
        }
        let mut latencies: Vec<Duration> = answers
            .iter()
            .filter_map(|a| a.as_ref().ok().copied())
            .collect();
        latencies.sort();
        let failures: Vec<&String> = answers.iter().filter_map(|a| a.as_ref().err()).collect();
        let at = |p: f64| {
            latencies
                .get(((latencies.len().saturating_sub(1)) as f64 * p).round() as usize)
                .copied()
                .unwrap_or_default()
        };
        let (p50, p95, max) = (
            at(0.5),
            at(0.95),
            latencies.last().copied().unwrap_or_default(),
        );
        let summary = format!(
            "{} requests: {} failed; p50 {}, p95 {}, max {}",
            total,
            failures.len(),
            format_duration(p50),
            format_duration(p95),
            format_duration(max)
        );
        cx.report(Progress::Output(summary.clone()));
        let data = serde_json::json!({
            "requests": total, "failures": failures.len(),
            "p50_ms": p50.as_millis() as u64, "p95_ms": p95.as_millis() as u64, "max_ms": max.as_millis() as u64,
        });
        if let Some(first) = failures.first() {
            return Err(
                ActionFailure::from(anyhow::anyhow!("{summary}; first failure: {first}"))
                    .output(None, Some(summary)),
            );
        }
        if let Some(limit) = self.p95_below {
            if p95 >= limit.0 {
                return Err(ActionFailure::from(anyhow::anyhow!(
                    "{summary}; p95 is not below {}",
                    format_duration(limit.0)
                ))
                .output(None, Some(summary)));
            }
        }
        Ok(Applied {
            data,
            output_tail: Some(summary),
            ..Applied::default()
        })
    }

    // A check changes nothing.
    fn idempotent(&self) -> bool {
        true
    }

    // A check changes nothing.
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_never_shows_header_values() {
        let check: HttpCheck = serde_json::from_value(serde_json::json!({
            "url": "https://app/health",
            "headers": { "Authorization": "Bearer header-value-1" },
            "ca_file": "/etc/ca.pem",
        }))
        .unwrap();
        assert!(
            !check.describe().contains("header-value-1"),
            "{}",
            check.describe()
        );
    }
}
