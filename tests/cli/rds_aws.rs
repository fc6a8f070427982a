//! Blue/Green deployments, CloudWatch guards and the lag-checked promote
//! through the real binary against a real `moto_server`: the deployment and
//! its green instance made, tagged and switched over; a rollback that deletes
//! only what the run made; guards fed with `put_metric_data`; a promote that
//! waits for `ReplicaLag` zero. No credential in output or journal.

use crate::moto::{Moto, SECRET};
use crate::support::{Output, Sandbox};

fn run(sandbox: &Sandbox, moto: &Moto, args: &[&str]) -> Output {
    let env = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let output = sandbox.run_with_env(args, &env);
    assert!(!output.all().contains(SECRET), "{}", output.all());
    for id in sandbox.run_ids() {
        assert!(!sandbox.journal_text(&id).contains(SECRET));
    }
    output
}

/// Starts the binary in the background with moto's environment; `finish`
/// collects its output.
fn start(sandbox: &Sandbox, moto: &Moto, args: &[&str]) -> std::process::Child {
    let mut command = sandbox.command(args);
    command
        .envs(moto.env())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    command.spawn().expect("spawn cutover")
}

fn finish(child: std::process::Child) -> Output {
    let output = child.wait_with_output().expect("cutover ends");
    let output = Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(!output.all().contains(SECRET), "{}", output.all());
    output
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

fn tags(instance: &serde_json::Value) -> String {
    instance["TagList"].to_string()
}

fn deployments(moto: &Moto) -> Vec<serde_json::Value> {
    moto.call("describe_blue_green_deployments", serde_json::json!({}))
        .expect("describe_blue_green_deployments")["BlueGreenDeployments"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_blue_green_deployment_is_made_switched_over_and_the_old_instance_deleted() {
    let moto = Moto::start();
    moto.create_instance_with(
        "orders",
        "db.m5.large",
        100,
        serde_json::json!({ "Tags": [{ "Key": "team", "Value": "shop" }] }),
    );
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        r#"
name: rds-blue-green
steps:
  - id: green
    action: rds.blue_green
    with: { name: orders-bigger, source: orders, target_class: db.m5.xlarge, timeout: 1m }
  - id: switch
    action: rds.blue_green_switchover
    with: { name: orders-bigger, timeout: 1m }
    point_of_no_return: true
  - id: cleanup
    action: rds.blue_green_delete
    with: { name: orders-bigger, delete_old: true, timeout: 1m }
"#,
    );
    let output = run(&sandbox, &moto, &["run", "pb.yaml"]);
    output.expect_code(0);
    let green = applied(&sandbox, "green");
    let green_id = green["green"].as_str().unwrap().to_string();
    assert!(green_id.starts_with("orders-green-"), "{green}");
    assert_eq!(green["created"], true);
    assert!(
        output.stdout.contains("tagged with the run"),
        "{}",
        output.all()
    );
    assert_eq!(
        applied(&sandbox, "switch")["status"],
        "SWITCHOVER_COMPLETED"
    );
    // Green now serves under the blue's name, with the bigger class; the old
    // blue instance was deleted after the switchover, and so was the deployment.
    let serving = moto.instance("orders").expect("orders serves");
    assert_eq!(serving["DBInstanceClass"], "db.m5.xlarge", "{serving}");
    let ids = moto.instance_ids();
    assert_eq!(ids, ["orders"], "{ids:?}");
    assert!(deployments(&moto).is_empty());
}

#[test]
fn a_failed_run_deletes_its_green_instance_and_deployment_and_nothing_else() {
    let moto = Moto::start();
    moto.create_instance_with(
        "orders",
        "db.m5.large",
        100,
        serde_json::json!({ "Tags": [{ "Key": "team", "Value": "shop" }] }),
    );
    // Somebody else's deployment of another instance, whose green copy has
    // the same tags the source has: the rollback must leave both alone.
    moto.create_instance("billing", "db.m5.large", 50);
    let billing = moto.instance("billing").unwrap();
    moto.call(
        "create_blue_green_deployment",
        serde_json::json!({
            "BlueGreenDeploymentName": "billing-upgrade",
            "Source": billing["DBInstanceArn"],
        }),
    )
    .expect("billing deployment");
    let before: Vec<String> = moto.instance_ids();
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        r#"
name: rds-blue-green
steps:
  - id: green
    action: rds.blue_green
    with: { name: orders-bigger, source: orders, target_class: db.m5.xlarge, timeout: 1m }
  - id: smoke
    action: shell
    with: { run: "echo the green side does not answer; exit 1" }
"#,
    );
    let output = run(&sandbox, &moto, &["run", "pb.yaml"]);
    output.expect_code(3);
    let green_id = applied(&sandbox, "green")["green"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(output.all().contains("rolled back"), "{}", output.all());
    let after = moto.instance_ids();
    assert!(!after.contains(&green_id), "green left behind: {after:?}");
    assert_eq!(after, before, "only the run's green instance goes");
    let names: Vec<String> = deployments(&moto)
        .iter()
        .map(|d| d["BlueGreenDeploymentName"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["billing-upgrade"]);
    // The blue instance is untouched and keeps its own tags only.
    let orders = moto.instance("orders").unwrap();
    assert_eq!(orders["DBInstanceClass"], "db.m5.large");
    assert!(!tags(&orders).contains("cutover:run"), "{}", tags(&orders));
}

#[test]
fn a_deployment_someone_else_made_is_refused_by_name() {
    let moto = Moto::start();
    moto.create_instance("orders", "db.m5.large", 100);
    let orders = moto.instance("orders").unwrap();
    moto.call(
        "create_blue_green_deployment",
        serde_json::json!({ "BlueGreenDeploymentName": "orders-bigger", "Source": orders["DBInstanceArn"] }),
    )
    .expect("deployment");
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        r#"
name: rds-blue-green
steps:
  - id: green
    action: rds.blue_green
    with: { name: orders-bigger, source: orders, timeout: 1m }
"#,
    );
    let output = run(&sandbox, &moto, &["run", "pb.yaml"]);
    output.expect_code(3);
    assert!(
        output.all().contains("already exists")
            && output.all().contains("this run did not create it"),
        "{}",
        output.all()
    );
    // Its rollback leaves the other deployment alone.
    assert_eq!(deployments(&moto).len(), 1);
}

#[test]
fn a_guard_names_every_threshold_crossed_with_its_figure() {
    let moto = Moto::start();
    moto.put_rds_metric("orders-next", "CPUCreditBalance", 12.5, 30);
    moto.put_rds_metric("orders-next", "DatabaseConnections", 412.0, 30);
    moto.put_rds_metric("orders-next", "FreeableMemory", 8.0e9, 30);
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        r#"
name: guard
steps:
  - id: guard
    action: cloudwatch.guard
    with:
      instance: orders-next
      metrics:
        - { name: CPUCreditBalance, stat: Minimum, below: 50 }
        - { name: DatabaseConnections, stat: Maximum, above: 400 }
        - { name: FreeableMemory, stat: Minimum, below: 1000000000 }
"#,
    );
    let output = run(&sandbox, &moto, &["run", "pb.yaml"]);
    output.expect_code(3);
    let all = output.all();
    assert!(all.contains("2 threshold(s) crossed"), "{all}");
    assert!(all.contains("CPUCreditBalance Minimum 12.5 < 50"), "{all}");
    assert!(
        all.contains("DatabaseConnections Maximum 412 > 400"),
        "{all}"
    );
    assert!(
        !all.contains("FreeableMemory Minimum 8000000000 <"),
        "{all}"
    );

    // Healthy figures pass, and the figures are journaled.
    let moto = Moto::start();
    moto.put_rds_metric("orders-next", "CPUCreditBalance", 144.0, 30);
    moto.put_rds_metric("orders-next", "DatabaseConnections", 40.0, 30);
    moto.put_rds_metric("orders-next", "FreeableMemory", 8.0e9, 30);
    let output = run(&sandbox, &moto, &["run", "pb.yaml"]);
    output.expect_code(0);
    let figures = applied(&sandbox, "guard")["figures"].to_string();
    assert!(
        figures.contains("CPUCreditBalance Minimum 144"),
        "{figures}"
    );
}

#[test]
fn a_watching_guard_fails_at_the_first_breach_during_its_soak() {
    let moto = Moto::start();
    moto.put_rds_metric("orders-next", "CPUCreditBalance", 140.0, 30);
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        r#"
name: soak
steps:
  - id: soak
    action: cloudwatch.guard
    with:
      instance: orders-next
      metrics: [{ name: CPUCreditBalance, stat: Minimum, below: 50 }]
      for: 1m
      every: 1s
"#,
    );
    let started = std::time::Instant::now();
    let child = start(&sandbox, &moto, &["run", "pb.yaml"]);
    // The credits drain while it watches.
    std::thread::sleep(std::time::Duration::from_secs(3));
    moto.put_rds_metric("orders-next", "CPUCreditBalance", 3.0, 0);
    let output = finish(child);
    output.expect_code(3);
    assert!(
        output.all().contains("CPUCreditBalance Minimum 3 < 50"),
        "{}",
        output.all()
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(50),
        "watched to the end"
    );
}

