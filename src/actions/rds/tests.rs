//! The waiting and state logic of the `rds.*` actions against `FakeRds`, in
//! paused time: status sequences, timeouts, broken statuses, and resumes that
//! find what an earlier attempt made.

use std::cell::RefCell;

use serde::de::DeserializeOwned;
use serde_json::json;

use super::api::RUN_TAG;
use super::aws::{default_snapshot_id, identifier, run_tags, Here};
use super::compare::RdsCompare;
use super::fake::{instance, snapshot, FakeRds};
use super::modify::RdsModify;
use super::promote::RdsPromote;
use super::read_replica::RdsReadReplica;
use super::restore::RdsRestore;
use super::snapshot::RdsSnapshot;
use super::wait::RdsWait;
use super::*;
use crate::actions::{Action, Progress};

const RUN: &str = "20250101-220000-ab12";

fn params<T: DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("parameters")
}

/// Runs `f` with a `Here` whose progress is collected.
struct Seen(RefCell<Vec<Progress>>);

impl Seen {
    fn new() -> Self {
        Self(RefCell::new(Vec::new()))
    }

    fn statuses(&self) -> Vec<String> {
        self.0
            .borrow()
            .iter()
            .filter_map(|p| match p {
                Progress::Status(s) | Progress::Output(s) => Some(s.clone()),
                Progress::Amount { .. } | Progress::Transfer { .. } => None,
            })
            .collect()
    }

    fn amounts(&self) -> Vec<u64> {
        self.0
            .borrow()
            .iter()
            .filter_map(|p| match p {
                Progress::Amount { done, .. } => Some(*done),
                _ => None,
            })
            .collect()
    }
}

macro_rules! with_here {
    ($seen:ident, $here:ident) => {
        let $seen = Seen::new();
        let report = |p: Progress| $seen.0.borrow_mut().push(p);
        let $here = Here {
            run: RUN,
            step: "snap",
            report: &report,
        };
    };
}

fn ours(mut i: crate::actions::rds::api::Instance) -> crate::actions::rds::api::Instance {
    i.tags = run_tags(RUN, "step");
    i
}

#[test]
fn default_snapshot_ids_are_valid_rds_identifiers() {
    assert_eq!(
        default_snapshot_id(RUN, "pre_cutover.snapshot"),
        "cutover-20250101-220000-ab12-pre-cutover-snapshot"
    );
    assert_eq!(identifier("--9 lives__", 255), "c-9-lives");
    assert_eq!(identifier(&"a".repeat(300), 255).len(), 255);
}

