//! `rds.proxy_swap`: move an RDS Proxy to another database. Registers the
//! new instance (or cluster) in the proxy's target group, waits until RDS
//! Proxy calls it `AVAILABLE`, then deregisters the old one and waits until
//! it is gone from the group. Its inverse is the same swap the other way
//! round.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

use super::aws::aws_fields;
use super::proxy_api::{Backend, ProxyApi, ProxyTarget};
use super::sdk::SdkRds;
use crate::actions::shared::poll::{self, Check, Poll};
use crate::actions::{
    descriptor, Action, ActionFailure, ActionRef, Applied, Descriptor, Progress, StepContext,
};
use crate::duration::{format_duration, DurationText};

fn default_group() -> String {
    "default".into()
}

fn ten_minutes() -> DurationText {
    DurationText(Duration::from_secs(600))
}

/// An instance id, `{ instance: ID }` or `{ cluster: ID }`, for the schema.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum BackendText {
    Instance(String),
    Either {
        #[serde(default)]
        instance: Option<String>,
        #[serde(default)]
        cluster: Option<String>,
    },
}

fn backend<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Backend, D::Error> {
    let bad = || {
        serde::de::Error::custom("expected an instance id, `{ instance: ID }` or `{ cluster: ID }`")
    };
    let valid = |id: &str| -> Result<String, D::Error> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(serde::de::Error::custom(format!(
                "`{}` is not an RDS identifier (letters, digits, hyphens)",
                id.escape_debug()
            )));
        }
        Ok(id.to_string())
    };
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(id) => Ok(Backend::Instance(valid(&id)?)),
        serde_json::Value::Object(map) if map.len() == 1 => {
            let (key, value) = map.into_iter().next().ok_or_else(bad)?;
            let id = value.as_str().ok_or_else(bad)?;
            match key.as_str() {
                "instance" => Ok(Backend::Instance(valid(id)?)),
                "cluster" => Ok(Backend::Cluster(valid(id)?)),
                _ => Err(bad()),
            }
        }
        _ => Err(bad()),
    }
}

/// Parameters of `rds.proxy_swap`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxySwap {
    /// The RDS Proxy's name.
    pub proxy: String,
    /// The proxy's target group.
    #[serde(default = "default_group")]
    pub target_group: String,
    /// What the proxy sends connections to now: an instance id, or
    /// `{ cluster: ID }` (also `{ instance: ID }`).
    #[serde(deserialize_with = "backend")]
    #[schemars(with = "BackendText")]
    pub from: Backend,
    /// What it must send them to afterwards, the same way.
    #[serde(deserialize_with = "backend")]
    #[schemars(with = "BackendText")]
    pub to: Backend,
    /// Longest wait, each, for the new target to be `AVAILABLE` and for the
    /// old one to leave the group.
    #[serde(
        default = "ten_minutes",
        deserialize_with = "crate::duration::positive"
    )]
    pub timeout: DurationText,
    /// AWS region; by default from the standard chain.
    #[serde(default)]
    pub region: Option<String>,
    /// A profile of `~/.aws/config`.
    #[serde(default)]
    pub profile: Option<String>,
    /// Another endpoint for RDS; also `AWS_ENDPOINT_URL`.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Set on the inverse: undo only what the swap noted it began.
    #[serde(skip)]
    pub undo: bool,
}

aws_fields!(ProxySwap);

/// The entries of the group that stand for `backend`: the instance, or a
/// cluster and the instances it tracks.
fn entries<'a>(
    all: &'a [ProxyTarget],
    backend: &'a Backend,
) -> impl Iterator<Item = &'a ProxyTarget> {
    all.iter().filter(move |t| match backend {
        Backend::Instance(id) => t.kind == "RDS_INSTANCE" && &t.resource_id == id,
        Backend::Cluster(id) => &t.resource_id == id || t.tracked_cluster.as_ref() == Some(id),
    })
}

fn show(t: &ProxyTarget) -> String {
    let mut text = format!("{} {}", t.resource_id, t.state);
    if let Some(reason) = &t.reason {
        text.push_str(&format!(" ({reason}"));
        if let Some(description) = &t.description {
            text.push_str(&format!(": {description}"));
        }
        text.push(')');
    }
    text
}

/// `None` when `backend` takes connections; else what it is waiting on.
fn not_available(all: &[ProxyTarget], backend: &Backend) -> Option<String> {
    let instances: Vec<&ProxyTarget> = entries(all, backend)
        .filter(|t| t.kind == "RDS_INSTANCE")
        .collect();
    if instances.is_empty() {
        return Some(format!("{backend} not listed yet"));
    }
    // A cluster takes connections through its writer; an instance is its own.
    let writers: Vec<&&ProxyTarget> = instances
        .iter()
        .filter(|t| t.role.as_deref() == Some("READ_WRITE"))
        .collect();
    let needed: Vec<&ProxyTarget> = if writers.is_empty() {
        instances
    } else {
        writers.into_iter().copied().collect()
    };
    let waiting: Vec<String> = needed
        .into_iter()
        .filter(|t| t.state != "AVAILABLE")
        .map(show)
        .collect();
    (!waiting.is_empty()).then(|| waiting.join(", "))
}

