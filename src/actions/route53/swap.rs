//! `route53.swap`: point a DNS record somewhere else. Records the record set
//! as it is (journaled before the change, so an undo finds it even after a
//! crash), UPSERTs the new one, waits until Route 53 says `INSYNC`, then waits
//! out the OLD TTL so resolvers have let go of the old answer. Its inverse
//! puts the recorded set back exactly, or deletes the record when there was
//! none before.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

use super::api::{Alias, Op, RecordSet, Route53Api, SdkRoute53};
use crate::actions::shared::aws::aws_fields;
use crate::actions::shared::poll::{self, Check, Poll};
use crate::actions::{
    descriptor, Action, ActionFailure, ActionRef, Applied, Descriptor, Progress, StepContext,
};
use crate::duration::{format_duration, DurationText};

/// Route 53 answers an alias with the target's TTL, 60 s for load balancers
/// and CloudFront; waiting out an old alias waits that long.
const ALIAS_TTL: Duration = Duration::from_secs(60);

/// The record types `route53.swap` moves.
const TYPES: &[&str] = &[
    "A", "AAAA", "CNAME", "TXT", "MX", "SRV", "CAA", "PTR", "NAPTR", "SPF", "DS",
];

fn yes() -> bool {
    true
}

fn five_minutes() -> DurationText {
    DurationText(Duration::from_secs(300))
}

/// The new record's target when it is an alias.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AliasTo {
    /// The target's DNS name (`my-lb-123.eu-west-1.elb.amazonaws.com`).
    pub dns_name: String,
    /// The target's hosted zone id (the load balancer's `CanonicalHostedZoneId`).
    pub zone_id: String,
    /// Let Route 53 check the target's health.
    #[serde(default)]
    pub evaluate_target_health: bool,
}

/// Parameters of `route53.swap`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, remote = "Self")]
pub struct Swap {
    /// The hosted zone (`Z0123456789ABC` or `/hostedzone/Z0123456789ABC`).
    pub zone_id: String,
    /// The record's name (`db.example.com`).
    pub name: String,
    /// The record type: `CNAME`, `A`, `AAAA`, `TXT` …
    #[serde(rename = "type")]
    pub record_type: String,
    /// The new values: one, or a list (`[10.0.1.5, 10.0.1.6]`). Give `to` or `alias`.
    #[serde(default, deserialize_with = "one_or_many")]
    #[schemars(with = "Option<OneOrMany>")]
    pub to: Option<Vec<String>>,
    /// The new target as an alias. Give `to` or `alias`.
    #[serde(default)]
    pub alias: Option<AliasTo>,
    /// The new record's TTL in seconds; required with `to`, refused with `alias`.
    #[serde(default)]
    pub ttl: Option<u32>,
    /// The set identifier of a weighted (or other routing policy) record.
    #[serde(default)]
    pub set_identifier: Option<String>,
    /// The weight (0–255) of a weighted record; needs `set_identifier`.
    #[serde(default)]
    pub weight: Option<u8>,
    /// After `INSYNC`, wait out the old record's TTL so resolvers let go of
    /// the old answer.
    #[serde(default = "yes")]
    pub wait_ttl: bool,
    /// Longest wait for Route 53 to say `INSYNC`.
    #[serde(
        default = "five_minutes",
        deserialize_with = "crate::duration::positive"
    )]
    pub timeout: DurationText,
    /// AWS region; by default from the standard chain (Route 53 is global,
    /// but the SDK needs one).
    #[serde(default)]
    pub region: Option<String>,
    /// A profile of `~/.aws/config`.
    #[serde(default)]
    pub profile: Option<String>,
    /// Another endpoint for Route 53; also `AWS_ENDPOINT_URL`.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Set on the inverse: put back the record set recorded by the swap.
    #[serde(skip)]
    pub restore: bool,
}

aws_fields!(Swap);

/// One value or a list, for the schema.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

fn one_or_many<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    let values = match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(one) => vec![one],
        serde_json::Value::Array(many) => many
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Ok(s),
                other => Err(serde::de::Error::custom(format!(
                    "expected a record value as text, found `{other}`"
                ))),
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(serde::de::Error::custom(format!(
                "expected a value or a list of values, found `{other}`"
            )))
        }
    };
    if values.is_empty() || values.iter().any(|v| v.trim().is_empty()) {
        return Err(serde::de::Error::custom(
            "`to` needs at least one value, none empty",
        ));
    }
    Ok(Some(values))
}

