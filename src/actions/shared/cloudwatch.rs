//! `Metrics`: the one CloudWatch call cutover makes — the latest value of a
//! metric, for `cloudwatch.guard` and `rds.promote`'s lag check — behind a
//! trait, so the watching is tested with a fake; `SdkMetrics` is the real one
//! over aws-sdk-cloudwatch.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};

use crate::actions::shared::aws::{sdk_error, AwsError, AwsTarget};

/// One metric of one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Series<'a> {
    pub namespace: &'a str,
    pub dimensions: &'a BTreeMap<String, String>,
    pub name: &'a str,
    pub stat: &'a str,
    pub period: Duration,
}

/// A value and when CloudWatch saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Datapoint {
    pub at: SystemTime,
    pub value: f64,
}

#[async_trait::async_trait(?Send)]
pub trait Metrics {
    /// The newest datapoint of `series` since `since`, if any.
    async fn latest(
        &self,
        series: &Series<'_>,
        since: SystemTime,
    ) -> Result<Option<Datapoint>, AwsError>;
}

pub struct SdkMetrics {
    client: aws_sdk_cloudwatch::Client,
}

impl SdkMetrics {
    pub async fn connect(aws: &AwsTarget) -> anyhow::Result<Self> {
        let config = aws.sdk_config().await?;
        Ok(Self {
            client: aws_sdk_cloudwatch::Client::new(&config),
        })
    }
}

#[async_trait::async_trait(?Send)]
impl Metrics for SdkMetrics {
    async fn latest(
        &self,
        series: &Series<'_>,
        since: SystemTime,
    ) -> Result<Option<Datapoint>, AwsError> {
        let dimensions: Vec<Dimension> = series
            .dimensions
            .iter()
            .map(|(k, v)| Dimension::builder().name(k).value(v).build())
            .collect();
        let metric = Metric::builder()
            .namespace(series.namespace)
            .metric_name(series.name)
            .set_dimensions(Some(dimensions))
            .build();
        let query = MetricDataQuery::builder()
            .id("m")
            .metric_stat(
                MetricStat::builder()
                    .metric(metric)
                    .period(series.period.as_secs().max(1) as i32)
                    .stat(series.stat)
                    .build(),
            )
            .build();
        let reply = self
            .client
            .get_metric_data()
            .metric_data_queries(query)
            .start_time(DateTime::from(since))
            .end_time(DateTime::from(SystemTime::now() + Duration::from_secs(1)))
            .scan_by(ScanBy::TimestampDescending)
            .send()
            .await
            .map_err(sdk_error)?;
        let newest = reply.metric_data_results().first().and_then(|result| {
            let at = result.timestamps().first()?;
            let value = result.values().first()?;
            Some(Datapoint {
                at: SystemTime::try_from(*at).ok()?,
                value: *value,
            })
        });
        Ok(newest)
    }
}