impl ProxySwap {
    fn reversed(&self) -> ProxySwap {
        ProxySwap {
            from: self.to.clone(),
            to: self.from.clone(),
            undo: true,
            ..self.clone()
        }
    }

    /// The step: the swap, noting what it registers before registering it;
    /// the undo of a swap that never got that far changes nothing.
    async fn run<A: ProxyApi>(
        &self,
        api: &A,
        cx: &StepContext<'_>,
    ) -> anyhow::Result<serde_json::Value> {
        if self.undo && cx.recall("registering").is_none() {
            cx.report(Progress::Status(
                "the swap never registered a target: nothing to undo".into(),
            ));
            return Ok(serde_json::json!({ "undone": false }));
        }
        self.swap(api, cx.progress, &|| {
            if self.undo {
                return Ok(());
            }
            cx.note(serde_json::json!({ "registering": self.to.id() }))
        })
        .await
    }

    /// The whole swap against `api`; `noting` is called once the proxy's
    /// targets could be read, before anything changes.
    pub async fn swap<A: ProxyApi>(
        &self,
        api: &A,
        report: &dyn Fn(Progress),
        noting: &dyn Fn() -> anyhow::Result<()>,
    ) -> anyhow::Result<serde_json::Value> {
        if self.from == self.to {
            bail!("`from` and `to` are both {}", self.to);
        }
        let (proxy, group) = (&self.proxy, &self.target_group);
        let targets = || async {
            api.proxy_targets(proxy, group).await.with_context(|| {
                format!("failed to list the targets of proxy `{proxy}` (target group `{group}`)")
            })
        };
        let already = targets().await?;
        noting()?;
        if entries(&already, &self.to).next().is_none() {
            api.register_target(proxy, group, &self.to)
                .await
                .with_context(|| {
                    format!(
                        "failed to register {} as a target of proxy `{proxy}`",
                        self.to
                    )
                })?;
        }
        let poll = Poll::within(self.timeout.0);
        let what = format!("proxy `{proxy}`: {} AVAILABLE", self.to);
        poll::until(&what, poll, report, || async {
            let all = targets().await?;
            Ok(match not_available(&all, &self.to) {
                None => Check::Done(()),
                Some(waiting) => Check::Pending(waiting),
            })
        })
        .await?;
        let all = targets().await?;
        if entries(&all, &self.from).next().is_some() {
            api.deregister_target(proxy, group, &self.from)
                .await
                .with_context(|| {
                    format!("failed to deregister {} from proxy `{proxy}`", self.from)
                })?;
        }
        let what = format!("proxy `{proxy}`: {} deregistered", self.from);
        poll::until(&what, poll, report, || async {
            let all = targets().await?;
            let left: Vec<String> = entries(&all, &self.from).map(show).collect();
            Ok(if left.is_empty() {
                Check::Done(())
            } else {
                Check::Pending(left.join(", "))
            })
        })
        .await?;
        Ok(serde_json::json!({
            "proxy": proxy,
            "target_group": group,
            "registered": self.to.id(),
            "deregistered": self.from.id(),
        }))
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "rds.proxy_swap",
    ProxySwap,
    "move an RDS Proxy to another instance or cluster: register it, wait until AVAILABLE, deregister the old; rollback swaps back"
);

#[async_trait(?Send)]
impl Action for ProxySwap {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn describe(&self) -> String {
        format!(
            "point RDS Proxy `{}` (target group `{}`) at {} instead of {}: register, wait until AVAILABLE, deregister (at most {} each)",
            self.proxy,
            self.target_group,
            self.to,
            self.from,
            format_duration(self.timeout.0)
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let api = SdkRds::connect(&self.aws()).await?;
        let data = self.run(&api, cx).await?;
        Ok(Applied {
            data,
            ..Applied::default()
        })
    }

    fn inverse(&self) -> Option<ActionRef> {
        Some(Arc::new(self.reversed()))
    }

    // Registers only what is not registered and deregisters only what is:
    // a second attempt picks up where the first stopped.
    fn idempotent(&self) -> bool {
        true
    }