impl<'de> Deserialize<'de> for Swap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let swap = Swap::deserialize(deserializer)?;
        swap.check().map_err(serde::de::Error::custom)?;
        Ok(swap)
    }
}

impl Swap {
    /// The rules Route 53 would otherwise refuse at run time.
    fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("`name` is empty".into());
        }
        if !TYPES.contains(&self.record_type.as_str()) {
            return Err(format!(
                "unknown record type `{}` (use {})",
                self.record_type,
                TYPES.join(", ")
            ));
        }
        match (&self.to, &self.alias, self.ttl) {
            (Some(_), Some(_), _) => Err("give `to` or `alias`, not both".into()),
            (None, None, _) => Err("give `to` (the new values) or `alias`".into()),
            (Some(_), None, None) => Err("`to` needs a `ttl` (seconds)".into()),
            (None, Some(_), Some(_)) => {
                Err("an alias has no `ttl` of its own: Route 53 uses the target's".into())
            }
            (Some(values), None, Some(_)) if self.record_type == "CNAME" && values.len() > 1 => {
                Err("a CNAME has exactly one value".into())
            }
            _ if self.weight.is_some() && self.set_identifier.is_none() => {
                Err("a `weight` needs a `set_identifier`".into())
            }
            _ => Ok(()),
        }
    }

    /// The implied rollback: the same record, put back as it was.
    pub fn inverse_swap(&self) -> Swap {
        Swap {
            restore: true,
            ..self.clone()
        }
    }

    /// The record set the swap puts in place.
    pub fn record_set(&self) -> RecordSet {
        RecordSet {
            name: self.name.clone(),
            record_type: self.record_type.clone(),
            set_identifier: self.set_identifier.clone(),
            weight: self.weight.map(i64::from),
            region: None,
            failover: None,
            multi_value_answer: None,
            health_check_id: None,
            ttl: self.ttl.map(i64::from),
            values: self.to.clone().unwrap_or_default(),
            alias: self.alias.as_ref().map(|a| Alias {
                dns_name: a.dns_name.clone(),
                zone_id: a.zone_id.clone(),
                evaluate_target_health: a.evaluate_target_health,
            }),
        }
    }

    fn label(&self) -> String {
        match &self.set_identifier {
            Some(id) => format!("{} {} ({id})", self.name, self.record_type),
            None => format!("{} {}", self.name, self.record_type),
        }
    }

    async fn current<A: Route53Api>(&self, api: &A) -> anyhow::Result<Option<RecordSet>> {
        api.record(
            &self.zone_id,
            &self.name,
            &self.record_type,
            self.set_identifier.as_deref(),
        )
        .await
        .with_context(|| format!("failed to read {} in zone `{}`", self.label(), self.zone_id))
    }

    /// Sends one change, waits for `INSYNC`, then (with `wait_ttl`) waits out
    /// the TTL of the answer it replaced.
    async fn change<A: Route53Api>(
        &self,
        api: &A,
        op: Op,
        set: &RecordSet,
        replaced: Option<&RecordSet>,
        report: &dyn Fn(Progress),
    ) -> anyhow::Result<serde_json::Value> {
        let verb = match op {
            Op::Upsert => "UPSERT",
            Op::Delete => "DELETE",
        };
        let id = api.change(&self.zone_id, op, set).await.with_context(|| {
            format!(
                "failed to {verb} {} in zone `{}`",
                self.label(),
                self.zone_id
            )
        })?;
        let what = format!("Route 53 change `{id}` ({verb} {})", self.label());
        poll::until(&what, Poll::within(self.timeout.0), report, || async {
            let status = api
                .change_status(&id)
                .await
                .with_context(|| format!("failed to ask Route 53 about change `{id}`"))?;
            Ok(if status == "INSYNC" {
                Check::Done(())
            } else {
                Check::Pending(status)
            })
        })
        .await?;
        let ttl = match replaced {
            Some(old) if old.alias.is_some() => ALIAS_TTL,
            Some(old) => Duration::from_secs(old.ttl.unwrap_or(0).max(0) as u64),
            None => Duration::ZERO,
        };
        let waited = if self.wait_ttl && !ttl.is_zero() {
            report(Progress::Status(format!(
                "INSYNC; waiting out the old TTL ({}) so resolvers let go of the old answer",
                format_duration(ttl)
            )));
            tokio::time::sleep(ttl).await;
            ttl
        } else {
            Duration::ZERO
        };
        Ok(serde_json::json!({ "change_id": id, "waited_ttl_s": waited.as_secs() }))
    }

    /// The swap: records the set as it is (unless an earlier attempt of the
    /// step did), notes it, UPSERTs the new one and waits.
    pub async fn swap<A: Route53Api>(
        &self,
        api: &A,
        cx: &StepContext<'_>,
    ) -> anyhow::Result<serde_json::Value> {
        let before: Option<RecordSet> = match cx.recall("before") {
            // A retry or a resumed step: the record now may be ours already.
            Some(noted) => serde_json::from_value(noted.clone())
                .context("the journaled record set of an earlier attempt is unreadable")?,
            None => {
                let before = self.current(api).await?;
                cx.note(serde_json::json!({ "before": before }))?;
                before
            }
        };
        let after = self.record_set();
        let mut data = self
            .change(api, Op::Upsert, &after, before.as_ref(), cx.progress)
            .await?;
        data["before"] = serde_json::to_value(&before)?;
        data["after"] = serde_json::to_value(&after)?;
        Ok(data)
    }

    /// The inverse: puts the noted set back, or deletes the record when there
    /// was none; nothing when the swap never got as far as noting it.
    pub async fn put_back<A: Route53Api>(
        &self,
        api: &A,
        cx: &StepContext<'_>,
    ) -> anyhow::Result<serde_json::Value> {
        let Some(noted) = cx.recall("before") else {
            cx.report(Progress::Status(
                "the swap never read the record: nothing to put back".into(),
            ));
            return Ok(serde_json::json!({ "restored": false }));
        };
        let before: Option<RecordSet> = serde_json::from_value(noted.clone())
            .context("the journaled record set is unreadable")?;
        let now = self.current(api).await?;
        if now == before {
            cx.report(Progress::Status(format!("{} is as it was", self.label())));
            return Ok(serde_json::json!({ "restored": false, "record": before }));
        }
        let mut data = match (&before, &now) {
            (Some(old), _) => {
                self.change(api, Op::Upsert, old, now.as_ref(), cx.progress)
                    .await?
            }
            (None, current) => {
                // `now` differs from `before`, so there is one.
                let Some(current) = current else {
                    return Ok(serde_json::json!({ "restored": false }));
                };
                self.change(api, Op::Delete, current, Some(current), cx.progress)
                    .await?
            }
        };
        data["restored"] = true.into();
        data["record"] = serde_json::to_value(&before)?;
        Ok(data)
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "route53.swap",
    Swap,
    "point a Route 53 record elsewhere (UPSERT), wait for INSYNC and the old TTL; rollback puts the old record set back exactly"
);

