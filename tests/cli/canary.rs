//! The write canary against real servers: a write made to disappear is named
//! by id and fails the run for an operator; a canary that cannot start refuses
//! the run; MySQL works the same; the table is dropped (or kept).
//! The HAProxy cutover with the canary on, against an independent probe, is in
//! headline.rs.

use crate::maria::Maria;
use crate::pg_cluster::{client_bin, free_port, Cluster};
use crate::support::Sandbox;

/// The journal's `canary_checked` event of the last run.
fn canary_checked(sandbox: &Sandbox) -> serde_json::Value {
    sandbox
        .journal(&sandbox.last_run())
        .into_iter()
        .find(|r| r["event"] == "canary_checked")
        .expect("a canary_checked event")["data"]
        .clone()
}

fn canary_playbook(canary: &str, steps: &str) -> String {
    format!("name: canary-test\ncanary: {canary}\nsteps:\n{steps}")
}

#[test]
fn a_write_deleted_on_the_new_server_is_reported_missing_by_id_and_needs_an_operator() {
    let server = Cluster::start();
    server.create_db("shop");
    let url = server.url("shop");
    let psql = client_bin("psql");
    let sandbox = Sandbox::new();
    // The "new server" loses one acknowledged write: the step deletes the
    // oldest canary row (committed and acknowledged long before) and says which.
    sandbox.write(
        "pb.yaml",
        &canary_playbook(
            &format!("{{ url: \"{url}\", every: 10ms }}"),
            &format!(
                "  - id: settle\n    action: wait\n    with: {{ duration: 300ms }}\n\
                 \x20 - id: lose-a-write\n    action: shell\n    with:\n      run: |\n        {} -X -At -c 'DELETE FROM cutover_canary WHERE id = (SELECT min(id) FROM cutover_canary) RETURNING id' '{url}' | head -n 1 > lost.txt\n    point_of_no_return: true\n\
                 \x20 - id: after\n    action: wait\n    with: {{ duration: 200ms }}\n",
                psql.display()
            ),
        ),
    );
    let out = sandbox.run(&["run", "pb.yaml"]);
    out.expect_code(4);
    let lost: u64 = sandbox
        .read("lost.txt")
        .trim()
        .parse()
        .expect("the lost id");
    let checked = canary_checked(&sandbox);
    let verdict = &checked["verdict"];
    assert_eq!(verdict["missing"], 1, "{checked}");
    assert_eq!(
        verdict["first_missing"],
        serde_json::json!([lost]),
        "{checked}"
    );
    assert!(verdict["acknowledged"].as_u64().unwrap() > 10, "{checked}");
    let all = out.all();
    assert!(
        all.contains("acknowledged write(s) missing") && all.contains(&format!("ids {lost}")),
        "the operator is told which write was lost:\n{all}"
    );
    // Dropped at the end.
    assert_eq!(
        server.sql("shop", "SELECT to_regclass('cutover_canary') IS NULL"),
        "t"
    );
    // The audit shows it too, and the reports.
    let show = sandbox.run(&["audit", "show", &sandbox.last_run()]);
    assert!(show.stdout.contains("1 MISSING"), "{}", show.stdout);
}

#[test]
fn a_clean_run_proves_every_acknowledged_write_and_keep_keeps_the_table() {
    let server = Cluster::start();
    server.create_db("shop");
    let url = server.url("shop");
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &canary_playbook(
            &format!("{{ url: \"{url}\", every: 5ms, table: proof_rows, keep: true }}"),
            "  - id: settle\n    action: wait\n    with: { duration: 400ms }\n",
        ),
    );
    let out = sandbox.run(&["run", "pb.yaml"]);
    out.expect_code(0);
    let verdict = canary_checked(&sandbox)["verdict"].clone();
    assert_eq!(verdict["missing"], 0);
    let acknowledged = verdict["acknowledged"].as_u64().unwrap();
    // Kept, and every acknowledged row is in it.
    let rows: u64 = server
        .sql("shop", "SELECT count(*) FROM proof_rows")
        .parse()
        .unwrap();
    assert!(
        rows >= acknowledged && acknowledged > 20,
        "{rows} rows, {acknowledged} acknowledged"
    );
    assert!(
        out.all().contains(&format!(
            "write canary: {acknowledged} acknowledged, 0 missing"
        )),
        "{}",
        out.all()
    );
    // A second run numbers after the kept rows: nothing clashes.
    sandbox.run(&["run", "pb.yaml"]).expect_code(0);
    assert_eq!(canary_checked(&sandbox)["verdict"]["missing"], 0);
}