fn replica_playbook(sandbox: &Sandbox, extra: &str) {
    sandbox.write(
        "pb.yaml",
        &format!(
            r#"
name: rds-promote
steps:
  - id: promote
    action: rds.promote
    with: {{ instance: orders-replica, timeout: 30s{extra} }}
"#
        ),
    );
}

fn a_replica(moto: &Moto) {
    moto.create_instance("orders", "db.m5.large", 100);
    moto.call(
        "create_db_instance_read_replica",
        serde_json::json!({
            "DBInstanceIdentifier": "orders-replica",
            "SourceDBInstanceIdentifier": "orders",
        }),
    )
    .expect("replica");
}

fn still_a_replica(moto: &Moto) -> bool {
    let replica = moto.instance("orders-replica").unwrap();
    replica["ReadReplicaSourceDBInstanceIdentifier"].is_string()
}

#[test]
fn a_lagging_replica_is_not_promoted_until_its_lag_is_zero() {
    let moto = Moto::start();
    a_replica(&moto);
    moto.put_rds_metric("orders-replica", "ReplicaLag", 12.0, 5);
    let sandbox = Sandbox::new();
    replica_playbook(&sandbox, ", lag_timeout: 6s");
    let output = run(&sandbox, &moto, &["run", "pb.yaml"]);
    output.expect_code(3);
    assert!(
        output
            .all()
            .contains("not caught up after 6s: ReplicaLag 12 s"),
        "{}",
        output.all()
    );
    assert!(still_a_replica(&moto), "promoted although it lagged");

    // A zero that comes while the step waits lets it promote. (Older
    // datapoints do not count: they say nothing of the writes since; and a
    // period that saw 12 s has a Maximum of 12 s, so: a fresh CloudWatch.)
    drop(moto);
    let moto = Moto::start();
    a_replica(&moto);
    replica_playbook(&sandbox, ", lag_timeout: 3m");
    let runs = sandbox.run_ids().len();
    let child = start(&sandbox, &moto, &["run", "pb.yaml"]);
    while sandbox.run_ids().len() == runs {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    sandbox.wait_for_journal("step_started", std::time::Duration::from_secs(120));
    std::thread::sleep(std::time::Duration::from_secs(2));
    moto.put_rds_metric("orders-replica", "ReplicaLag", 0.0, 0);
    let output = finish(child);
    output.expect_code(0);
    assert!(!still_a_replica(&moto) || output.all().contains("still lists"));
    assert_eq!(
        applied(&sandbox, "promote")["lag_check"]["reading"],
        "ReplicaLag 0 s"
    );
}

#[test]
fn force_promotes_a_lagging_replica_and_the_journal_says_so() {
    let moto = Moto::start();
    a_replica(&moto);
    moto.put_rds_metric("orders-replica", "ReplicaLag", 12.0, 5);
    let sandbox = Sandbox::new();
    replica_playbook(&sandbox, ", force: true");
    let output = run(&sandbox, &moto, &["run", "pb.yaml"]);
    output.expect_code(0);
    assert_eq!(applied(&sandbox, "promote")["lag_check"], "skipped (force)");
    assert!(
        output.all().contains("without checking its lag"),
        "{}",
        output.all()
    );
}

#[test]
fn rds_delete_instance_and_rds_delete_snapshot_delete_what_they_name_and_spare_others() {
    let moto = Moto::start();
    moto.create_instance("orders", "db.m5.large", 100);
    moto.create_instance("orders-old", "db.m5.large", 100);
    moto.call(
        "create_db_snapshot",
        serde_json::json!({ "DBInstanceIdentifier": "orders", "DBSnapshotIdentifier": "orders-pre" }),
    )
    .expect("snapshot");
    let sandbox = Sandbox::new();
    // Neither was made by this run: with only_created_by_run they are spared.
    sandbox.write(
        "spare.yaml",
        r#"
name: cleanup
steps:
  - id: drop-old
    action: rds.delete_instance
    with: { instance: orders-old, only_created_by_run: true, timeout: 30s }
  - id: drop-snapshot
    action: rds.delete_snapshot
    with: { snapshot_id: orders-pre, only_created_by_run: true }
"#,
    );
    run(&sandbox, &moto, &["run", "spare.yaml"]).expect_code(0);
    assert!(moto.instance("orders-old").is_some());
    assert_eq!(moto.snapshots(), ["orders-pre"]);
    // Named without the guard they are deleted; the other instance stays.
    sandbox.write(
        "drop.yaml",
        r#"
name: cleanup
steps:
  - id: drop-old
    action: rds.delete_instance
    with: { instance: orders-old, timeout: 30s }
  - id: drop-snapshot
    action: rds.delete_snapshot
    with: { snapshot_id: orders-pre }
"#,
    );
    run(&sandbox, &moto, &["run", "drop.yaml"]).expect_code(0);
    assert!(moto.instance("orders-old").is_none());
    assert!(moto.snapshots().is_empty());
    assert!(moto.instance("orders").is_some());
}
