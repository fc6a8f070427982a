//! Estimates scaled to the data (`plan --measure`): a rehearsal on a small
//! pgbench database predicts a four times larger one from its measured size;
//! `plan` alone connects to nothing and says its estimates are unscaled; a
//! server that cannot be measured leaves its step's estimate unscaled; the
//! same for MySQL from `information_schema`.

use std::net::TcpListener;

use crate::maria::Maria;
use crate::pg_cluster::{playbook, Cluster};
use crate::pg_seed;
use crate::support::Sandbox;

/// Copy + checksum verify, with a downtime budget (so `run` measures too).
fn copy_and_verify(source: &str, target: &str) -> String {
    let steps = "  - id: copy\n    action: postgres.copy\n    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\", jobs: 2 }\n  - id: verify\n    action: postgres.verify\n    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\", mode: checksum }\n";
    playbook("scaled", &[("source", source), ("target", target)], steps)
        .replace("steps:\n", "downtime_budget: 1h\nsteps:\n")
}

fn plan_json(sandbox: &Sandbox, args: &[&str]) -> serde_json::Value {
    let out = sandbox.run(args);
    out.expect_code(0);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

fn step<'a>(plan: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["id"] == id)
        .unwrap()
}

#[test]
fn a_rehearsal_on_a_quarter_of_the_data_predicts_the_whole_from_its_measured_size() {
    let (small, big, target) = (Cluster::start(), Cluster::start(), Cluster::start());
    for (cluster, db) in [(&small, "shop"), (&big, "shop"), (&target, "rehearsal")] {
        cluster.create_db(db);
    }
    pg_seed::pgbench(&small, "shop", 1);
    pg_seed::pgbench(&big, "shop", 4);
    let sandbox = Sandbox::new();
    // The playbook names production (the big source); the rehearsal's vars
    // name staging (a quarter of it).
    sandbox.write(
        "pb.yaml",
        &copy_and_verify(&big.url("shop"), &target.url("production")),
    );
    sandbox.write(
        "staging.yaml",
        &format!(
            "source: \"{}\"\ntarget: \"{}\"\n",
            small.url("shop"),
            target.url("rehearsal")
        ),
    );
    let rehearsal = sandbox.run(&["run", "pb.yaml", "--rehearsal", "--vars", "staging.yaml"]);
    rehearsal.expect_code(0);
    // `run` measured before its budget check; nothing was rehearsed before it.
    assert!(
        rehearsal
            .stderr
            .contains("no earlier run recorded what it moved"),
        "{}",
        rehearsal.all()
    );
    let journal = sandbox.journal(&sandbox.last_run());
    let moved = |id: &str| {
        journal
            .iter()
            .find(|r| r["event"] == "step_finished" && r["step"] == id)
            .map(|r| r["data"]["applied"]["moved"].clone())
            .unwrap()
    };
    let rehearsed = moved("copy")["bytes"].as_u64().unwrap();
    assert_eq!(moved("copy")["rows"], 100_000 + 10 + 1);
    assert_eq!(moved("copy")["tables"], 4);
    assert_eq!(moved("verify")["bytes"].as_u64().unwrap(), rehearsed);
    let run_id = sandbox.last_run();

    // Unscaled: the median of the one rehearsal.
    let unscaled = plan_json(&sandbox, &["plan", "pb.yaml", "--output", "json"]);
    assert_eq!(
        step(&unscaled, "copy")["estimate_source"]["from"],
        "history"
    );
    let text = sandbox.run(&["plan", "pb.yaml"]);
    assert!(
        text.stdout.contains("estimates unscaled"),
        "{}",
        text.stdout
    );

    // Scaled: the big source measured, each step predicted from its rate.
    let scaled = plan_json(
        &sandbox,
        &["plan", "pb.yaml", "--measure", "--output", "json"],
    );
    for id in ["copy", "verify"] {
        let source = &step(&scaled, id)["estimate_source"];
        assert_eq!(source["from"], "scaled", "{id}: {source}");
        assert_eq!(source["measured_in"], format!("rehearsal {run_id}"));
        let bytes = source["bytes"].as_u64().unwrap();
        assert!(
            bytes > 3 * rehearsed && bytes < 5 * rehearsed,
            "{id}: measured {bytes} bytes now, rehearsed {rehearsed}"
        );
        let (before, after) = (
            step(&unscaled, id)["estimate_ms"].as_u64().unwrap(),
            step(&scaled, id)["estimate_ms"].as_u64().unwrap(),
        );
        assert!(
            after > 3 * before,
            "{id}: {before} ms unscaled, {after} ms scaled"
        );
    }
    assert!(
        scaled["estimate_ms"].as_u64().unwrap() > 3 * unscaled["estimate_ms"].as_u64().unwrap(),
        "{scaled}"
    );
    assert!(scaled["estimate_sources"]
        .as_str()
        .unwrap()
        .contains("2 scaled to the data there is now"));
    let text = sandbox.run(&["plan", "pb.yaml", "--measure"]);
    text.expect_code(0);
    assert!(
        text.stdout
            .contains(&format!("/s measured in rehearsal {run_id}")),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("2 data-moving step(s) scaled"),
        "{}",
        text.stdout
    );

    // `run` checks the window with the scaled figure: a window with room for
    // the rehearsal's time but not for the scaled one refuses a live run
    // (before any step), while a dry run — unscaled, connecting to nothing —
    // fits.
    let (unscaled_ms, scaled_ms) = (
        unscaled["estimate_ms"].as_u64().unwrap(),
        scaled["estimate_ms"].as_u64().unwrap(),
    );
    let room = (unscaled_ms + scaled_ms) / 2;
    let windowed = copy_and_verify(&big.url("shop"), &target.url("production")).replace(
        "downtime_budget: 1h\n",
        &format!(
            "window:\n  timezone: UTC\n  allow: [\"daily 00:00 - 13:00\"]\n  margin: {}ms\n",
            3_600_000 - room
        ),
    );
    sandbox.write("pb.yaml", &windowed);
    let dry = sandbox.run(&["run", "pb.yaml", "--dry-run", "--now", "2026-12-03T12:00"]);
    dry.expect_code(0);
    let live = sandbox.run(&["run", "pb.yaml", "--now", "2026-12-03T12:00"]);
    live.expect_code(5);
    let refused = sandbox.journal(&sandbox.last_run());
    let check = refused
        .iter()
        .find(|r| r["event"] == "window_checked")
        .expect("window checked");
    assert_eq!(check["data"]["verdict"], "too_long", "{check}");
    // The run measured for itself: the same sizes, give or take a page.
    let remaining = check["data"]["remaining_ms"].as_u64().unwrap();
    assert!(remaining > room && remaining < 2 * scaled_ms, "{check}");
    assert!(
        check["data"]["estimate_source"]
            .as_str()
            .unwrap()
            .contains("2 scaled to the data there is now"),
        "{check}"
    );
    assert!(!refused.iter().any(|r| r["event"] == "step_started"));

    // The big source gone: `plan` alone does not mind, and says what it shows;
    // `--measure` notes it and keeps the rehearsal's unscaled figure.
    let mut big = big;
    big.stop();
    let text = sandbox.run(&["plan", "pb.yaml"]);
    text.expect_code(0);
    assert!(
        text.stdout.contains("estimates unscaled"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("(median of 1 run, p90"),
        "{}",
        text.stdout
    );
    let fallback = plan_json(
        &sandbox,
        &["plan", "pb.yaml", "--measure", "--output", "json"],
    );
    let copy = step(&fallback, "copy");
    assert_eq!(copy["estimate_source"]["from"], "history");
    assert_eq!(copy["estimate_ms"], step(&unscaled, "copy")["estimate_ms"]);
    let note = copy["scale_note"].as_str().unwrap();
    assert!(
        note.contains("could not measure its source") && note.contains("not scaled"),
        "{note}"
    );
    let text = sandbox.run(&["plan", "pb.yaml", "--measure"]);
    text.expect_code(0);
    assert!(
        text.stdout.contains("scaling   could not measure"),
        "{}",
        text.stdout
    );
}

#[test]
fn plan_alone_connects_to_nothing() {
    // A port that records whether anyone connected (and never answers).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let sandbox = Sandbox::new();
    let watched = format!("postgres://app@127.0.0.1:{port}/shop?connect_timeout=2");
    sandbox.write(
        "pb.yaml",
        &copy_and_verify(&watched, "postgres://app@no-such-host.invalid:5432/shop"),
    );
    let out = sandbox.run(&["plan", "pb.yaml"]);
    out.expect_code(0);
    assert!(!out.stdout.contains("scaling "), "{}", out.stdout);
    let json = plan_json(&sandbox, &["plan", "pb.yaml", "--output", "json"]);
    assert_eq!(json["measured"], false);
    assert!(
        listener.accept().is_err(),
        "plan without --measure connected to the source"
    );

    // With --measure it does connect, gets no answer, and falls back.
    let out = sandbox.run(&["plan", "pb.yaml", "--measure"]);
    out.expect_code(0);
    assert!(
        listener.accept().is_ok(),
        "plan --measure never reached the source"
    );
    assert!(
        out.stdout
            .contains("scaling   could not measure its source"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("no answer within 2s"), "{}", out.stdout);
    assert!(
        out.stdout.contains("not scaled: 2 data-moving step(s)"),
        "{}",
        out.stdout
    );
}

#[test]
fn mysql_copy_and_checksum_verify_scale_from_what_information_schema_says() {
    let (small, big, target) = (Maria::start(), Maria::start(), Maria::start());
    small.seed("shop", 10_000);
    big.seed("shop", 40_000);
    for server in [&small, &big] {
        // Fresh statistics: information_schema's sizes are the server's.
        server.sql("shop", "ANALYZE TABLE orders, audit_log");
    }
    let steps = "  - id: copy\n    action: mysql.copy\n    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\", jobs: 2 }\n  - id: verify\n    action: mysql.verify\n    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\", mode: checksum }\n";
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &playbook(
            "scaled-mysql",
            &[
                ("source", &big.url("shop")),
                ("target", &target.url("live")),
            ],
            steps,
        ),
    );
    sandbox.write(
        "staging.yaml",
        &format!(
            "source: \"{}\"\ntarget: \"{}\"\n",
            small.url("shop"),
            target.url("rehearsal")
        ),
    );
    sandbox
        .run(&["run", "pb.yaml", "--rehearsal", "--vars", "staging.yaml"])
        .expect_code(0);
    let journal = sandbox.journal(&sandbox.last_run());
    let moved = |id: &str| {
        journal
            .iter()
            .find(|r| r["event"] == "step_finished" && r["step"] == id)
            .map(|r| r["data"]["applied"]["moved"].clone())
            .unwrap()
    };
    assert_eq!(moved("copy")["rows"], 20_000, "{}", moved("copy"));
    assert_eq!(moved("verify")["rows"], 20_000, "{}", moved("verify"));
    let rehearsed = moved("copy")["bytes"].as_u64().unwrap();
    assert!(rehearsed > 0);

    let unscaled = plan_json(&sandbox, &["plan", "pb.yaml", "--output", "json"]);
    let scaled = plan_json(
        &sandbox,
        &["plan", "pb.yaml", "--measure", "--output", "json"],
    );
    for id in ["copy", "verify"] {
        let source = &step(&scaled, id)["estimate_source"];
        assert_eq!(source["from"], "scaled", "{id}: {source}");
        let bytes = source["bytes"].as_u64().unwrap();
        assert!(
            bytes > 2 * rehearsed,
            "{id}: {bytes} now, {rehearsed} rehearsed"
        );
        assert!(
            step(&scaled, id)["estimate_ms"].as_u64() > step(&unscaled, id)["estimate_ms"].as_u64(),
            "{id}"
        );
    }
}