    // The reverse swap puts the old target back (or leaves it, still there)
    // and takes the new one out, however far the swap got; nothing when it
    // never began (an unknown proxy).
    fn undoes_partial_failure(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::actions::rds::api::RdsResult;

    /// Targets with the states still to come, one per listing.
    #[derive(Default)]
    struct Fake {
        targets: RefCell<Vec<(ProxyTarget, Vec<&'static str>)>>,
        registered: Vec<&'static str>,
    }

    fn instance(id: &str, state: &str) -> ProxyTarget {
        ProxyTarget {
            resource_id: id.into(),
            kind: "RDS_INSTANCE".into(),
            state: state.into(),
            ..ProxyTarget::default()
        }
    }

    impl ProxyApi for Fake {
        async fn register_target(&self, _: &str, _: &str, backend: &Backend) -> RdsResult<()> {
            self.targets
                .borrow_mut()
                .push((instance(backend.id(), ""), self.registered.clone()));
            Ok(())
        }

        async fn deregister_target(&self, _: &str, _: &str, backend: &Backend) -> RdsResult<()> {
            self.targets
                .borrow_mut()
                .retain(|(t, _)| t.resource_id != backend.id());
            Ok(())
        }

        async fn proxy_targets(&self, _: &str, _: &str) -> RdsResult<Vec<ProxyTarget>> {
            let mut all = self.targets.borrow_mut();
            Ok(all
                .iter_mut()
                .map(|(t, states)| {
                    if !states.is_empty() {
                        t.state = if states.len() > 1 {
                            states.remove(0)
                        } else {
                            states[0]
                        }
                        .to_string();
                    }
                    t.clone()
                })
                .collect())
        }
    }

    fn swap(with: serde_json::Value) -> ProxySwap {
        serde_json::from_value(with).unwrap()
    }

    fn ids(api: &Fake) -> Vec<String> {
        api.targets
            .borrow()
            .iter()
            .map(|(t, _)| t.resource_id.clone())
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn the_old_target_stays_until_the_new_one_is_available() {
        let api = Fake {
            targets: RefCell::new(vec![(instance("old", "AVAILABLE"), vec![])]),
            registered: vec!["REGISTERING", "REGISTERING", "AVAILABLE"],
        };
        let step = swap(serde_json::json!({ "proxy": "px", "from": "old", "to": "new" }));
        let seen = RefCell::new(Vec::new());
        let report = |p: Progress| seen.borrow_mut().push(format!("{p:?}"));
        step.swap(&api, &report, &|| Ok(())).await.unwrap();
        assert_eq!(ids(&api), vec!["new"]);
        assert!(seen
            .borrow()
            .iter()
            .any(|s| s.contains("instance `new` AVAILABLE: new REGISTERING")));
        let back = step.reversed();
        back.swap(&api, &|_| {}, &|| Ok(())).await.unwrap();
        assert_eq!(ids(&api), vec!["old"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_target_that_never_becomes_available_times_out_naming_it_and_its_reason() {
        let api = Fake {
            targets: RefCell::new(vec![(instance("old", "AVAILABLE"), vec![])]),
            registered: vec!["UNAVAILABLE"],
        };
        {
            // RDS says why.
            let mut all = api.targets.borrow_mut();
            all.push((
                ProxyTarget {
                    reason: Some("AUTH_FAILURE".into()),
                    description: Some("wrong secret".into()),
                    ..instance("new", "UNAVAILABLE")
                },
                vec![],
            ));
        }
        let step = swap(serde_json::json!({
            "proxy": "px", "from": "old", "to": { "instance": "new" }, "timeout": "1m"
        }));
        let error = step.swap(&api, &|_| {}, &|| Ok(())).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "proxy `px`: instance `new` AVAILABLE is still `new UNAVAILABLE (AUTH_FAILURE: wrong secret)` \
             after 1m (hint: raise `timeout`, or `cutover resume` goes on waiting)"
        );
        assert_eq!(ids(&api), vec!["old", "new"], "the old target must stay");
    }

    #[test]
    fn a_cluster_is_available_through_its_writer() {
        let cluster = Backend::Cluster("aurora".into());
        let member = |id: &str, role: &str, state: &str| ProxyTarget {
            tracked_cluster: Some("aurora".into()),
            role: Some(role.into()),
            ..instance(id, state)
        };
        let all = vec![
            ProxyTarget {
                resource_id: "aurora".into(),
                kind: "TRACKED_CLUSTER".into(),
                ..ProxyTarget::default()
            },
            member("aurora-1", "READ_WRITE", "AVAILABLE"),
            member("aurora-2", "READ_ONLY", "REGISTERING"),
        ];
        assert_eq!(not_available(&all, &cluster), None);
        assert_eq!(
            not_available(&all[..1], &cluster),
            Some("cluster `aurora` not listed yet".into())
        );
    }

    #[test]
    fn from_and_to_are_instance_ids_or_named_clusters() {
        let step = swap(
            serde_json::json!({ "proxy": "px", "from": "old", "to": { "cluster": "aurora" } }),
        );
        assert_eq!(step.to, Backend::Cluster("aurora".into()));
        assert_eq!(step.target_group, "default");
        let error = serde_json::from_value::<ProxySwap>(
            serde_json::json!({ "proxy": "px", "from": "old", "to": { "db": "x" } }),
        )
        .unwrap_err();
        assert!(error.to_string().contains("`{ cluster: ID }`"), "{error}");
    }
}
