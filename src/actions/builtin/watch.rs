//! `watch`: a soak. Runs its checks (any actions that change nothing:
//! `postgres.health`, `mysql.health`, `http.check`, `sql.check`,
//! `cloudwatch.guard`, …) every `every` for `for`, shows the latest round
//! live, journals each breach as a note, and fails the step on one
//! (`on_breach: fail`) or only warns (`warn`). The checks are decoded by the
//! registry (`decode_watch`), the one place that knows every action.

use std::time::Duration;

use anyhow::anyhow;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::actions::{
    Action, ActionFailure, ActionRef, Applied, Descriptor, Progress, StepContext,
};
use crate::duration::{format_duration, DurationText};

/// The name a playbook uses, and the module that declares it.
pub const NAME: &str = "watch";
pub const MODULE: &str = module_path!();
pub const SUMMARY: &str =
    "a soak: run checks every `every` for `for`, journal each breach, fail (or warn) on one";

/// Parameters of `watch`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchParams {
    /// How long to watch, e.g. `15m` (give the step a longer `timeout`, if any).
    #[serde(rename = "for")]
    pub duration: DurationText,
    /// Pause between two rounds of checks (default `30s`).
    #[serde(default = "default_every")]
    pub every: DurationText,
    /// The checks, in order: actions that change nothing, each with its `with`.
    pub checks: Vec<CheckCall>,
    /// What a failed check does: `fail` the step (default), `warn` and go on,
    /// or `go_back`: fail the step, and past the point of no return run the
    /// playbook's `go_back:` (while it is lossless).
    #[serde(default)]
    pub on_breach: OnBreach,
}

/// One check of a watch.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckCall {
    /// The action, e.g. `postgres.health`.
    pub action: String,
    /// Its parameters, as the action's doc page says.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub with: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnBreach {
    #[default]
    Fail,
    Warn,
    GoBack,
}

impl OnBreach {
    fn keyword(self) -> &'static str {
        match self {
            OnBreach::Fail => "fail",
            OnBreach::Warn => "warn",
            OnBreach::GoBack => "go back",
        }
    }
}

fn default_every() -> DurationText {
    DurationText(Duration::from_secs(30))
}

/// The JSON Schema of `with`, for the descriptor in the registry.
pub fn schema(generator: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
    generator.subschema_for::<WatchParams>()
}

/// A decoded watch: its parameters and its checks, ready to run.
pub struct Watch {
    params: WatchParams,
    checks: Vec<ActionRef>,
    descriptor: &'static Descriptor,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("params", &self.params)
            .field("checks", &self.checks)
            .finish()
    }
}

impl Watch {
    /// Refuses a check that changes something: a soak only looks. The error
    /// names the check at fault, if it is one.
    pub fn new(
        params: WatchParams,
        checks: Vec<ActionRef>,
        descriptor: &'static Descriptor,
    ) -> Result<Watch, (Option<usize>, String)> {
        if params.duration.0.is_zero() {
            return Err((None, "`for` must be longer than 0s".into()));
        }
        if params.checks.is_empty() {
            return Err((None, "a watch needs at least one check".into()));
        }
        for (index, check) in checks.iter().enumerate() {
            if check.inverse().is_some() || check.undoes_partial_failure() || check.stops_writes() {
                return Err((
                    Some(index),
                    format!(
                        "`{}` changes something: a watch runs checks only (postgres.health, mysql.health, http.check, sql.check, tcp.check, cloudwatch.guard, …)",
                        check.name()
                    ),
                ));
            }
        }
        Ok(Watch {
            params,
            checks,
            descriptor,
        })
    }
}

#[async_trait(?Send)]
impl Action for Watch {
    fn descriptor(&self) -> &'static Descriptor {
        self.descriptor
    }

    fn endpoints(&self) -> Vec<String> {
        self.checks.iter().flat_map(|c| c.endpoints()).collect()
    }

    fn goes_back_on_failure(&self) -> bool {
        self.params.on_breach == OnBreach::GoBack
    }

    fn describe(&self) -> String {
        let names: Vec<&str> = self.checks.iter().map(|c| c.name()).collect();
        format!(
            "watch for {} (every {}): {}; on a breach: {}",
            format_duration(self.params.duration.0),
            format_duration(self.params.every.0),
            names.join(", "),
            self.params.on_breach.keyword()
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let started = tokio::time::Instant::now();
        let total = self.params.duration.0;
        let mut round = 0u32;
        let mut breaches: Vec<serde_json::Value> = Vec::new();
        loop {
            round += 1;
            let mut passed = 0;
            for check in &self.checks {
                let result = async {
                    check.preflight(cx).await?;
                    check.apply(cx).await
                }
                .await;
                let Err(failure) = result else {
                    passed += 1;
                    continue;
                };
                let at = started.elapsed();
                let error = format!("{:#}", failure.error);
                let breach = serde_json::json!({
                    "round": round,
                    "at_ms": at.as_millis() as u64,
                    "check": check.name(),
                    "error": error,
                });
                cx.note(serde_json::json!({ "breach": breach }))?;
                if self.params.on_breach != OnBreach::Warn {
                    return Err(anyhow!(
                        "breach {} into the soak (round {round}): `{}` failed: {error}",
                        format_duration(Duration::from_secs(at.as_secs())),
                        check.name()
                    )
                    .into());
                }
                cx.report(Progress::Output(format!(
                    "breach (round {round}, warn only): `{}`: {error}",
                    check.name()
                )));
                breaches.push(breach);
            }
            let elapsed = started.elapsed();
            cx.report(Progress::Status(format!(
                "soak {} of {}: round {round}, {passed} of {} check(s) pass{}",
                format_duration(Duration::from_secs(elapsed.as_secs())),
                format_duration(total),
                self.checks.len(),
                if breaches.is_empty() {
                    String::new()
                } else {
                    format!(", {} breach(es) so far", breaches.len())
                }
            )));
            let Some(left) = total.checked_sub(elapsed).filter(|l| !l.is_zero()) else {
                break;
            };
            tokio::time::sleep(self.params.every.0.min(left)).await;
        }
        Ok(Applied {
            data: serde_json::json!({
                "rounds": round,
                "checks": self.checks.len(),
                "breaches": breaches,
            }),
            ..Applied::default()
        })
    }

    // Looking again only looks.
    fn idempotent(&self) -> bool {
        true
    }

    // Its checks change nothing.
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}
