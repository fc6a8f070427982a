//! The `rds.*` actions through the real binary and aws-sdk-rds against a real
//! `moto_server`: snapshot, restore, compare, modify, read replica and
//! promotion; failures (a missing snapshot, a wrong instance id, a timeout)
//! each a clear error and a rollback; no credential in output or journal.

use crate::moto::{Moto, SECRET};
use crate::support::{Output, Sandbox};

fn run(sandbox: &Sandbox, moto: &Moto, args: &[&str]) -> Output {
    let env = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let output = sandbox.run_with_env(args, &env);
    no_secret(sandbox, &output);
    output
}

/// The dummy secret key appears nowhere the operator or an auditor looks.
#[track_caller]
fn no_secret(sandbox: &Sandbox, output: &Output) {
    assert!(!output.all().contains(SECRET), "{}", output.all());
    for id in sandbox.run_ids() {
        assert!(!sandbox.journal_text(&id).contains(SECRET));
    }
}

fn applied(sandbox: &Sandbox, step: &str) -> serde_json::Value {
    let run = sandbox.last_run();
    sandbox
        .journal(&run)
        .into_iter()
        .find(|r| r["event"] == "step_finished" && r["step"] == step)
        .map(|r| r["data"]["applied"].clone())
        .unwrap_or_else(|| panic!("no step_finished for {step}"))
}

#[test]
fn snapshot_restore_compare_and_modify_against_moto() {
    let moto = Moto::start();
    moto.create_instance("orders", "db.m5.large", 100);
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        r#"
name: rds-scale
steps:
  - id: backup
    action: rds.snapshot
    with: { instance: orders }
  - id: snapshot
    action: rds.snapshot
    with: { instance: orders, snapshot_id: orders-pre-scale }
  - id: restore
    action: rds.restore
    with: { snapshot: orders-pre-scale, instance: orders-next, class: db.m5.xlarge }
  - id: compare
    action: rds.compare
    with: { source: orders, target: orders-next }
  - id: scale-up
    action: rds.modify
    with: { instance: orders-next, class: db.r6g.xlarge, allocated_storage: 200 }
  - id: settled
    action: rds.wait
    with: { instance: orders-next, timeout: 1m }
"#,
    );
    let output = run(&sandbox, &moto, &["run", "pb.yaml"]);
    output.expect_code(0);
    let run_id = sandbox.last_run();
    let backup = applied(&sandbox, "backup");
    let id = format!("cutover-{run_id}-backup");
    assert_eq!(backup["snapshot_id"], id.as_str());
    assert_eq!(backup["status"], "available");
    assert_eq!(applied(&sandbox, "snapshot")["created"], true);
    let snapshots = moto.snapshots();
    assert!(snapshots.contains(&id), "{snapshots:?}");
    assert!(snapshots.contains(&"orders-pre-scale".to_string()));
    let next = moto.instance("orders-next").expect("restored");
    assert_eq!(next["DBInstanceClass"], "db.r6g.xlarge");
    assert_eq!(next["AllocatedStorage"], 200);
    assert_eq!(applied(&sandbox, "compare")["target"]["vcpu"], 4);
    assert_eq!(
        applied(&sandbox, "scale-up")["previous_class"],
        "db.m5.xlarge"
    );
}

#[test]
fn a_read_replica_is_created_and_promoted_against_moto() {
    let moto = Moto::start();
    moto.create_instance("orders", "db.m5.large", 100);
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        r#"
name: rds-replica
steps:
  - id: replica
    action: rds.read_replica
    with: { source: orders, instance: orders-replica, class: db.m5.xlarge }
  - id: promote
    action: rds.promote
    with: { instance: orders-replica, timeout: 5s, force: true }
"#,
    );
    let output = run(&sandbox, &moto, &["run", "pb.yaml"]);
    output.expect_code(0);
    let replica = moto.instance("orders-replica").expect("replica");
    assert_eq!(replica["DBInstanceClass"], "db.m5.xlarge");
    assert_eq!(applied(&sandbox, "replica")["created"], true);
    assert_eq!(applied(&sandbox, "promote")["promoted_from"], "orders");
    // The replica carries this run's tag, which is how a resume finds it.
    let tags = &replica["TagList"];
    assert!(tags.to_string().contains(&sandbox.last_run()), "{tags}");
}