#[test]
fn a_canary_that_cannot_reach_its_database_refuses_the_run_before_any_step() {
    let port = free_port();
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &canary_playbook(
            &format!(
                "{{ url: \"postgres://app:s3cret-pw@127.0.0.1:{port}/shop?connect_timeout=2\" }}"
            ),
            "  - id: touch\n    action: shell\n    with: { run: touch ran }\n",
        ),
    );
    let out = sandbox.run(&["run", "pb.yaml"]);
    out.expect_code(5);
    let all = out.all();
    assert!(all.contains("the write canary could not start"), "{all}");
    assert!(
        !all.contains("s3cret-pw"),
        "the password is never shown: {all}"
    );
    assert!(!sandbox.path().join("ran").exists(), "no step ran");
}

#[test]
fn a_mysql_canary_proves_its_writes_and_a_read_only_freeze_shows_as_the_gap() {
    let server = Maria::start();
    server.sql("", "CREATE DATABASE shop");
    server.sql(
        "",
        "CREATE USER app@'%' IDENTIFIED BY 'pw'; GRANT ALL ON shop.* TO app@'%'",
    );
    let app = format!("mysql://app:pw@127.0.0.1:{}/shop", server.port);
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &canary_playbook(
            &format!("{{ url: \"{app}\", every: 10ms }}"),
            &format!(
                "  - id: before\n    action: wait\n    with: {{ duration: 300ms }}\n\
                 \x20 - id: freeze\n    action: mysql.read_only\n    with: {{ url: \"{root}\" }}\n\
                 \x20 - id: frozen\n    action: wait\n    with: {{ duration: 700ms }}\n\
                 \x20 - id: thaw\n    action: mysql.read_write\n    with: {{ url: \"{root}\" }}\n\
                 \x20 - id: after\n    action: wait\n    with: {{ duration: 300ms }}\n",
                root = server.url("shop")
            ),
        ),
    );
    sandbox.run(&["run", "pb.yaml"]).expect_code(0);
    let checked = canary_checked(&sandbox);
    let verdict = &checked["verdict"];
    assert_eq!(verdict["missing"], 0, "{checked}");
    assert!(
        verdict["failed_attempts"].as_u64().unwrap() > 0,
        "{checked}"
    );
    let gap = verdict["longest_gap_ms"].as_u64().unwrap();
    assert!(
        (650..2000).contains(&gap),
        "the freeze is the gap: {checked}"
    );
    let steps = verdict["gap_steps"].as_array().unwrap();
    assert!(steps.iter().any(|s| s == "frozen"), "{checked}");
    assert!(!checked.to_string().contains(":pw@"), "{checked}");
}

