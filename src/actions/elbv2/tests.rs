//! `elbv2.swap`'s waits against a fake target group whose new targets are
//! `initial` before `healthy` and whose old ones are `draining` before they
//! go, as a real load balancer's are (moto makes both instant); time is
//! paused.

use std::cell::RefCell;

use super::api::{Elbv2Api, Health, Target};
use super::swap::Swap;
use crate::actions::shared::aws::AwsError;

/// Each target's states still to come, one per DescribeTargetHealth; when
/// one runs out, the target keeps its last state (or is gone, for `gone`).
#[derive(Default)]
struct Fake {
    targets: RefCell<Vec<(String, i32, Vec<&'static str>)>>,
    /// What a newly registered target goes through.
    registered: Vec<&'static str>,
    /// What a deregistered target goes through.
    deregistered: Vec<&'static str>,
}

impl Elbv2Api for Fake {
    async fn target_group_arn(&self, name: &str) -> Result<String, AwsError> {
        Ok(format!(
            "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/{name}/1"
        ))
    }

    async fn register(&self, _arn: &str, targets: &[Target]) -> Result<(), AwsError> {
        let mut all = self.targets.borrow_mut();
        for t in targets {
            all.retain(|(id, _, _)| id != &t.id);
            all.push((
                t.id.clone(),
                t.port.unwrap_or(5432),
                self.registered.clone(),
            ));
        }
        Ok(())
    }

    async fn deregister(&self, _arn: &str, targets: &[Target]) -> Result<(), AwsError> {
        for (id, _, states) in self.targets.borrow_mut().iter_mut() {
            if targets.iter().any(|t| &t.id == id) {
                *states = self.deregistered.clone();
            }
        }
        Ok(())
    }

    async fn health(&self, _arn: &str) -> Result<Vec<Health>, AwsError> {
        let mut all = self.targets.borrow_mut();
        let mut seen = Vec::new();
        all.retain_mut(|(id, port, states)| {
            let state = if states.len() > 1 {
                states.remove(0)
            } else {
                states[0]
            };
            if state == "gone" {
                return false;
            }
            seen.push(Health {
                id: id.clone(),
                port: Some(*port),
                state: state.to_string(),
                reason: (state == "unhealthy").then(|| "Target.FailedHealthChecks".to_string()),
                description: (state == "unhealthy").then(|| "Health checks failed".to_string()),
            });
            true
        });
        Ok(seen)
    }
}

fn swap(timeout: &str) -> Swap {
    serde_json::from_value(serde_json::json!({
        "target_group": "db", "from": ["10.0.0.1:5432"], "to": ["10.0.0.2"], "timeout": timeout
    }))
    .unwrap()
}

fn fake(registered: Vec<&'static str>, deregistered: Vec<&'static str>) -> Fake {
    Fake {
        targets: RefCell::new(vec![("10.0.0.1".into(), 5432, vec!["healthy"])]),
        registered,
        deregistered,
    }
}

fn ids(api: &Fake) -> Vec<String> {
    api.targets
        .borrow()
        .iter()
        .map(|(id, _, _)| id.clone())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn waits_for_healthy_before_deregistering_and_for_the_drain_after() {
    let api = fake(
        vec!["initial", "initial", "healthy"],
        vec!["draining", "draining", "gone"],
    );
    let seen = RefCell::new(Vec::new());
    let report = |p: crate::actions::Progress| seen.borrow_mut().push(format!("{p:?}"));
    let data = swap("5m").swap(&api, &report, &|_| Ok(())).await.unwrap();
    assert_eq!(ids(&api), vec!["10.0.0.2"]);
    assert_eq!(data["registered"][0], "10.0.0.2");
    assert_eq!(data["deregistered"][0], "10.0.0.1:5432");
    let seen = seen.borrow().join("\n");
    assert!(
        seen.contains("new targets healthy: 10.0.0.2:5432 initial"),
        "{seen}"
    );
    assert!(
        seen.contains("old targets drained: 10.0.0.1:5432 draining"),
        "{seen}"
    );
}

#[tokio::test(start_paused = true)]
async fn new_targets_that_never_turn_healthy_time_out_by_name_and_the_old_stay() {
    let api = fake(vec!["initial", "unhealthy"], vec!["gone"]);
    let error = swap("1m")
        .swap(&api, &|_| {}, &|_| Ok(()))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "target group `db`: new targets healthy is still `10.0.0.2:5432 unhealthy \
         (Target.FailedHealthChecks: Health checks failed)` after 1m \
         (hint: raise `timeout`, or `cutover resume` goes on waiting)"
    );
    // Never deregistered: traffic still has somewhere to go.
    assert_eq!(ids(&api), vec!["10.0.0.1", "10.0.0.2"]);
}

#[tokio::test(start_paused = true)]
async fn a_drain_that_does_not_finish_times_out_naming_the_draining_target() {
    let api = fake(vec!["healthy"], vec!["draining"]);
    let error = swap("30s")
        .swap(&api, &|_| {}, &|_| Ok(()))
        .await
        .unwrap_err();
    assert!(
        error.to_string().starts_with(
            "target group `db`: old targets drained is still `10.0.0.1:5432 draining` after 30s"
        ),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_undo_is_the_swap_the_other_way_round() {
    let api = fake(vec!["healthy"], vec!["gone"]);
    let step = swap("1m");
    step.swap(&api, &|_| {}, &|_| Ok(())).await.unwrap();
    let undo = crate::actions::Action::inverse(&step).unwrap();
    assert!(undo.describe().starts_with(
        "register 10.0.0.1:5432 in target group `db`, wait until healthy, then deregister 10.0.0.2"
    ));
    let back = Swap {
        from: step.to.clone(),
        to: step.from.clone(),
        ..step.clone()
    };
    back.swap(&api, &|_| {}, &|_| Ok(())).await.unwrap();
    assert_eq!(ids(&api), vec!["10.0.0.1"]);
}

#[test]
fn targets_are_ids_or_id_colon_port() {
    assert_eq!(
        Target::parse("10.0.0.5:5432").unwrap(),
        Target {
            id: "10.0.0.5".into(),
            port: Some(5432)
        }
    );
    assert_eq!(Target::parse("i-0abc").unwrap().port, None);
    let lambda = "arn:aws:lambda:us-east-1:123456789012:function:f";
    assert_eq!(Target::parse(lambda).unwrap().id, lambda);
    assert!(Target::parse("10.0.0.5:70000").is_err());
    let error = serde_json::from_value::<Swap>(
        serde_json::json!({ "target_group": "db", "from": [], "to": ["a"] }),
    )
    .unwrap_err();
    assert!(error.to_string().contains("name at least one target"));
}
