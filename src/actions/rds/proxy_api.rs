//! `ProxyApi`: the RDS Proxy calls `rds.proxy_swap` uses — register and
//! deregister a target, list a target group's targets with their health —
//! behind a trait so the waiting is tested with a fake; implemented for
//! `SdkRds` over aws-sdk-rds.

use std::fmt;

use super::api::RdsResult;
use super::sdk::SdkRds;
use crate::actions::shared::aws::sdk_error;

/// What a proxy can send connections to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Instance(String),
    Cluster(String),
}

impl Backend {
    pub fn id(&self) -> &str {
        match self {
            Backend::Instance(id) | Backend::Cluster(id) => id,
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backend::Instance(id) => write!(f, "instance `{id}`"),
            Backend::Cluster(id) => write!(f, "cluster `{id}`"),
        }
    }
}

/// One target of a proxy's target group, as DescribeDBProxyTargets reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyTarget {
    /// The instance or cluster id.
    pub resource_id: String,
    /// For an instance of a registered cluster: the cluster's id.
    pub tracked_cluster: Option<String>,
    /// `RDS_INSTANCE`, `TRACKED_CLUSTER`, `RDS_SERVERLESS_ENDPOINT`.
    pub kind: String,
    /// `READ_WRITE`, `READ_ONLY`, `UNKNOWN`.
    pub role: Option<String>,
    /// `REGISTERING`, `AVAILABLE`, `UNAVAILABLE`, `UNUSED`; empty for a cluster entry.
    pub state: String,
    pub reason: Option<String>,
    pub description: Option<String>,
}

/// The RDS Proxy calls `rds.proxy_swap` uses, nothing more.
#[allow(async_fn_in_trait)]
pub trait ProxyApi {
    async fn register_target(&self, proxy: &str, group: &str, backend: &Backend) -> RdsResult<()>;
    async fn deregister_target(&self, proxy: &str, group: &str, backend: &Backend)
        -> RdsResult<()>;
    async fn proxy_targets(&self, proxy: &str, group: &str) -> RdsResult<Vec<ProxyTarget>>;
}

impl ProxyApi for SdkRds {
    async fn register_target(&self, proxy: &str, group: &str, backend: &Backend) -> RdsResult<()> {
        let call = self
            .client
            .register_db_proxy_targets()
            .db_proxy_name(proxy)
            .target_group_name(group);
        let call = match backend {
            Backend::Instance(id) => call.db_instance_identifiers(id),
            Backend::Cluster(id) => call.db_cluster_identifiers(id),
        };
        call.send().await.map_err(sdk_error)?;
        Ok(())
    }

    async fn deregister_target(
        &self,
        proxy: &str,
        group: &str,
        backend: &Backend,
    ) -> RdsResult<()> {
        let call = self
            .client
            .deregister_db_proxy_targets()
            .db_proxy_name(proxy)
            .target_group_name(group);
        let call = match backend {
            Backend::Instance(id) => call.db_instance_identifiers(id),
            Backend::Cluster(id) => call.db_cluster_identifiers(id),
        };
        call.send().await.map_err(sdk_error)?;
        Ok(())
    }

    async fn proxy_targets(&self, proxy: &str, group: &str) -> RdsResult<Vec<ProxyTarget>> {
        let mut found = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let reply = self
                .client
                .describe_db_proxy_targets()
                .db_proxy_name(proxy)
                .target_group_name(group)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(sdk_error)?;
            for t in reply.targets() {
                let health = t.target_health();
                found.push(ProxyTarget {
                    resource_id: t.rds_resource_id().unwrap_or_default().to_string(),
                    tracked_cluster: t.tracked_cluster_id().map(str::to_string),
                    kind: t
                        .r#type()
                        .map(|k| k.as_str().to_string())
                        .unwrap_or_default(),
                    role: t.role().map(|r| r.as_str().to_string()),
                    state: health
                        .and_then(|h| h.state())
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    reason: health
                        .and_then(|h| h.reason())
                        .map(|r| r.as_str().to_string()),
                    description: health.and_then(|h| h.description()).map(str::to_string),
                });
            }
            match reply.marker() {
                Some(next) if !next.is_empty() => marker = Some(next.to_string()),
                _ => return Ok(found),
            }
        }
    }
}