#[test]
fn a_missing_snapshot_fails_the_restore_and_rolls_back_the_snapshot_step() {
    let moto = Moto::start();
    moto.create_instance("orders", "db.m5.large", 100);
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        r#"
name: rds-missing-snapshot
steps:
  - id: backup
    action: rds.snapshot
    with: { instance: orders, delete_on_rollback: true }
  - id: restore
    action: rds.restore
    with: { snapshot: no-such-snapshot, instance: orders-next }
"#,
    );
    let output = run(&sandbox, &moto, &["run", "pb.yaml"]);
    output.expect_code(3);
    assert!(
        output
            .all()
            .contains("snapshot `no-such-snapshot` does not exist"),
        "{}",
        output.all()
    );
    let events = sandbox.events(&sandbox.last_run());
    assert!(
        events.contains(&"compensation_finished:backup".to_string()),
        "{events:?}"
    );
    assert!(
        moto.snapshots().is_empty(),
        "the rollback deleted the backup"
    );
    assert!(moto.instance("orders-next").is_none());
}

#[test]
fn a_wrong_instance_id_shows_the_aws_code_and_rolls_back_the_restore() {
    let moto = Moto::start();
    moto.create_instance("orders", "db.m5.large", 100);
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        r#"
name: rds-wrong-instance
steps:
  - id: snapshot
    action: rds.snapshot
    with: { instance: orders, snapshot_id: orders-base }
  - id: restore
    action: rds.restore
    with: { snapshot: orders-base, instance: orders-next }
  - id: scale-up
    action: rds.modify
    with: { instance: orders-nxet, class: db.r6g.xlarge }
"#,
    );
    let output = run(&sandbox, &moto, &["run", "pb.yaml"]);
    output.expect_code(3);
    let all = output.all();
    assert!(
        all.contains("instance `orders-nxet` does not exist"),
        "{all}"
    );
    assert!(
        moto.instance("orders-next").is_none(),
        "the restore was undone"
    );
    assert_eq!(
        moto.snapshots(),
        ["orders-base"],
        "a snapshot is kept by default"
    );

    // A call RDS itself refuses: its code and message, not the SDK's debug text.
    sandbox.write(
        "pb2.yaml",
        r#"
name: rds-wrong-instance-2
steps:
  - id: snapshot
    action: rds.snapshot
    with: { instance: orders-nxet, snapshot_id: s2 }
"#,
    );
    let output = run(&sandbox, &moto, &["run", "pb2.yaml"]);
    output.expect_code(3);
    let all = output.all();
    assert!(
        all.contains("failed to snapshot instance `orders-nxet` as `s2`: DBInstanceNotFound"),
        "{all}"
    );
    assert!(!all.contains("ServiceError"), "{all}");
}

#[test]
fn a_wait_that_times_out_says_what_it_waited_for_and_rolls_back() {
    let moto = Moto::start();
    moto.create_instance("orders", "db.m5.large", 100);
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        r#"
name: rds-timeout
steps:
  - id: replica
    action: rds.read_replica
    with: { source: orders, instance: orders-replica }
  - id: stopped
    action: rds.wait
    with: { instance: orders-replica, status: stopped, timeout: 2s }
"#,
    );
    let output = run(&sandbox, &moto, &["run", "pb.yaml"]);
    output.expect_code(3);
    let all = output.all();
    assert!(
        all.contains("instance `orders-replica` is still `available` after 2s"),
        "{all}"
    );
    assert!(
        moto.instance("orders-replica").is_none(),
        "the replica was deleted"
    );
    assert!(moto.instance("orders").is_some());
}