#[tokio::test(start_paused = true)]
async fn a_snapshot_is_created_and_waited_for_with_its_percent() {
    let api = FakeRds::default().with_instance(vec![instance("db1", "available")]);
    let step: RdsSnapshot = params(json!({ "instance": "db1", "snapshot_id": "s1" }));
    with_here!(seen, here);
    let data = step.run(&api, &here).await.unwrap();
    assert_eq!(api.calls(), ["create_snapshot s1"]);
    assert_eq!(data["created"], true);
    assert_eq!(data["status"], "available");
    assert_eq!(seen.amounts(), [0, 40, 100]);
    let statuses = seen.statuses();
    assert!(
        statuses.contains(&"snapshot `s1`: creating, 40% (10s elapsed)".to_string()),
        "{statuses:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_resumed_snapshot_finds_its_own_instead_of_making_a_second() {
    let id = default_snapshot_id(RUN, "snap");
    let api = FakeRds::default().with_instance(vec![instance("db1", "available")]);
    let mut mine = snapshot(&id, "db1", "creating", 70);
    mine.tags = run_tags(RUN, "snap");
    let done = super::api::Snapshot {
        status: "available".into(),
        percent_progress: 100,
        ..mine.clone()
    };
    api.set_snapshot(&id, vec![Some(mine), Some(done)]);
    let step: RdsSnapshot = params(json!({ "instance": "db1" }));
    with_here!(seen, here);
    let data = step.run(&api, &here).await.unwrap();
    assert!(api.calls().is_empty(), "{:?}", api.calls());
    assert_eq!(data["created"], false);
    assert_eq!(data["snapshot_id"], id.as_str());
    assert!(seen.statuses()[0].contains("made earlier in this run"));
}

#[tokio::test(start_paused = true)]
async fn a_snapshot_id_taken_by_someone_else_is_refused() {
    let api = FakeRds::default().with_instance(vec![instance("db1", "available")]);
    api.set_snapshot("s1", vec![Some(snapshot("s1", "db1", "available", 100))]);
    let step: RdsSnapshot = params(json!({ "instance": "db1", "snapshot_id": "s1" }));
    with_here!(seen, here);
    let error = step.run(&api, &here).await.unwrap_err().to_string();
    assert!(error.contains("snapshot `s1` already exists"), "{error}");
    assert!(api.calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_snapshot_of_a_missing_instance_fails_with_the_aws_code() {
    let api = FakeRds::default();
    let step: RdsSnapshot = params(json!({ "instance": "nope", "snapshot_id": "s1" }));
    with_here!(seen, here);
    let error = format!("{:#}", step.run(&api, &here).await.unwrap_err());
    assert_eq!(
        error,
        "failed to snapshot instance `nope` as `s1`: DBInstanceNotFound: DBInstance nope not found."
    );
}

#[tokio::test(start_paused = true)]
async fn a_snapshot_stuck_creating_times_out_naming_its_status() {
    let api = FakeRds::default();
    api.set_snapshot("s1", vec![Some(snapshot("s1", "db1", "creating", 5))]);
    with_here!(seen, here);
    let started = tokio::time::Instant::now();
    let poll = super::poll::Poll::within(std::time::Duration::from_secs(600));
    let error = super::poll::snapshot(&api, "s1", poll, here.report)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(started.elapsed().as_secs(), 600);
    assert!(
        error.starts_with("snapshot `s1` is still `creating, 5%` after 10m"),
        "{error}"
    );
    // Polls 10 s apart, each shown with the time waited.
    assert!(seen.statuses().iter().any(|s| s.ends_with("(5m elapsed)")));
}

#[tokio::test(start_paused = true)]
async fn a_failed_snapshot_fails_at_once() {
    let api = FakeRds::default();
    api.set_snapshot(
        "s1",
        vec![
            Some(snapshot("s1", "db1", "creating", 5)),
            Some(snapshot("s1", "db1", "failed", 5)),
        ],
    );
    with_here!(seen, here);
    let poll = super::poll::Poll::within(std::time::Duration::from_secs(3600));
    let error = super::poll::snapshot(&api, "s1", poll, here.report)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(error, "snapshot `s1` is `failed`");
}

#[tokio::test(start_paused = true)]
async fn a_restore_goes_through_its_statuses_and_tags_what_it_made() {
    let api = FakeRds::default();
    api.set_snapshot("s1", vec![Some(snapshot("s1", "db1", "available", 100))]);
    let step: RdsRestore =
        params(json!({ "snapshot": "s1", "instance": "db2", "class": "db.r6g.large" }));
    with_here!(seen, here);
    let data = step.run(&api, &here).await.unwrap();
    assert_eq!(api.calls(), ["restore s1 db2"]);
    assert_eq!(data["status"], "available");
    assert_eq!(data["class"], "db.r6g.large");
    let statuses = seen.statuses();
    assert!(statuses
        .iter()
        .any(|s| s.starts_with("instance `db2`: creating (")));
    assert!(statuses
        .iter()
        .any(|s| s.starts_with("instance `db2`: backing-up (")));
    // A second attempt (a resume) adopts it.
    let again = step.run(&api, &here).await.unwrap();
    assert_eq!(again["created"], false);
    assert_eq!(api.calls().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_restore_from_a_missing_snapshot_fails_before_calling() {
    let api = FakeRds::default();
    let step: RdsRestore = params(json!({ "snapshot": "gone", "instance": "db2" }));
    with_here!(seen, here);
    let error = step.run(&api, &here).await.unwrap_err().to_string();
    assert_eq!(error, "snapshot `gone` does not exist");
    assert!(api.calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_restore_onto_an_instance_of_someone_else_is_refused() {
    let api = FakeRds::default().with_instance(vec![instance("db2", "available")]);
    let step: RdsRestore = params(json!({ "snapshot": "s1", "instance": "db2" }));
    with_here!(seen, here);
    let error = step.run(&api, &here).await.unwrap_err().to_string();
    assert!(
        error.contains("already exists and this run did not create it"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_instance_in_a_broken_status_fails_the_wait_at_once() {
    let api = FakeRds::default().with_instance(vec![
        instance("db2", "creating"),
        instance("db2", "incompatible-parameters"),
    ]);
    let step: RdsWait = params(json!({ "instance": "db2" }));
    with_here!(seen, here);
    let error = step.run(&api, &here).await.unwrap_err().to_string();
    assert!(
        error.contains("`incompatible-parameters`: it cannot become `available`"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_wait_times_out_with_the_last_status() {
    let api = FakeRds::default().with_instance(vec![instance("db1", "modifying")]);
    let step: RdsWait = params(json!({ "instance": "db1", "timeout": "2m" }));
    with_here!(seen, here);
    let error = step.run(&api, &here).await.unwrap_err().to_string();
    assert!(
        error.starts_with("instance `db1` is still `modifying` after 2m"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_rollback_deletes_only_an_instance_this_run_created() {
    let api = FakeRds::default().with_instance(vec![instance("db2", "available")]);
    let restore: RdsRestore = params(json!({ "snapshot": "s1", "instance": "db2" }));
    with_here!(seen, here);
    let kept = restore.undo().run(&api, &here).await.unwrap();
    assert_eq!(kept["deleted"], false);
    assert!(api.calls().is_empty());

    let api = FakeRds::default().with_instance(vec![ours(instance("db2", "available"))]);
    let gone = restore.undo().run(&api, &here).await.unwrap();
    assert_eq!(gone["deleted"], true);
    assert_eq!(api.calls(), ["delete_instance db2 None"]);
    assert!(seen
        .statuses()
        .iter()
        .any(|s| s.starts_with("instance `db2`: deleting (")));
    // Again (a resumed rollback): nothing left to do.
    let again = restore.undo().run(&api, &here).await.unwrap();
    assert_eq!(again["deleted"], false);
}

#[tokio::test(start_paused = true)]
async fn a_snapshot_is_deleted_on_rollback_only_when_asked_and_only_if_ours() {
    let keep: RdsSnapshot = params(json!({ "instance": "db1" }));
    assert!(keep.undo().is_none());
    let drop: RdsSnapshot = params(json!({ "instance": "db1", "delete_on_rollback": true }));
    let inverse = drop.undo().unwrap();
    let id = default_snapshot_id(RUN, "snap");
    let api = FakeRds::default();
    let mut mine = snapshot(&id, "db1", "available", 100);
    mine.tags.insert(RUN_TAG.into(), RUN.into());
    api.set_snapshot(&id, vec![Some(mine)]);
    with_here!(seen, here);
    let data = inverse.run(&api, &here).await.unwrap();
    assert_eq!(data["deleted"], true);
    assert_eq!(api.calls(), [format!("delete_snapshot {id}")]);
}

#[tokio::test(start_paused = true)]
async fn a_replica_is_created_then_promoted_until_it_stands_alone() {
    let api = FakeRds::default().with_instance(vec![instance("db1", "available")]);
    let replica: RdsReadReplica = params(json!({ "source": "db1", "instance": "db1-next" }));
    with_here!(seen, here);
    let data = replica.run(&api, &here).await.unwrap();
    assert_eq!(data["status"], "available");
    let promote: RdsPromote = params(json!({ "instance": "db1-next" }));
    let data = promote.run(&api, None, &here).await.unwrap();
    assert_eq!(data["promoted_from"], "db1");
    assert_eq!(
        api.calls(),
        ["create_replica db1 db1-next", "promote db1-next"]
    );
    let statuses = seen.statuses();
    assert!(statuses
        .iter()
        .any(|s| s.starts_with("instance `db1-next`: modifying (promoting)")));
    assert!(
        !statuses.iter().any(|s| s.starts_with("warning")),
        "{statuses:?}"
    );
    // A resumed promote sees no source and does not call again.
    promote.run(&api, None, &here).await.unwrap();
    assert_eq!(api.calls().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_promoted_instance_still_listed_as_a_replica_counts_after_it_settles() {
    let mut replica = instance("db1-next", "available");
    replica.replica_source = Some("db1".into());
    let api = FakeRds::default().with_instance(vec![replica.clone()]);
    *api.after_promote.borrow_mut() = Some(vec![replica]);
    let promote: RdsPromote = params(json!({ "instance": "db1-next", "timeout": "10m" }));
    with_here!(seen, here);
    let started = tokio::time::Instant::now();
    promote.run(&api, None, &here).await.unwrap();
    // Three polls 10 s apart: two waits.
    assert_eq!(started.elapsed().as_secs(), 20);
    assert!(seen.statuses().contains(
        &"warning: RDS still lists `db1-next` as a replica of `db1` while it is available"
            .to_string()
    ));
}

#[tokio::test(start_paused = true)]
async fn a_modify_waits_until_the_new_class_is_in_place() {
    let api = FakeRds::default().with_instance(vec![instance("db1", "available")]);
    let step: RdsModify = params(json!({ "instance": "db1", "class": "db.r6g.xlarge" }));
    with_here!(seen, here);
    let data = step.run(&api, &here).await.unwrap();
    assert_eq!(data["class"], "db.r6g.xlarge");
    assert_eq!(data["previous_class"], "db.m5.large");
    assert!(seen
        .statuses()
        .iter()
        .any(|s| s.starts_with("instance `db1`: modifying (db.m5.large)")));
    // Done already: a second run does not call.
    step.run(&api, &here).await.unwrap();
    assert_eq!(api.calls(), ["modify db1"]);
}

#[tokio::test(start_paused = true)]
async fn a_modify_for_the_maintenance_window_does_not_wait() {
    let api = FakeRds::default().with_instance(vec![instance("db1", "available")]);
    let step: RdsModify =
        params(json!({ "instance": "db1", "class": "db.r6g.xlarge", "apply_immediately": false }));
    with_here!(seen, here);
    step.run(&api, &here).await.unwrap();
    // Pending now: another attempt sees it pending and does not call again.
    step.run(&api, &here).await.unwrap();
    assert_eq!(api.calls(), ["modify db1"]);
}

#[test]
fn compare_fails_where_the_target_is_smaller_and_warns_on_burstable() {
    let source = super::api::Instance {
        class: "db.r6g.xlarge".into(),
        storage_type: "io1".into(),
        iops: Some(5000),
        allocated_storage: 500,
        ..instance("old", "available")
    };
    let target = super::api::Instance {
        class: "db.t4g.large".into(),
        storage_type: "gp2".into(),
        allocated_storage: 400,
        engine_version: "15.4".into(),
        ..instance("new", "available")
    };
    let found = compare::compare(&source, &target);
    assert_eq!(
        found.problems,
        [
            "engine version 15.4 is older than the source's 16.3",
            "db.t4g.large has 2 vCPU, the source's db.r6g.xlarge has 4",
            "db.t4g.large has 8 GiB of memory, the source's db.r6g.xlarge has 32",
            "400 GiB of storage, the source has 500",
            "1200 IOPS (gp2), the source has 5000 (io1)",
        ]
    );
    assert_eq!(found.warnings.len(), 1);
    assert!(found.warnings[0].starts_with("db.t4g.large is burstable"));

    let bigger = super::api::Instance {
        class: "db.r6g.2xlarge".into(),
        storage_type: "io1".into(),
        iops: Some(8000),
        allocated_storage: 500,
        ..instance("new", "available")
    };
    assert_eq!(
        compare::compare(&source, &bigger),
        compare::Findings::default()
    );
}

#[test]
fn compare_fails_on_smaller_capacity_parameters_and_warns_on_others() {
    let from = [
        ("max_connections", "500"),
        ("work_mem", "8192"),
        ("timezone", "UTC"),
    ];
    let to = [
        ("max_connections", "100"),
        ("work_mem", "16384"),
        ("timezone", "CET"),
    ];
    let map = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let mut found = compare::Findings::default();
    compare::compare_parameters(&map(&from), &map(&to), &mut found);
    assert_eq!(
        found.problems,
        ["parameter max_connections is 100, the source's is 500"]
    );
    assert_eq!(found.warnings.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn compare_reads_both_instances_and_their_parameter_groups() {
    let api = FakeRds::default()
        .with_instance(vec![instance("old", "available")])
        .with_instance(vec![super::api::Instance {
            class: "db.m5.xlarge".into(),
            ..instance("new", "available")
        }]);
    api.parameters.borrow_mut().insert(
        "default.postgres16".into(),
        [("max_connections".to_string(), "100".to_string())].into(),
    );
    let step: RdsCompare = params(json!({ "source": "old", "target": "new" }));
    with_here!(seen, here);
    let data = step.run(&api, &here).await.unwrap();
    assert_eq!(data["target"]["vcpu"], 4);
    let missing: RdsCompare = params(json!({ "source": "old", "target": "nope" }));
    let error = missing.run(&api, &here).await.unwrap_err().to_string();
    assert_eq!(error, "instance `nope` does not exist");
}

#[test]
fn a_failed_restore_replica_or_snapshot_is_undone_itself() {
    let restore: RdsRestore = params(json!({ "snapshot": "s1", "instance": "db2" }));
    let replica: RdsReadReplica = params(json!({ "source": "db1", "instance": "db2" }));
    let snapshot: RdsSnapshot = params(json!({ "instance": "db1", "delete_on_rollback": true }));
    assert!(restore.undoes_partial_failure());
    assert!(replica.undoes_partial_failure());
    assert!(snapshot.undoes_partial_failure());
}

#[tokio::test(start_paused = true)]
async fn a_blue_green_deployment_is_waited_for_and_its_green_tagged_when_it_appears() {
    use super::blue_green::RdsBlueGreen;
    let api = FakeRds::default().with_instance(vec![crate::actions::rds::api::Instance {
        arn: "arn:aws:rds:us-east-1:1:db:blue".into(),
        ..instance("blue", "available")
    }]);
    with_here!(seen, here);
    let step: RdsBlueGreen =
        params(json!({ "name": "bg", "source": "blue", "target_class": "db.r6g.xlarge" }));
    let data = step.run(&api, &here).await.unwrap();
    assert_eq!(data["green"], "blue-green-abc");
    assert_eq!(data["status"], "AVAILABLE");
    assert_eq!(
        api.calls.borrow().as_slice(),
        [
            "create_deployment bg",
            "tag arn:aws:rds:us-east-1:1:db:blue-green-abc"
        ]
    );
    let shown = seen.statuses();
    assert!(
        shown
            .iter()
            .any(|t| t.contains("PROVISIONING: CREATING_READ_REPLICA_OF_SOURCE: IN_PROGRESS")),
        "{shown:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_switchover_fails_with_rds_s_reason() {
    use super::blue_green_api::Deployment;
    use super::blue_green_switchover::RdsBlueGreenSwitchover;
    let api = FakeRds::default();
    let available = Deployment {
        id: "bgd-1".into(),
        name: "bg".into(),
        status: "AVAILABLE".into(),
        source: "arn:aws:rds:us-east-1:1:db:blue".into(),
        ..Deployment::default()
    };
    api.deployments
        .borrow_mut()
        .insert("bg".into(), vec![Some(available.clone())].into());
    *api.after_switchover.borrow_mut() = vec![
        Deployment {
            status: "SWITCHOVER_IN_PROGRESS".into(),
            ..available.clone()
        },
        Deployment {
            status: "SWITCHOVER_FAILED".into(),
            details: "Switchover timed out: replica lag 93 s".into(),
            ..available
        },
    ];
    with_here!(seen, here);
    let step: RdsBlueGreenSwitchover = params(json!({ "name": "bg" }));
    let error = step.run(&api, &here).await.unwrap_err().to_string();
    assert_eq!(
        error,
        "the Blue/Green deployment `bg` is SWITCHOVER_FAILED: Switchover timed out: replica lag 93 s"
    );
    assert_eq!(api.calls.borrow().as_slice(), ["switchover bgd-1"]);
    let _ = seen;
}

/// Lag readings in order; the last one repeats.
struct Readings(RefCell<Vec<(bool, &'static str)>>);

#[async_trait::async_trait(?Send)]
impl super::lag_check::LagProbe for Readings {
    async fn read(
        &self,
        _started: std::time::SystemTime,
    ) -> anyhow::Result<crate::actions::shared::replica_lag::LagReading> {
        let mut left = self.0.borrow_mut();
        let (caught_up, shown) = if left.len() > 1 {
            left.remove(0)
        } else {
            left[0]
        };
        Ok(crate::actions::shared::replica_lag::LagReading {
            caught_up,
            shown: shown.into(),
        })
    }

    fn source(&self) -> String {
        "test readings".into()
    }
}

fn a_replica() -> FakeRds {
    let mut replica = instance("db1-next", "available");
    replica.replica_source = Some("db1".into());
    FakeRds::default().with_instance(vec![replica])
}

#[tokio::test(start_paused = true)]
async fn a_lagging_replica_is_not_promoted_and_the_lag_is_named() {
    let api = a_replica();
    let lag = Readings(RefCell::new(vec![(false, "ReplicaLag 12 s")]));
    let promote: RdsPromote = params(json!({ "instance": "db1-next", "lag_timeout": "30s" }));
    with_here!(seen, here);
    let error = promote.run(&api, Some(&lag), &here).await.unwrap_err();
    let text = format!("{error:#}");
    assert!(
        text.contains("not caught up after 30s: ReplicaLag 12 s"),
        "{text}"
    );
    assert!(text.contains("force: true"), "{text}");
    assert!(api.calls().is_empty(), "promoted anyway: {:?}", api.calls());
    let _ = seen;
}

#[tokio::test(start_paused = true)]
async fn a_replica_is_promoted_once_its_lag_reaches_zero() {
    let api = a_replica();
    let lag = Readings(RefCell::new(vec![
        (false, "ReplicaLag 3 s"),
        (false, "ReplicaLag 1 s"),
        (true, "ReplicaLag 0 s"),
    ]));
    let promote: RdsPromote = params(json!({ "instance": "db1-next", "timeout": "1m" }));
    with_here!(seen, here);
    let data = promote.run(&api, Some(&lag), &here).await.unwrap();
    assert_eq!(api.calls(), ["promote db1-next"]);
    assert_eq!(data["lag_check"]["reading"], "ReplicaLag 0 s");
    let statuses = seen.statuses();
    assert!(
        statuses
            .iter()
            .any(|s| s.contains("not caught up yet: ReplicaLag 3 s")),
        "{statuses:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn force_promotes_without_the_check_and_says_so() {
    let api = a_replica();
    let promote: RdsPromote =
        params(json!({ "instance": "db1-next", "force": true, "timeout": "1m" }));
    with_here!(seen, here);
    let data = promote.run(&api, None, &here).await.unwrap();
    assert_eq!(data["lag_check"], "skipped (force)");
    assert!(seen
        .statuses()
        .iter()
        .any(|s| s.contains("without checking its lag")));
}
