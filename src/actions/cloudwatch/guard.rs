//! `cloudwatch.guard`: thresholds on CloudWatch metrics (burst credits,
//! connections, replica lag, memory …). Without `for` it checks once — a
//! preflight, or a checklist `verify`; with `for` it watches for that long (a
//! soak after the swap) and fails at the first breach. A failure names every
//! threshold crossed, with its figure and when CloudWatch saw it.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use anyhow::anyhow;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

use crate::actions::shared::aws::aws_fields;
use crate::actions::shared::cloudwatch::{Metrics, SdkMetrics, Series};
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};
use crate::duration::{format_duration, DurationText};

fn rds_namespace() -> String {
    "AWS/RDS".into()
}

fn one_minute() -> DurationText {
    DurationText(Duration::from_secs(60))
}

fn average() -> String {
    "Average".into()
}

/// One threshold on one metric.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// The metric: `CPUCreditBalance`, `BurstBalance`, `CPUUtilization`,
    /// `DatabaseConnections`, `ReplicaLag`, `FreeableMemory`, `ReadIOPS` …
    pub name: String,
    /// `Average` (default), `Minimum`, `Maximum`, `Sum`, `SampleCount`, or a
    /// percentile such as `p99`.
    #[serde(default = "average")]
    pub stat: String,
    /// A breach when the value falls below this.
    #[serde(default)]
    pub below: Option<f64>,
    /// A breach when the value rises above this.
    #[serde(default)]
    pub above: Option<f64>,
    /// The period the statistic is taken over.
    #[serde(default = "one_minute", deserialize_with = "crate::duration::positive")]
    pub period: DurationText,
}

/// Parameters of `cloudwatch.guard`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Guard {
    /// The metrics' namespace.
    #[serde(default = "rds_namespace")]
    pub namespace: String,
    /// The metrics' dimensions (`DBInstanceIdentifier: orders-next`).
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    /// Shorthand for the dimension `DBInstanceIdentifier`.
    #[serde(default)]
    pub instance: Option<String>,
    /// The thresholds; every one is checked each time.
    #[serde(deserialize_with = "thresholds")]
    pub metrics: Vec<Threshold>,
    /// Watch for this long (a soak); without it, check once.
    #[serde(
        default,
        rename = "for",
        deserialize_with = "crate::duration::positive_option"
    )]
    pub watch_for: Option<DurationText>,
    /// How often to check while watching.
    #[serde(default = "one_minute", deserialize_with = "crate::duration::positive")]
    pub every: DurationText,
    /// AWS region; by default from the standard chain.
    #[serde(default)]
    pub region: Option<String>,
    /// A profile of `~/.aws/config`.
    #[serde(default)]
    pub profile: Option<String>,
    /// Another endpoint for CloudWatch; also `AWS_ENDPOINT_URL`.
    #[serde(default)]
    pub endpoint_url: Option<String>,
}

aws_fields!(Guard);

const STATS: &[&str] = &["Average", "Minimum", "Maximum", "Sum", "SampleCount"];

fn thresholds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Threshold>, D::Error> {
    let list = Vec::<Threshold>::deserialize(deserializer)?;
    if list.is_empty() {
        return Err(serde::de::Error::custom(
            "`metrics` needs at least one threshold",
        ));
    }
    for t in &list {
        if t.below.is_none() && t.above.is_none() {
            return Err(serde::de::Error::custom(format!(
                "metric `{}` has no threshold: give `below`, `above` or both",
                t.name
            )));
        }
        let percentile = t
            .stat
            .strip_prefix('p')
            .is_some_and(|n| n.parse::<f64>().is_ok_and(|p| p > 0.0 && p < 100.0));
        if !STATS.contains(&t.stat.as_str()) && !percentile {
            return Err(serde::de::Error::custom(format!(
                "metric `{}`: unknown stat `{}` (use {}, or a percentile such as p99)",
                t.name,
                t.stat,
                STATS.join(", ")
            )));
        }
        if t.period.0 < Duration::from_secs(1) {
            return Err(serde::de::Error::custom(format!(
                "metric `{}`: a period is at least 1s",
                t.name
            )));
        }
    }
    Ok(list)
}

