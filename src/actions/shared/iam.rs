//! `Iam`: RDS IAM database authentication (`auth=iam` in a PostgreSQL or
//! MySQL URL). A token is signed locally with the standard AWS credential
//! chain (SigV4, service `rds-db`, valid 15 minutes, no call to AWS) and sent
//! as the password; each connection gets a fresh one. A token is a secret: it
//! is never printed, journaled, nor put in an error.

use std::fmt;

use anyhow::anyhow;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_rds::auth_token::{AuthTokenGenerator, Config};

/// How long a token is valid, in seconds (RDS's maximum).
const EXPIRES_IN: u64 = 900;

/// What a token is signed for: the endpoint name the client dials, its port
/// and the database user.
#[derive(Clone, PartialEq, Eq)]
pub struct Iam {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// The URL's `region=`; else the standard chain's; else the one in an
    /// `….<region>.rds.amazonaws.com` host name.
    pub region: Option<String>,
}

impl fmt::Debug for Iam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Iam({}@{}:{})", self.user, self.host, self.port)
    }
}

impl Iam {
    /// A fresh token from the standard credential chain.
    pub async fn token(&self) -> anyhow::Result<String> {
        static CHAIN: tokio::sync::OnceCell<SdkConfig> = tokio::sync::OnceCell::const_new();
        let sdk = CHAIN
            .get_or_init(|| aws_config::defaults(BehaviorVersion::latest()).load())
            .await;
        self.token_with(sdk).await
    }

    /// A token signed with `sdk`'s credentials and clock.
    pub async fn token_with(&self, sdk: &SdkConfig) -> anyhow::Result<String> {
        let region = self
            .region
            .clone()
            .or_else(|| sdk.region().map(|r| r.to_string()))
            .or_else(|| region_of_host(&self.host))
            .ok_or_else(|| {
                anyhow!(
                    "no AWS region to sign the IAM token for {}: add `region=` to the URL, or set AWS_REGION",
                    self.host
                )
            })?;
        let config = Config::builder()
            .hostname(&self.host)
            .port(u64::from(self.port))
            .username(&self.user)
            .region(Region::new(region))
            .expires_in(EXPIRES_IN)
            .build()
            .map_err(|e| anyhow!("failed to set up the IAM token: {e}"))?;
        let token = AuthTokenGenerator::new(config)
            .auth_token(sdk)
            .await
            // The SDK's errors name a missing provider, never a credential.
            .map_err(|e| {
                anyhow!(
                    "failed to sign an IAM token for {}@{}: {e}",
                    self.user,
                    self.host
                )
            })?;
        Ok(token.as_str().to_string())
    }
}

/// `eu-west-1` from `db.abc123.eu-west-1.rds.amazonaws.com`.
pub fn region_of_host(host: &str) -> Option<String> {
    let rest = host
        .strip_suffix(".rds.amazonaws.com")
        .or_else(|| host.strip_suffix(".rds.amazonaws.com.cn"))?;
    let region = rest.rsplit('.').next()?;
    (region.contains('-') && !region.is_empty()).then(|| region.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    #[derive(Debug)]
    struct Fixed(SystemTime);

    impl aws_smithy_async::time::TimeSource for Fixed {
        fn now(&self) -> SystemTime {
            self.0
        }
    }

    /// No environment read: static credentials, a fixed clock, no region.
    fn sdk(session: Option<&str>) -> SdkConfig {
        SdkConfig::builder()
            .credentials_provider(aws_sdk_rds::config::SharedCredentialsProvider::new(
                aws_sdk_rds::config::Credentials::new(
                    "akid",
                    "secret",
                    session.map(str::to_string),
                    None,
                    "test",
                ),
            ))
            // 2024-08-26T22:00:00Z
            .time_source(Fixed(UNIX_EPOCH + Duration::from_secs(1_724_709_600)))
            .build()
    }

    #[tokio::test]
    async fn a_token_is_a_presigned_connect_url_for_the_host_user_and_region() {
        let iam = Iam {
            host: "prod-instance.us-east-1.rds.amazonaws.com".into(),
            port: 3306,
            user: "peccy".into(),
            region: None,
        };
        let token = iam.token_with(&sdk(None)).await.unwrap();
        // The SDK's own golden value for these inputs (its test in
        // auth_token.rs): the region came from the host name.
        assert_eq!(
            token,
            "prod-instance.us-east-1.rds.amazonaws.com:3306/?Action=connect&DBUser=peccy&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=akid%2F20240826%2Fus-east-1%2Frds-db%2Faws4_request&X-Amz-Date=20240826T220000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=dd0cba843009474347af724090233265628ace491ea17ce3eb3da098b983ad89"
        );
        let other = Iam {
            region: Some("eu-west-1".into()),
            ..iam.clone()
        };
        let token = other.token_with(&sdk(Some("session-tok"))).await.unwrap();
        assert!(
            token.contains("%2Feu-west-1%2Frds-db%2Faws4_request"),
            "{token}"
        );
        assert!(
            token.contains("&X-Amz-Security-Token=session-tok"),
            "{token}"
        );
        assert!(!format!("{other:?}").contains("secret"));
    }

    #[tokio::test]
    async fn no_region_anywhere_is_an_error_that_says_where_to_put_one() {
        let iam = Iam {
            host: "127.0.0.1".into(),
            port: 5432,
            user: "app".into(),
            region: None,
        };
        let error = iam.token_with(&sdk(None)).await.unwrap_err().to_string();
        assert!(error.contains("add `region=` to the URL"), "{error}");
        assert_eq!(
            region_of_host("db.x.eu-central-1.rds.amazonaws.com").as_deref(),
            Some("eu-central-1")
        );
        assert_eq!(region_of_host("db.example.com"), None);
    }
}