#[test]
fn compare_fails_on_a_smaller_target_and_warns_on_a_burstable_one() {
    let moto = Moto::start();
    moto.create_instance("orders", "db.m5.xlarge", 200);
    moto.create_instance("orders-small", "db.t3.large", 100);
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        r#"
name: rds-compare
steps:
  - id: compare
    action: rds.compare
    with: { source: orders, target: orders-small }
"#,
    );
    let output = run(&sandbox, &moto, &["run", "pb.yaml"]);
    output.expect_code(3);
    let all = output.all();
    assert!(
        all.contains("db.t3.large has 2 vCPU, the source's db.m5.xlarge has 4"),
        "{all}"
    );
    assert!(
        all.contains("100 GiB of storage, the source has 200"),
        "{all}"
    );
    assert!(all.contains("db.t3.large is burstable"), "{all}");
}

#[test]
fn compare_fails_on_a_smaller_capacity_parameter() {
    let moto = Moto::start();
    moto.parameter_group("orders-pg", "max_connections", "500");
    moto.parameter_group("orders-next-pg", "max_connections", "50");
    let group = |name: &str| serde_json::json!({ "DBParameterGroupName": name });
    moto.create_instance_with("orders", "db.m5.large", 100, group("orders-pg"));
    moto.create_instance_with("orders-next", "db.m5.xlarge", 100, group("orders-next-pg"));
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        r#"
name: rds-compare-parameters
steps:
  - id: compare
    action: rds.compare
    with: { source: orders, target: orders-next }
"#,
    );
    let output = run(&sandbox, &moto, &["run", "pb.yaml"]);
    output.expect_code(3);
    let all = output.all();
    assert!(
        all.contains("parameter max_connections is 50, the source's is 500"),
        "{all}"
    );
}

#[test]
fn a_dry_run_describes_every_rds_step_and_calls_nothing() {
    let moto = Moto::start();
    moto.create_instance("orders", "db.m5.large", 100);
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        r#"
name: rds-dry
steps:
  - id: snapshot
    action: rds.snapshot
    with: { instance: orders }
  - id: restore
    action: rds.restore
    with: { snapshot: s1, instance: orders-next, class: db.r6g.large }
"#,
    );
    let output = run(&sandbox, &moto, &["run", "--dry-run", "pb.yaml"]);
    output.expect_code(0);
    let all = output.all();
    assert!(
        all.contains("snapshot RDS instance `orders` as `cutover-<run>-<step>`"),
        "{all}"
    );
    assert!(
        all.contains("restore RDS snapshot `s1` into new instance `orders-next` as db.r6g.large"),
        "{all}"
    );
    assert!(moto.snapshots().is_empty());
    assert!(moto.instance("orders-next").is_none());
}

#[test]
fn the_endpoint_and_region_can_come_from_the_step() {
    let moto = Moto::start();
    moto.create_instance("orders", "db.m5.large", 100);
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &format!(
            r#"
name: rds-fields
steps:
  - id: settled
    action: rds.wait
    with: {{ instance: orders, region: us-east-1, endpoint_url: "{}" }}
"#,
            moto.url()
        ),
    );
    let env = [
        ("AWS_ACCESS_KEY_ID", crate::moto::ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let mut command = sandbox.command(&["run", "pb.yaml"]);
    command
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE");
    command.envs(env);
    let output = command.output().unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(0), "{all}");
    assert!(!all.contains(SECRET));
}

#[test]
fn no_credentials_is_named_with_the_providers_tried() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        r#"
name: rds-no-credentials
steps:
  - id: settled
    action: rds.wait
    with: { instance: orders, region: us-east-1, endpoint_url: "http://127.0.0.1:9" }
"#,
    );
    let mut command = sandbox.command(&["run", "pb.yaml"]);
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
    ] {
        command.env_remove(name);
    }
    command.envs([
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]);
    let output = command.output().unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(3), "{all}");
    assert!(
        all.contains(
            "NoCredentials: the credential provider was not enabled: no credentials found in chain"
        ),
        "{all}"
    );
    assert!(all.contains("Environment: "), "{all}");
}
