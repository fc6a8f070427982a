//! The gate before the freeze against real servers: `postgres.ready` passes
//! when the subscriber keeps up and refuses, with its figures, under a write
//! burst a slowed subscriber cannot keep up with; the DDL guard makes
//! `postgres.ready` and `postgres.catch_up` fail naming a column and an index
//! added on the source after `postgres.replicate`; `mysql.ready` passes when
//! the replica is caught up and refuses while its SQL thread is stopped or
//! while it holds events back (`MASTER_DELAY`); and
//! `postgres.drop_reverse_replication` as a step of its own, and its undo.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::maria::Maria;
use crate::pg_cluster::{client_bin, playbook, Cluster};
use crate::pg_seed;
use crate::support::Sandbox;

const REPLICATE: &str = "  - id: replicate
    action: postgres.replicate
    with: { source: \"${{ vars.old }}\", target: \"${{ vars.new }}\", replica_identity_full: true }
";

const READY: &str = "  - id: ready
    action: postgres.ready
    with: { source: \"${{ vars.old }}\", target: \"${{ vars.new }}\", max_lag: 16MB, max_catch_up: 5s, sample: 2s }
";

const CATCH_UP: &str = "  - id: catch-up
    action: postgres.catch_up
    with: { source: \"${{ vars.old }}\", target: \"${{ vars.new }}\", timeout: 2m }
";

/// The `applied` data the journal holds for `step` in the sandbox's last run.
fn applied(sandbox: &Sandbox, step: &str) -> serde_json::Value {
    let run = sandbox.last_run();
    sandbox
        .journal(&run)
        .into_iter()
        .rev()
        .find(|e| e["event"] == "step_finished" && e["step"] == step)
        .map(|e| e["data"]["applied"].clone())
        .unwrap_or_else(|| panic!("no applied data for {step}: {}", sandbox.journal_text(&run)))
}

fn two_clusters(sandbox: &Sandbox) -> (Cluster, Cluster, String, String) {
    let (old, new) = (Cluster::start(), Cluster::start());
    old.create_db("shopdb");
    new.create_db("shopdb");
    pg_seed::seed(&old, "shopdb", 1000);
    pg_seed::roles(&new);
    let (o, n) = (old.url("shopdb"), new.url("shopdb"));
    let vars = [("old", o.as_str()), ("new", n.as_str())];
    sandbox.write("replicate.yaml", &playbook("ready", &vars, REPLICATE));
    sandbox.write("ready.yaml", &playbook("ready", &vars, READY));
    sandbox.write("catch-up.yaml", &playbook("ready", &vars, CATCH_UP));
    sandbox.run(&["run", "replicate.yaml"]).expect_code(0);
    (old, new, o, n)
}

#[test]
fn postgres_ready_passes_when_quiet_and_refuses_a_burst_the_target_cannot_keep_up_with() {
    let sandbox = Sandbox::new();
    let (old, new, _, _) = two_clusters(&sandbox);
    let fingerprint = applied(&sandbox, "replicate")["schema_fingerprint"].clone();
    assert!(
        fingerprint["tables"].as_u64().unwrap_or(0) >= 4,
        "{fingerprint}"
    );

    // Quiet: nothing to catch up with.
    let out = sandbox.run(&["run", "ready.yaml"]);
    out.expect_code(0);
    let quiet = applied(&sandbox, "ready");
    eprintln!("quiet: {quiet}");
    assert!(quiet["lag_bytes"].as_u64().unwrap() < 16 * 1024 * 1024);
    assert_eq!(quiet["schema_checked"], true);

    // The subscriber applies each row 20 ms late; the source commits rows
    // one at a time much faster than that, while the gate samples.
    new.sql(
        "shopdb",
        "CREATE FUNCTION public.slow() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN PERFORM pg_sleep(0.02); RETURN NEW; END$$;
         CREATE TRIGGER slow BEFORE INSERT ON shop.events FOR EACH ROW EXECUTE FUNCTION public.slow();
         ALTER TABLE shop.events ENABLE ALWAYS TRIGGER slow;",
    );
    let script: String = (0..200_000)
        .map(|i| format!("INSERT INTO shop.events (at, kind, payload) VALUES (now(), 'burst', '{{\"n\": {i}, \"pad\": \"{}\"}}');\n", "x".repeat(200)))
        .collect();
    let mut burst = Command::new(client_bin("psql"))
        .args([
            "-X",
            "-q",
            "-h",
            "127.0.0.1",
            "-p",
            &old.port.to_string(),
            "-U",
            "postgres",
            "-d",
            "shopdb",
            "-f",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    // Fed from a thread: psql reads its script as it runs it.
    let mut stdin = burst.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(script.as_bytes());
    });
    std::thread::sleep(Duration::from_millis(500));
    let out = sandbox.run(&["run", "ready.yaml"]);
    // The burst is this test's own child: stopped by its handle.
    burst.kill().unwrap();
    burst.wait().unwrap();
    feeder.join().unwrap();
    eprintln!("burst: {}", out.all());
    assert_ne!(out.code, 0, "{}", out.all());
    let text = out.all();
    assert!(text.contains("replication not ready: lag "), "{text}");
    assert!(text.contains("predicted catch-up after freeze"), "{text}");
    assert!(text.contains("(max 5s)"), "{text}");

    // Apply at full speed again: once caught up, the gate passes.
    new.sql("shopdb", "DROP TRIGGER slow ON shop.events");
    sandbox.run(&["run", "catch-up.yaml"]).expect_code(0);
    sandbox.run(&["run", "ready.yaml"]).expect_code(0);
}

#[test]
fn a_column_added_on_the_source_after_replicate_fails_ready_and_catch_up_naming_it() {
    let sandbox = Sandbox::new();
    let (old, _new, _, _) = two_clusters(&sandbox);
    old.sql(
        "shopdb",
        "ALTER TABLE shop.events ADD COLUMN note text; CREATE INDEX orders_amount ON shop.orders (amount)",
    );
    for playbook in ["ready.yaml", "catch-up.yaml"] {
        let out = sandbox.run(&["run", playbook]);
        assert_ne!(out.code, 0, "{}", out.all());
        let text = out.all();
        assert!(
            text.contains("schema changed on the source since replicate: "),
            "{playbook}: {text}"
        );
        assert!(
            text.contains("table shop.events: column note (text) added"),
            "{playbook}: {text}"
        );
        assert!(
            text.contains("table shop.orders: index orders_amount added"),
            "{playbook}: {text}"
        );
    }
    // Undone on the source: the guard is satisfied again.
    old.sql(
        "shopdb",
        "ALTER TABLE shop.events DROP COLUMN note; DROP INDEX shop.orders_amount",
    );
    sandbox.run(&["run", "catch-up.yaml"]).expect_code(0);
}

#[test]
fn drop_reverse_replication_as_a_step_drops_it_and_its_undo_leaves_it_dropped() {
    let sandbox = Sandbox::new();
    let (old, new, o, n) = two_clusters(&sandbox);
    let vars = [("old", o.as_str()), ("new", n.as_str())];
    let steps = "  - id: freeze
    action: postgres.read_only
    with: { url: \"${{ vars.old }}\", roles: [app] }
  - id: catch-up
    action: postgres.catch_up
    with: { source: \"${{ vars.old }}\", target: \"${{ vars.new }}\", timeout: 1m }
  - id: end-forward
    action: postgres.drop_replication
    with: { source: \"${{ vars.old }}\", target: \"${{ vars.new }}\" }
  - id: reverse
    action: postgres.reverse_replicate
    with: { source: \"${{ vars.old }}\", target: \"${{ vars.new }}\" }
";
    sandbox.write("reverse.yaml", &playbook("ready", &vars, steps));
    sandbox.run(&["run", "reverse.yaml"]).expect_code(0);
    assert_eq!(
        old.sql("shopdb", "SELECT count(*) FROM pg_subscription"),
        "1"
    );
    // As a step of its own, followed by a failure: its rollback has nothing
    // to put back (no inverse), so the reverse replication stays gone.
    let drop = "  - id: drop-reverse
    action: postgres.drop_reverse_replication
    with: { source: \"${{ vars.old }}\", target: \"${{ vars.new }}\" }
  - id: boom
    action: shell
    with: { run: exit 1 }
";
    sandbox.write("drop.yaml", &playbook("ready", &vars, drop));
    let out = sandbox.run(&["run", "drop.yaml"]);
    out.expect_code(3);
    assert_eq!(applied(&sandbox, "drop-reverse")["exemption_removed"], true);
    let counts = |c: &Cluster, what: &str| c.sql("shopdb", &format!("SELECT count(*) FROM {what}"));
    assert_eq!(counts(&old, "pg_subscription"), "0", "{}", out.all());
    assert_eq!(counts(&new, "pg_publication"), "0");
    assert_eq!(counts(&new, "pg_replication_slots"), "0");
    // The old primary stays frozen for every role.
    let still = old
        .try_sql(
            "postgres",
            "shopdb",
            "INSERT INTO shop.events (at) VALUES (now())",
        )
        .expect_err("the old primary is read-only by default");
    assert!(still.contains("read-only transaction"), "{still}");
}

#[test]
fn mysql_ready_passes_when_caught_up_and_refuses_a_stopped_sql_thread_or_a_delayed_replica() {
    static START: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let (source, target) = {
        let _one_at_a_time = START.lock().unwrap_or_else(|e| e.into_inner());
        (
            Maria::start_primary(),
            Maria::start_with(&["--server-id=2"]),
        )
    };
    source.seed("shop", 500);
    let sandbox = Sandbox::new();
    let (s, t) = (source.url("shop"), target.url("shop"));
    let vars = [("source", s.as_str()), ("target", t.as_str())];
    let setup = "  - id: copy
    action: mysql.copy
    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\" }
  - id: replicate
    action: mysql.replicate
    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\" }
  - id: catch-up
    action: mysql.catch_up
    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\", timeout: 1m }
";
    let ready = "  - id: ready
    action: mysql.ready
    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\", max_lag: 16MB, max_catch_up: 5s, sample: 2s }
";
    sandbox.write("setup.yaml", &playbook("ready", &vars, setup));
    sandbox.write("ready.yaml", &playbook("ready", &vars, ready));
    sandbox.run(&["run", "setup.yaml"]).expect_code(0);
    let out = sandbox.run(&["run", "ready.yaml"]);
    out.expect_code(0);
    let data = applied(&sandbox, "ready");
    eprintln!("caught up: {data}");
    assert_eq!(data["lag_bytes"], 0, "{data}");

    target.sql("mysql", "STOP SLAVE 'cutover' SQL_THREAD");
    source.sql(
        "shop",
        "INSERT INTO audit_log SELECT NOW(), CONCAT('after the stop ', seq) FROM seq_1_to_2000",
    );
    let out = sandbox.run(&["run", "ready.yaml"]);
    eprintln!("stopped: {}", out.all());
    assert_ne!(out.code, 0, "{}", out.all());
    let text = out.all();
    assert!(
        text.contains("replication not ready: the SQL thread of channel `cutover` is stopped"),
        "{text}"
    );
    assert!(
        text.contains("predicted catch-up after freeze never"),
        "{text}"
    );

    // Both threads running, but the replica holds every event back a minute
    // (`MASTER_DELAY`): it applies nothing during the sample, so never
    // within `max_catch_up`.
    target.sql(
        "mysql",
        "STOP SLAVE 'cutover'; CHANGE MASTER 'cutover' TO MASTER_DELAY = 60; START SLAVE 'cutover'",
    );
    source.sql(
        "shop",
        "INSERT INTO audit_log SELECT NOW(), CONCAT('delayed ', seq) FROM seq_1_to_2000",
    );
    let out = sandbox.run(&["run", "ready.yaml"]);
    eprintln!("delayed: {}", out.all());
    assert_ne!(out.code, 0, "{}", out.all());
    let text = out.all();
    assert!(text.contains("replication not ready: lag "), "{text}");
    assert!(
        text.contains("predicted catch-up after freeze never"),
        "{text}"
    );
    assert!(!text.contains("thread"), "{text}");
}