#[async_trait(?Send)]
impl Action for Swap {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn describe(&self) -> String {
        let wait = if self.wait_ttl {
            ", wait for INSYNC and the old TTL"
        } else {
            ", wait for INSYNC"
        };
        if self.restore {
            return format!(
                "put Route 53 record {} in zone `{}` back as it was before the swap{wait}",
                self.label(),
                self.zone_id
            );
        }
        let target = match (&self.to, &self.alias) {
            (Some(values), _) => format!(
                "{} (TTL {}s)",
                values.join(", "),
                self.ttl.unwrap_or_default()
            ),
            (None, Some(alias)) => format!("alias {}", alias.dns_name),
            (None, None) => String::new(),
        };
        let weight = self
            .weight
            .map(|w| format!(", weight {w}"))
            .unwrap_or_default();
        format!(
            "point Route 53 record {} in zone `{}` at {target}{weight}{wait}",
            self.label(),
            self.zone_id
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let api = SdkRoute53::connect(&self.aws()).await?;
        let data = if self.restore {
            self.put_back(&api, cx).await
        } else {
            self.swap(&api, cx).await
        }?;
        Ok(Applied {
            data,
            ..Applied::default()
        })
    }

    fn inverse(&self) -> Option<ActionRef> {
        if self.restore {
            return None;
        }
        Some(Arc::new(self.inverse_swap()))
    }

    // A second attempt reuses the record set the first one noted (never the
    // record as the first attempt left it) and UPSERTs the same values.
    fn idempotent(&self) -> bool {
        true
    }

    // The inverse puts back what was noted before any change: right whether
    // the UPSERT went through or not.
    fn undoes_partial_failure(&self) -> bool {
        true
    }
}