#[test]
fn plan_shows_the_canary_the_budget_and_what_becomes_of_the_replication() {
    let sandbox = Sandbox::new();
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("playbooks/postgres-logical-cutover.yaml"),
    )
    .unwrap();
    sandbox.write("pb.yaml", &text);
    let env = [
        ("SOURCE_URL", "postgres://postgres@old-db:5432/shop"),
        ("TARGET_URL", "postgres://postgres@new-db:5432/shop"),
        ("APP_ROLE", "app"),
        ("APP_URL", "postgres://app:app-secret@proxy:5432/shop"),
        ("HAPROXY_SOCKET", "/run/haproxy.sock"),
        ("SOAK", "15m"),
    ];
    let out = sandbox.run_with_env(&["plan", "pb.yaml"], &env);
    out.expect_code(0);
    let text = out.stdout.clone();
    assert!(
        text.contains(
            "canary    a write into `cutover_canary` through app@proxy:5432/shop every 10ms"
        ),
        "{text}"
    );
    assert!(
        text.contains("budget    writes stopped 30s at most: from `freeze` to the end of `swap`"),
        "{text}"
    );
    assert!(
        text.contains(
            "replicas  `replicate`: replaced by reverse replication in `reverse`, before the swap: a way back that loses nothing"
        ),
        "{text}"
    );
    assert!(text.contains("stops the application's writes"), "{text}");
    // The way back, and what starts it by itself.
    assert!(
        text.contains(
            "go back (past the point of no return: `cutover rollback RUN`, or a breach of `soak`)"
        ),
        "{text}"
    );
    assert!(
        text.contains("GO BACK: freeze-new → reverse-catch-up → reverse-sequences → thaw-old → swap-back → end-reverse"),
        "{text}"
    );
    assert!(!text.contains("app-secret"), "{text}");
    // A playbook that reverses after its swap is told what that costs.
    let late = text_with_late_reverse();
    sandbox.write("late.yaml", &late);
    let out = sandbox.run(&["plan", "late.yaml"]);
    out.expect_code(0);
    assert!(
        out.stdout.contains("AFTER the point of no return"),
        "{}",
        out.stdout
    );
}

fn text_with_late_reverse() -> String {
    let call = |id: &str, action: &str, extra: &str| {
        format!("  - id: {id}\n    action: {action}\n    with: {{ source: \"postgres://a@old/db\", target: \"postgres://a@new/db\" }}\n{extra}")
    };
    format!(
        "name: late-reverse\nsteps:\n{}{}{}",
        call("replicate", "postgres.replicate", ""),
        "  - id: swap\n    action: shell\n    with: { run: \"true\" }\n    point_of_no_return: true\n",
        call("reverse", "postgres.reverse_replicate", "")
    )
}

#[test]
fn a_write_acknowledged_before_a_kill_9_is_checked_by_the_resumed_run() {
    let server = Cluster::start();
    server.create_db("shop");
    let url = server.url("shop");
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &canary_playbook(
            &format!("{{ url: \"{url}\", every: 10ms }}"),
            "  - id: first\n    action: wait\n    with: { duration: 500ms }\n\
             \x20 - id: long\n    action: wait\n    with: { duration: 6s }\n\
             \x20 - id: last\n    action: wait\n    with: { duration: 200ms }\n",
        ),
    );
    let mut child = sandbox.spawn(&["run", "pb.yaml"]);
    // Before `long` starts, the ids acknowledged so far are journaled.
    sandbox.wait_for_journal("\"step\":\"long\"", std::time::Duration::from_secs(30));
    crate::support::kill9(&mut child);
    let run = sandbox.last_run();
    let journaled: Vec<u64> = sandbox
        .journal(&run)
        .into_iter()
        .filter(|r| r["event"] == "canary_acknowledged")
        .flat_map(|r| {
            r["data"]["ranges"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|range| {
                    let (a, b) = (range[0].as_u64().unwrap(), range[1].as_u64().unwrap());
                    a..=b
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(journaled.len() > 10, "{journaled:?}");
    // One of those writes is lost while nobody runs.
    let lost = journaled[journaled.len() / 2];
    server.sql(
        "shop",
        &format!("DELETE FROM cutover_canary WHERE id = {lost}"),
    );
    let out = sandbox.run(&["resume", &run]);
    out.expect_code(4);
    let checked = canary_checked(&sandbox);
    assert_eq!(checked["verdict"]["missing"], 1, "{checked}");
    assert_eq!(
        checked["verdict"]["first_missing"],
        serde_json::json!([lost]),
        "{checked}"
    );
    assert!(
        checked["verdict"]["acknowledged"].as_u64().unwrap() > journaled.len() as u64,
        "the resumed run's own writes are counted too: {checked}"
    );
}
