//! A `postgres.replicate` that fails or is interrupted during its initial
//! copy leaves nothing behind: no publication or slot (its table-sync slot
//! included) on the source, no subscription on the target — after the source
//! was stopped mid-copy, a SIGTERM, a step timeout, or kill -9 followed by
//! `cutover rollback`. The copy is held open by a slow trigger on the target
//! (a second per row), so the table-sync slot exists when the blow lands.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::pg_cluster::{playbook, Cluster};
use crate::support::{kill9, signal, Sandbox};

const DB: &str = "shop";

/// Two clusters with the same table; the source has rows, the target a
/// trigger that makes the initial copy take about a second per row.
fn clusters() -> (Cluster, Cluster) {
    let (source, target) = (Cluster::start(), Cluster::start());
    for cluster in [&source, &target] {
        cluster.create_db(DB);
        cluster.sql(DB, "CREATE TABLE items (id int PRIMARY KEY, v text)");
    }
    source.sql(
        DB,
        "INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 60) i",
    );
    target.sql(
        DB,
        "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(1); RETURN NEW; END $$;
         CREATE TRIGGER slow BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION slow();
         ALTER TABLE items ENABLE ALWAYS TRIGGER slow;",
    );
    (source, target)
}

fn sandbox(source: &Cluster, target: &Cluster, timeout: &str) -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &playbook(
            "undo-replicate",
            &[("source", &source.url(DB)), ("target", &target.url(DB))],
            &format!(
                "  - id: replicate\n    action: postgres.replicate\n    timeout: {timeout}\n    with: {{ source: \"${{{{ vars.source }}}}\", target: \"${{{{ vars.target }}}}\" }}\n"
            ),
        ),
    );
    sandbox
}

/// Waits until the subscription's table-sync slot exists on the source: the
/// initial copy is under way.
fn wait_for_sync_slot(source: &Cluster) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let slots = source.sql(
            DB,
            "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'pg\\_%\\_sync\\_%'",
        );
        if slots != "0" {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the initial copy never started: {}", source.log());
}

/// Every replication object on either side, named (empty: nothing left).
fn leftovers(source: &Cluster, target: &Cluster) -> String {
    let slots = source.sql(
        DB,
        "SELECT string_agg(slot_name, ',') FROM pg_replication_slots",
    );
    let publications = source.sql(DB, "SELECT string_agg(pubname, ',') FROM pg_publication");
    let subscriptions = target.sql(DB, "SELECT string_agg(subname, ',') FROM pg_subscription");
    let mut left = Vec::new();
    for (what, names) in [
        ("slots", slots),
        ("publications", publications),
        ("subscriptions", subscriptions),
    ] {
        if !names.is_empty() {
            left.push(format!("{what}: {names}"));
        }
    }
    left.join("; ")
}

/// The source takes writes (nothing left it read-only or locked).
fn assert_writable(source: &Cluster) {
    source.sql(DB, "INSERT INTO items VALUES (1000, 'after')");
}

fn run_finished(sandbox: &Sandbox) -> String {
    let run = sandbox.last_run();
    sandbox
        .journal(&run)
        .iter()
        .rfind(|r| r["event"] == "run_finished")
        .map(|r| {
            r["data"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .unwrap_or_default()
}

/// The journal's last `run_finished` names the objects the undo dropped.
fn assert_named_undone(message: &str) {
    assert!(
        message.contains("undone: `replicate` (dropped"),
        "{message}"
    );
    for object in [
        "subscription cutover",
        "publication cutover",
        "slot cutover",
        "_sync_",
    ] {
        assert!(message.contains(object), "{object} not named in: {message}");
    }
}

#[test]
fn sigterm_during_the_initial_copy_drops_everything_replicate_made() {
    let (source, target) = clusters();
    let sandbox = sandbox(&source, &target, "5m");
    let child = sandbox
        .command(&["run", "pb.yaml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_sync_slot(&source);
    signal(&child, 15);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("undone: `replicate` (dropped"), "{stderr}");
    assert_eq!(leftovers(&source, &target), "");
    assert_named_undone(&run_finished(&sandbox));
    assert_writable(&source);
}

#[test]
fn a_step_timeout_during_the_initial_copy_drops_everything_replicate_made() {
    let (source, target) = clusters();
    let sandbox = sandbox(&source, &target, "4s");
    let started = Instant::now();
    let out = sandbox.run(&["run", "pb.yaml"]);
    out.expect_code(3);
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "took {:?}",
        started.elapsed()
    );
    assert!(out.all().contains("timed out after 4s"), "{}", out.all());
    assert_eq!(leftovers(&source, &target), "");
    assert_named_undone(&run_finished(&sandbox));
    assert_writable(&source);
}

#[test]
fn a_source_stopped_during_the_initial_copy_is_cleaned_up_once_it_is_back() {
    let (mut source, target) = clusters();
    let sandbox = sandbox(&source, &target, "60s");
    let child = sandbox
        .command(&["run", "pb.yaml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_sync_slot(&source);
    source.stop();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The subscription is gone from the target; the source's publication and
    // slots cannot be dropped while it is down: the run says so and how to go on.
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("resume"), "{stderr}");
    assert_eq!(target.sql(DB, "SELECT count(*) FROM pg_subscription"), "0");
    source.start_again();
    let run = sandbox.last_run();
    let out = sandbox.run(&["resume", &run]);
    out.expect_code(3);
    assert_eq!(leftovers(&source, &target), "");
    let message = run_finished(&sandbox);
    // (A table-sync slot is named too when one was left: under load its sync
    // can finish, and the worker drop it, between the wait and the stop.)
    for object in ["publication cutover", "slot cutover"] {
        assert!(message.contains(object), "{object} not named in: {message}");
    }
    assert_writable(&source);
    sandbox.run(&["audit", "verify", &run]).expect_code(0);
}

#[test]
fn kill_9_during_the_initial_copy_then_rollback_drops_everything_replicate_made() {
    let (source, target) = clusters();
    let sandbox = sandbox(&source, &target, "5m");
    let mut child = sandbox.spawn(&["run", "pb.yaml"]);
    wait_for_sync_slot(&source);
    kill9(&mut child);
    let run = sandbox.last_run();
    let out = sandbox.run(&["rollback", &run]);
    out.expect_code(3);
    assert_eq!(leftovers(&source, &target), "");
    assert_named_undone(&run_finished(&sandbox));
    assert_writable(&source);
    sandbox.run(&["audit", "verify", &run]).expect_code(0);
}
