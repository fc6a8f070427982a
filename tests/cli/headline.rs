//! The headline, end to end: an application writes through HAProxy (TCP mode)
//! to the old PostgreSQL cluster while `playbooks/postgres-logical-cutover.yaml`
//! replicates, freezes, catches up, verifies and swaps HAProxy to the new one.
//! Every write a client saw committed must be on the new cluster.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::lb::haproxy_tcp;
use crate::pg_cluster::{client_bin, Cluster};
use crate::pg_seed::{self, APP_ROLE};
use crate::probe::Probe;
use crate::support::Sandbox;

#[test]
fn logical_cutover_behind_haproxy_under_load_loses_no_committed_write() {
    let (source, target) = (Cluster::start(), Cluster::start());
    source.create_db("shopdb");
    target.create_db("shopdb");
    pg_seed::seed(&source, "shopdb", 2000);
    pg_seed::roles(&target);
    let pgbench = client_bin("pgbench");
    let source_port = source.port.to_string();
    let init = Command::new(&pgbench)
        .args([
            "-i",
            "-q",
            "-s",
            "1",
            "-h",
            "127.0.0.1",
            "-p",
            &source_port,
            "-U",
            "postgres",
            "shopdb",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(init.success(), "pgbench -i");
    source.sql(
        "shopdb",
        "CREATE TABLE probe (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())",
    );
    source.sql(
        "shopdb",
        &format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}; GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}; GRANT CREATE ON SCHEMA public TO {APP_ROLE}"),
    );

    let sandbox = Sandbox::new();
    let (_haproxy, port, socket) = haproxy_tcp(&sandbox, source.port, target.port);
    let app_url = format!("postgres://{APP_ROLE}@127.0.0.1:{port}/shopdb");

    // The application: pgbench and the probe, both through HAProxy.
    let port_text = port.to_string();
    let mut load = Command::new(&pgbench)
        .args([
            "-n",
            "-c",
            "2",
            "-T",
            "60",
            "-h",
            "127.0.0.1",
            "-p",
            &port_text,
            "-U",
            APP_ROLE,
            "shopdb",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let probe = Probe::start(app_url.clone());
    let deadline = Instant::now() + Duration::from_secs(10);
    while source.sql("shopdb", "SELECT count(*) FROM pgbench_history") == "0" {
        assert!(
            Instant::now() < deadline,
            "pgbench never wrote through HAProxy"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("playbooks/postgres-logical-cutover.yaml"),
    )
    .unwrap();
    sandbox.write("pb.yaml", &text);
    let output = sandbox.run_with_env(
        &["run", "pb.yaml"],
        &[
            ("SOURCE_URL", &source.url("shopdb")),
            ("TARGET_URL", &target.url("shopdb")),
            ("APP_ROLE", APP_ROLE),
            ("APP_URL", &app_url),
            ("HAPROXY_SOCKET", &socket),
            ("SOAK", "1s"),
        ],
    );
    // Let the probe write to the new cluster for a moment.
    std::thread::sleep(Duration::from_millis(500));
    let committed = probe.finish();
    let _ = load.kill();
    let _ = load.wait();
    output.expect_code(0);

    // Every write a client saw committed is on the new cluster.
    let ids: Vec<String> = committed.iter().map(|ack| ack.id.to_string()).collect();
    assert!(ids.len() > 50, "the probe committed {} rows", ids.len());
    let on_target = target.sql(
        "shopdb",
        &format!("SELECT count(*) FROM probe WHERE id IN ({})", ids.join(",")),
    );
    assert_eq!(
        on_target,
        ids.len().to_string(),
        "a committed probe row is missing on the new cluster"
    );
    // Writes resumed on the new cluster after the swap (sequences were synced: no clash).
    let after_swap = target
        .sql("shopdb", "SELECT count(*) FROM probe")
        .parse::<usize>()
        .unwrap();
    let on_source = source
        .sql("shopdb", "SELECT count(*) FROM probe")
        .parse::<usize>()
        .unwrap();
    assert!(
        after_swap > on_source,
        "the probe wrote to the new cluster after the swap ({after_swap} vs {on_source})"
    );
    assert_eq!(
        source.sql("shopdb", "SELECT count(*) FROM pgbench_history"),
        target.sql("shopdb", "SELECT count(*) FROM pgbench_history"),
        "every pgbench transaction committed on the old cluster reached the new one"
    );
    // HAProxy sends everything to the new cluster.
    let through = Command::new(client_bin("psql"))
        .args([
            "-X",
            "-At",
            "-c",
            "SELECT inet_server_port()",
            &format!("postgres://postgres@127.0.0.1:{port}/shopdb"),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&through.stdout).trim(),
        target.port.to_string()
    );
    sandbox
        .run(&["audit", "verify", &sandbox.last_run()])
        .expect_code(0);
    // The forward replication is gone once the new cluster serves: no slot
    // left on the old one to retain WAL.
    assert_eq!(
        source.sql("shopdb", "SELECT count(*) FROM pg_replication_slots"),
        "0"
    );
    assert_eq!(
        target.sql("shopdb", "SELECT count(*) FROM pg_subscription"),
        "0"
    );

    let gap = committed
        .windows(2)
        .map(|w| w[1].at.duration_since(w[0].at))
        .max()
        .unwrap_or_default();
    // The playbook's write canary proved the same: nothing missing, and the
    // downtime it measured is the independent probe's.
    let checked = sandbox
        .journal(&sandbox.last_run())
        .into_iter()
        .find(|r| r["event"] == "canary_checked")
        .expect("the canary's verdict is journaled")["data"]
        .clone();
    let verdict = &sandbox.canary_proved_nothing_lost();
    let canary_gap = verdict["longest_gap_ms"].as_u64().unwrap() as i64;
    let probe_gap = gap.as_millis() as i64;
    assert!(
        (canary_gap - probe_gap).abs() <= 100,
        "canary gap {canary_gap} ms vs probe gap {probe_gap} ms: {checked}"
    );
    assert!(
        output.all().contains("write canary: ")
            && output.all().contains(", 0 missing, longest gap"),
        "{}",
        output.all()
    );
    eprintln!(
        "headline: {} probe commits, longest gap between two commits {gap:?}; canary: {}",
        committed.len(),
        checked
    );
}
