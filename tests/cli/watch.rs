//! `watch`, the soak, against a real cluster: a healthy soak lasts its `for`;
//! a check the test makes fail mid-soak fails the step past the point of no
//! return (exit 4) with the breach journaled; `warn` journals and goes on; a
//! check that changes something is refused by `validate`.

use std::time::{Duration, Instant};

use crate::pg_cluster::{playbook, Cluster};
use crate::support::Sandbox;

fn soak(url: &str, on_breach: &str) -> String {
    playbook(
        "soak",
        &[("db", url)],
        &format!(
            "  - id: swap\n    action: shell\n    with: {{ run: \"true\" }}\n    point_of_no_return: true\n\
             \x20 - id: soak\n    action: watch\n    with:\n      for: 2s\n      every: 200ms\n      on_breach: {on_breach}\n      checks:\n\
             \x20       - action: sql.check\n          with: {{ url: \"${{{{ vars.db }}}}\", query: \"SELECT ok FROM health\", expect: \"t\" }}\n\
             \x20       - action: postgres.health\n          with: {{ url: \"${{{{ vars.db }}}}\" }}\n"
        ),
    )
}

fn server() -> Cluster {
    let cluster = Cluster::start();
    cluster.create_db("shop");
    cluster.sql(
        "shop",
        "CREATE TABLE health (ok boolean); INSERT INTO health VALUES (true)",
    );
    cluster
}

fn soak_finished(sandbox: &Sandbox) -> serde_json::Value {
    sandbox
        .journal(&sandbox.last_run())
        .into_iter()
        .find(|r| r["event"] == "step_finished" && r["step"] == "soak")
        .expect("the soak finished")["data"]["applied"]
        .clone()
}

#[test]
fn a_healthy_soak_lasts_its_time_and_counts_its_rounds() {
    let db = server();
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", &soak(&db.url("shop"), "fail"));
    let started = Instant::now();
    sandbox.run(&["run", "pb.yaml"]).expect_code(0);
    assert!(started.elapsed() >= Duration::from_secs(2));
    let applied = soak_finished(&sandbox);
    assert!(applied["rounds"].as_u64().unwrap() >= 5, "{applied}");
    assert_eq!(applied["breaches"], serde_json::json!([]));
}

#[test]
fn a_breach_during_the_soak_fails_the_step_for_an_operator_and_is_journaled() {
    let db = server();
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", &soak(&db.url("shop"), "fail"));
    let url = db.url("shop");
    let flipper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        let db = url;
        std::process::Command::new(crate::pg_cluster::client_bin("psql"))
            .args(["-X", "-q", &db, "-c", "UPDATE health SET ok = false"])
            .status()
            .unwrap();
    });
    let started = Instant::now();
    let out = sandbox.run(&["run", "pb.yaml"]);
    flipper.join().unwrap();
    out.expect_code(4);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "it failed at the breach, not at the end"
    );
    let all = out.all();
    assert!(all.contains("into the soak (round"), "{all}");
    assert!(all.contains("`sql.check` failed"), "{all}");
    let noted: Vec<serde_json::Value> = sandbox
        .journal(&sandbox.last_run())
        .into_iter()
        .filter(|r| r["event"] == "step_noted" && r["step"] == "soak")
        .collect();
    assert_eq!(noted.len(), 1, "{noted:?}");
    assert_eq!(noted[0]["data"]["note"]["breach"]["check"], "sql.check");
}

#[test]
fn warn_journals_each_breach_and_finishes_the_soak() {
    let db = server();
    db.sql("shop", "UPDATE health SET ok = false");
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", &soak(&db.url("shop"), "warn"));
    sandbox.run(&["run", "pb.yaml"]).expect_code(0);
    let applied = soak_finished(&sandbox);
    let breaches = applied["breaches"].as_array().unwrap();
    assert!(breaches.len() >= 5, "one per round: {applied}");
    assert!(
        breaches.iter().all(|b| b["check"] == "sql.check"),
        "{applied}"
    );
}

#[test]
fn a_check_that_changes_something_or_an_unknown_one_is_refused_where_it_is_written() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        "name: bad-soak\nsteps:\n  - id: soak\n    action: watch\n    with:\n      for: 1m\n      checks:\n        - action: postgres.read_only\n          with: { url: \"postgres://a@h/d\" }\n",
    );
    let out = sandbox.run(&["validate", "pb.yaml"]);
    out.expect_code(2);
    assert!(
        out.all().contains("`postgres.read_only` changes something"),
        "{}",
        out.all()
    );
    assert!(out.all().contains("pb.yaml:8:"), "{}", out.all());
    sandbox.write(
        "typo.yaml",
        "name: bad-soak\nsteps:\n  - id: soak\n    action: watch\n    with:\n      for: 1m\n      checks:\n        - action: sql.check\n          with: { url: \"postgres://a@h/d\", expcet: \"1\" }\n",
    );
    let out = sandbox.run(&["validate", "typo.yaml"]);
    out.expect_code(2);
    assert!(out.all().contains("expcet"), "{}", out.all());
    assert!(out.all().contains("typo.yaml:9:"), "{}", out.all());
}
