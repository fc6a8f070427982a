//! `postgres.health` against a real cluster: healthy when idle; then enough
//! open sessions to cross the connection threshold, a session waiting on a
//! lock and a replication slot left behind — each limit named with its figures.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::pg_cluster::{client_bin, playbook, Cluster};
use crate::pg_seed::{self, APP_ROLE};
use crate::support::Sandbox;

fn health_playbook(url: &str, limits: &str) -> String {
    playbook(
        "health",
        &[("db", url)],
        &format!(
            "  - id: health\n    action: postgres.health\n    with: {{ url: \"${{{{ vars.db }}}}\"{limits} }}\n"
        ),
    )
}

/// A psql session as the application role running `sql` in the background.
fn session(cluster: &Cluster, sql: &str) -> Child {
    Command::new(client_bin("psql"))
        .args([
            "-X",
            "-q",
            "-h",
            "127.0.0.1",
            "-p",
            &cluster.port.to_string(),
        ])
        .args(["-U", APP_ROLE, "-d", "shopdb", "-c", sql])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_until(mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !condition() {
        assert!(Instant::now() < deadline, "condition never held");
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Sessions(Vec<Child>);

impl Drop for Sessions {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn health_names_every_limit_exceeded_with_its_figures() {
    let cluster = Cluster::start();
    cluster.create_db("shopdb");
    pg_seed::seed(&cluster, "shopdb", 100);
    let url = cluster.url("shopdb");
    let sandbox = Sandbox::new();
    sandbox.write("idle.yaml", &health_playbook(&url, ""));
    let out = sandbox.run(&["run", "idle.yaml"]);
    out.expect_code(0);
    assert!(
        out.all().contains("healthy: 0 of 60 connections"),
        "{}",
        out.all()
    );

    // (First: creating a logical slot waits for open transactions to end.)
    // A logical slot nobody consumes, left behind by 1 MB of WAL.
    cluster.sql(
        "shopdb",
        "SELECT pg_create_logical_replication_slot('forgotten', 'pgoutput')",
    );
    cluster.sql(
        "shopdb",
        "CREATE TABLE public.churn AS SELECT repeat('x', 1000) AS t FROM generate_series(1, 2000)",
    );
    // 20 of max_connections 60: 33%. One of them holds a lock another waits for.
    let mut sessions = Sessions(Vec::new());
    sessions.0.push(session(
        &cluster,
        "BEGIN; LOCK TABLE shop.orders IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60);",
    ));
    wait_until(|| {
        cluster.sql("shopdb", "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND relation = 'shop.orders'::regclass") == "1"
    });
    sessions
        .0
        .push(session(&cluster, "SELECT count(*) FROM shop.orders"));
    for _ in 0..18 {
        sessions.0.push(session(&cluster, "SELECT pg_sleep(60)"));
    }
    wait_until(|| {
        cluster.sql(
            "postgres",
            &format!("SELECT count(*) FROM pg_stat_activity WHERE usename = '{APP_ROLE}'"),
        ) == "20"
    });

    sandbox.write(
        "strict.yaml",
        &health_playbook(
            &url,
            ", max_connections_pct: 25, max_replication_lag: 512kB, max_lock_waits: 0",
        ),
    );
    let out = sandbox.run(&["run", "strict.yaml"]);
    out.expect_code(3);
    let all = out.all();
    assert!(all.contains("is not healthy"), "{all}");
    assert!(
        all.contains(
            "20 client connections of max_connections 60 (33.3%) exceed max_connections_pct 25%"
        ),
        "{all}"
    );
    assert!(all.contains(&format!("by role: {APP_ROLE} 20")), "{all}");
    assert!(
        all.contains("replication slot `forgotten` (logical, inactive) is"),
        "{all}"
    );
    assert!(
        all.contains("more than max_replication_lag 512.0 kB"),
        "{all}"
    );
    assert!(
        all.contains("1 session(s) wait on locks, more than max_lock_waits 0"),
        "{all}"
    );
    assert!(
        all.contains("AccessShareLock relation on shop.orders"),
        "{all}"
    );
    assert!(all.contains("blocked by pid"), "{all}");

    // The same figures within generous limits pass.
    sandbox.write(
        "lenient.yaml",
        &health_playbook(
            &url,
            ", max_connections_pct: 50, max_replication_lag: 1GB, max_lock_waits: 1",
        ),
    );
    sandbox.run(&["run", "lenient.yaml"]).expect_code(0);
    drop(sessions);
}