fn at(time: SystemTime) -> String {
    jiff::Timestamp::try_from(time)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| "?".into())
}

/// What one check saw.
#[derive(Debug, Default, PartialEq)]
pub struct Check {
    /// `CPUCreditBalance Minimum 80 at …` for every metric that answered.
    pub figures: Vec<String>,
    /// Every threshold crossed (or metric without data), with its figure.
    pub breaches: Vec<String>,
}

impl Guard {
    fn all_dimensions(&self) -> BTreeMap<String, String> {
        let mut dims = self.dimensions.clone();
        if let Some(instance) = &self.instance {
            dims.insert("DBInstanceIdentifier".into(), instance.clone());
        }
        dims
    }

    /// Checks every threshold once against the newest datapoint.
    pub async fn check<M: Metrics>(&self, api: &M, now: SystemTime) -> anyhow::Result<Check> {
        let dims = self.all_dimensions();
        let mut seen = Check::default();
        for t in &self.metrics {
            let series = Series {
                namespace: &self.namespace,
                dimensions: &dims,
                name: &t.name,
                stat: &t.stat,
                period: t.period.0,
            };
            // CloudWatch publishes RDS metrics a minute or so late: the newest
            // datapoint of the last three periods (at least five minutes).
            let window = (t.period.0 * 3).max(Duration::from_secs(300));
            let since = now.checked_sub(window).unwrap_or(SystemTime::UNIX_EPOCH);
            let label = format!("{} {}", t.name, t.stat);
            match api.latest(&series, since).await? {
                None => seen.breaches.push(format!(
                    "{label}: no datapoint since {} (is the metric published for {}?)",
                    at(since),
                    dims.iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                Some(point) => {
                    let figure = format!("{label} {} at {}", point.value, at(point.at));
                    if let Some(below) = t.below.filter(|b| point.value < *b) {
                        seen.breaches.push(format!(
                            "{label} {} < {below} at {}",
                            point.value,
                            at(point.at)
                        ));
                    }
                    if let Some(above) = t.above.filter(|a| point.value > *a) {
                        seen.breaches.push(format!(
                            "{label} {} > {above} at {}",
                            point.value,
                            at(point.at)
                        ));
                    }
                    seen.figures.push(figure);
                }
            }
        }
        Ok(seen)
    }

    /// Checks once, or every `every` for `for`; fails at the first breach.
    pub async fn watch<M: Metrics>(
        &self,
        api: &M,
        cx: &StepContext<'_>,
    ) -> anyhow::Result<serde_json::Value> {
        let started = tokio::time::Instant::now();
        let mut checks = 0u64;
        loop {
            let seen = self.check(api, SystemTime::now()).await?;
            checks += 1;
            if !seen.breaches.is_empty() {
                return Err(anyhow!(
                    "{} threshold(s) crossed{}: {}",
                    seen.breaches.len(),
                    match &self.watch_for {
                        Some(_) => format!(
                            " after {} of watching",
                            format_duration(Duration::from_secs(started.elapsed().as_secs()))
                        ),
                        None => String::new(),
                    },
                    seen.breaches.join("; ")
                ));
            }
            cx.report(Progress::Status(seen.figures.join(", ")));
            let Some(watch_for) = &self.watch_for else {
                return Ok(serde_json::json!({ "checks": checks, "figures": seen.figures }));
            };
            if started.elapsed() >= watch_for.0 {
                return Ok(serde_json::json!({ "checks": checks, "figures": seen.figures }));
            }
            let left = watch_for.0.saturating_sub(started.elapsed());
            tokio::time::sleep(self.every.0.min(left)).await;
        }
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "cloudwatch.guard",
    Guard,
    "fail when CloudWatch metrics cross their thresholds (burst credits, connections, lag …): once, or watched for a while"
);

#[async_trait(?Send)]
impl Action for Guard {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn describe(&self) -> String {
        let what: Vec<String> = self
            .metrics
            .iter()
            .map(|t| {
                let mut bounds = Vec::new();
                if let Some(b) = t.below {
                    bounds.push(format!("≥ {b}"));
                }
                if let Some(a) = t.above {
                    bounds.push(format!("≤ {a}"));
                }
                format!("{} {} {}", t.name, t.stat, bounds.join(" and "))
            })
            .collect();
        let of = self
            .instance
            .clone()
            .or_else(|| self.dimensions.values().next().cloned())
            .unwrap_or_default();
        match &self.watch_for {
            Some(d) => format!(
                "watch {of} for {} (every {}): {}",
                format_duration(d.0),
                format_duration(self.every.0),
                what.join(", ")
            ),
            None => format!("check {of}: {}", what.join(", ")),
        }
    }

    async fn preflight(&self, _cx: &StepContext<'_>) -> Result<(), ActionFailure> {
        if self.instance.is_none() && self.dimensions.is_empty() {
            return Err(anyhow!(
                "`cloudwatch.guard` needs `instance` or `dimensions`: which resource's metrics?"
            )
            .into());
        }
        Ok(())
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let api = SdkMetrics::connect(&self.aws()).await?;
        let data = self.watch(&api, cx).await?;
        Ok(Applied {
            data,
            ..Applied::default()
        })
    }

    // Reads only.
    fn idempotent(&self) -> bool {
        true
    }

    // Reads only.
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::actions::shared::aws::AwsError;
    use crate::actions::shared::cloudwatch::Datapoint;

    /// Each metric's values, one per call, the last repeated.
    struct Fake(RefCell<BTreeMap<String, Vec<Option<f64>>>>);

    #[async_trait::async_trait(?Send)]
    impl Metrics for Fake {
        async fn latest(
            &self,
            series: &Series<'_>,
            _since: SystemTime,
        ) -> Result<Option<Datapoint>, AwsError> {
            let mut all = self.0.borrow_mut();
            let values = all.get_mut(series.name).expect("a scripted metric");
            let value = if values.len() > 1 {
                values.remove(0)
            } else {
                values[0]
            };
            Ok(value.map(|value| Datapoint {
                at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
                value,
            }))
        }
    }

    fn guard(with: serde_json::Value) -> Guard {
        serde_json::from_value(with).unwrap()
    }

    #[tokio::test]
    async fn every_crossed_threshold_is_named_with_its_figure() {
        let g = guard(serde_json::json!({ "instance": "db1", "metrics": [
            { "name": "CPUCreditBalance", "stat": "Minimum", "below": 50 },
            { "name": "DatabaseConnections", "stat": "Maximum", "above": 100 },
            { "name": "ReplicaLag", "above": 0 },
        ]}));
        let fake = Fake(RefCell::new(BTreeMap::from([
            ("CPUCreditBalance".to_string(), vec![Some(12.5)]),
            ("DatabaseConnections".to_string(), vec![Some(140.0)]),
            ("ReplicaLag".to_string(), vec![None]),
        ])));
        let seen = g
            .check(
                &fake,
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_100),
            )
            .await
            .unwrap();
        assert_eq!(seen.breaches.len(), 3, "{:?}", seen.breaches);
        assert_eq!(
            seen.breaches[0],
            "CPUCreditBalance Minimum 12.5 < 50 at 2027-01-15T08:00:00Z"
        );
        assert_eq!(
            seen.breaches[1],
            "DatabaseConnections Maximum 140 > 100 at 2027-01-15T08:00:00Z"
        );
        assert!(
            seen.breaches[2].starts_with("ReplicaLag Average: no datapoint since "),
            "{}",
            seen.breaches[2]
        );
    }

    #[test]
    fn a_threshold_without_a_bound_or_with_an_unknown_stat_is_refused() {
        let no_bound = serde_json::from_value::<Guard>(
            serde_json::json!({ "instance": "db1", "metrics": [{ "name": "CPUUtilization" }] }),
        );
        assert!(no_bound
            .unwrap_err()
            .to_string()
            .contains("has no threshold"));
        let stat = serde_json::from_value::<Guard>(
            serde_json::json!({ "instance": "db1", "metrics": [{ "name": "CPUUtilization", "stat": "Mean", "above": 90 }] }),
        );
        assert!(stat
            .unwrap_err()
            .to_string()
            .contains("unknown stat `Mean`"));
        assert!(serde_json::from_value::<Guard>(serde_json::json!({ "instance": "db1", "metrics": [{ "name": "X", "stat": "p99", "above": 1 }] })).is_ok());
    }
}
