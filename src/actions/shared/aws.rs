//! AWS calls every service shares: where a step's calls go (`AwsTarget`, the
//! `region`, `profile` and `endpoint_url` every AWS action takes on top of
//! aws-config's standard chain), one config loader for every SDK client, and
//! errors as AWS's code and message, never a credential.

use std::fmt;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Throttling and transient errors are retried by the SDK's standard retry
/// mode (exponential backoff with jitter); AWS throttles its Describe calls
/// first, and a cutover would rather wait than fail on them.
const MAX_ATTEMPTS: u32 = 8;

/// Deadlines on every AWS call: an endpoint that accepts and never answers
/// (a proxy gone wrong) fails the call, each attempt in `ATTEMPT_TIMEOUT`
/// and all of them in `CALL_TIMEOUT`, rather than hold the step (and a
/// freeze) until its own `timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);
const CALL_TIMEOUT: Duration = Duration::from_secs(90);

/// `region`, `profile` and `endpoint_url` of one step; `None` leaves the
/// choice to the standard chain (`AWS_REGION`, `AWS_PROFILE`,
/// `AWS_ENDPOINT_URL`, the instance role …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsTarget {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
}

impl AwsTarget {
    /// The SDK configuration for any service's client: the standard chain,
    /// with the step's fields taking precedence.
    pub async fn sdk_config(&self) -> Result<SdkConfig, AwsError> {
        let retry = RetryConfig::standard()
            .with_max_attempts(MAX_ATTEMPTS)
            .with_initial_backoff(Duration::from_millis(500));
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .operation_timeout(CALL_TIMEOUT)
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(retry)
            .timeout_config(timeouts);
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        if config.region().is_none() {
            return Err(AwsError::new(
                "NoRegion",
                "no AWS region: set `region` in the step, AWS_REGION, or a profile's region",
            ));
        }
        Ok(config)
    }
}

/// Implements `aws()` for a parameters struct with the three fields.
macro_rules! aws_fields {
    ($params:ty) => {
        impl $params {
            pub fn aws(&self) -> $crate::actions::shared::aws::AwsTarget {
                $crate::actions::shared::aws::AwsTarget {
                    region: self.region.clone(),
                    profile: self.profile.clone(),
                    endpoint_url: self.endpoint_url.clone(),
                }
            }
        }
    };
}
pub(crate) use aws_fields;

/// An error from AWS as the operator should see it: AWS's code and message,
/// never the SDK's debug dump (which could carry request details).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// `DBSnapshotNotFound`, `InvalidChangeBatch`, `Throttling` … or, for
    /// errors that never reached AWS, `DispatchFailure`, `Timeout`, `Config`.
    pub code: String,
    pub message: String,
}

impl AwsError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn is(&self, code: &str) -> bool {
        self.code == code
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.code)
        } else {
            write!(f, "{}: {}", self.code, self.message)
        }
    }
}

impl std::error::Error for AwsError {}

/// AWS's code and message; for errors that never reached AWS, the cause chain
/// (which names a missing credential provider, never a credential).
pub fn sdk_error<E, R>(error: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = match &error {
        SdkError::ServiceError(_) => {
            return AwsError::new(
                error.code().unwrap_or("Unknown"),
                error.message().unwrap_or_default(),
            )
        }
        SdkError::TimeoutError(_) => "Timeout",
        SdkError::DispatchFailure(_) => "DispatchFailure",
        SdkError::ConstructionFailure(_) => "Config",
        SdkError::ResponseError(_) => "ResponseError",
        _ => "Unknown",
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !causes.contains(&text) {
            causes.push(text);
        }
        source = cause.source();
    }
    if causes.is_empty() {
        causes.push(error.to_string());
    }
    // The connector's error kind says nothing to an operator.
    let causes: Vec<&str> = causes
        .iter()
        .map(String::as_str)
        .filter(|c| *c != "other")
        .collect();
    // The SDK reports a credential chain that found nothing as a dispatch
    // failure; the operator needs to know it never reached AWS for that reason.
    let code = if causes.iter().any(|c| c.contains("no credentials found")) {
        "NoCredentials"
    } else {
        code
    };
    AwsError::new(code, causes.join(": "))
}
