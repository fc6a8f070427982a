//! After the swap: `postgres.stragglers` / `mysql.stragglers` name the client
//! sessions still on the old server (by role and address) and fail the step,
//! wait for them to go with `wait`, leave known roles out; `mysql.health`
//! names every limit exceeded with its figures.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::maria::Maria;
use crate::pg_cluster::{client_bin, playbook, Cluster};
use crate::pg_seed::APP_ROLE;
use crate::support::Sandbox;

struct Sessions(Vec<Child>);

impl Drop for Sessions {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !condition() {
        assert!(Instant::now() < deadline, "{what} never happened");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn one_step(action: &str, with: &str) -> String {
    playbook(
        "stragglers",
        &[],
        &format!("  - id: check\n    action: {action}\n    with: {{ {with} }}\n"),
    )
}

/// A psql session of the application, named `billing-worker`, sleeping `seconds`.
fn pg_session(cluster: &Cluster, seconds: u32) -> Child {
    Command::new(client_bin("psql"))
        .args([
            "-X",
            "-q",
            "-h",
            "127.0.0.1",
            "-p",
            &cluster.port.to_string(),
        ])
        .args(["-U", APP_ROLE, "-d", "shop"])
        .args(["-c", &format!("SELECT pg_sleep({seconds})")])
        .env("PGAPPNAME", "billing-worker")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn a_session_left_on_the_old_postgres_server_is_named_and_fails_the_step_until_it_goes() {
    let old = Cluster::start();
    old.create_db("shop");
    old.sql("postgres", &format!("CREATE ROLE {APP_ROLE} LOGIN"));
    let url = old.url("shop");
    let sandbox = Sandbox::new();
    sandbox.write(
        "quiet.yaml",
        // The test's own psql sessions (as `postgres`) may linger a moment after
        // they exit: they are not the application's.
        &one_step(
            "postgres.stragglers",
            &format!("url: \"{url}\", ignore_roles: [postgres]"),
        ),
    );
    sandbox.run(&["run", "quiet.yaml"]).expect_code(0);

    let _held = Sessions(vec![pg_session(&old, 60)]);
    wait_until("the session", || {
        old.sql(
            "shop",
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'billing-worker'",
        ) == "1"
    });
    let out = sandbox.run(&["run", "quiet.yaml"]);
    out.expect_code(3);
    let all = out.all();
    assert!(all.contains("1 client session(s) still on"), "{all}");
    assert!(
        all.contains(&format!("{APP_ROLE} from 127.0.0.1:")) && all.contains("`billing-worker`"),
        "named by role, address and application: {all}"
    );
    // Its role may be known and expected.
    sandbox.write(
        "ignored.yaml",
        &one_step(
            "postgres.stragglers",
            &format!("url: \"{url}\", ignore_roles: [{APP_ROLE}, postgres]"),
        ),
    );
    sandbox.run(&["run", "ignored.yaml"]).expect_code(0);
    // With `wait`, a session that ends meanwhile passes the step.
    let _short = Sessions(vec![pg_session(&old, 2)]);
    sandbox.write(
        "wait.yaml",
        &one_step(
            "postgres.stragglers",
            &format!("url: \"{url}\", ignore_roles: [postgres], max: 1, wait: 20s"),
        ),
    );
    wait_until("the second session", || {
        old.sql(
            "shop",
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'billing-worker'",
        ) == "2"
    });
    let started = Instant::now();
    sandbox.run(&["run", "wait.yaml"]).expect_code(0);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "it waited for the short session to end"
    );
}

fn maria_session(server: &Maria, user: &str, password: &str, sql: &str) -> Child {
    Command::new("mariadb")
        .args([
            "-h",
            "127.0.0.1",
            "-P",
            &server.port.to_string(),
            "-u",
            user,
        ])
        .arg(format!("--password={password}"))
        .args(["shop", "-e", sql])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn processes_like(server: &Maria, pattern: &str) -> String {
    server.sql(
        "mysql",
        &format!("SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE '{pattern}'"),
    )
}

#[test]
fn a_connection_left_on_the_old_mysql_server_is_named_and_fails_the_step() {
    let old = Maria::start();
    old.sql(
        "",
        "CREATE DATABASE shop; CREATE USER app@'%' IDENTIFIED BY 'pw'; GRANT ALL ON shop.* TO app@'%'",
    );
    let url = old.url("shop");
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        // The test's own client sessions (as root) may linger a moment after
        // they exit: they are not the application's.
        &one_step(
            "mysql.stragglers",
            &format!("url: \"{url}\", ignore_roles: [root]"),
        ),
    );
    sandbox.run(&["run", "pb.yaml"]).expect_code(0);
    let _held = Sessions(vec![maria_session(&old, "app", "pw", "SELECT SLEEP(60)")]);
    wait_until("the connection", || {
        processes_like(&old, "SELECT SLEEP%") == "1"
    });
    let out = sandbox.run(&["run", "pb.yaml"]);
    out.expect_code(3);
    let all = out.all();
    assert!(all.contains("1 client session(s) still on"), "{all}");
    // MariaDB names a loopback client `localhost`.
    assert!(
        all.contains("app from 127.0.0.1:") || all.contains("app from localhost:"),
        "{all}"
    );
    assert!(!all.contains(":pw@"), "{all}");
    sandbox.write(
        "ignored.yaml",
        &one_step(
            "mysql.stragglers",
            &format!("url: \"{url}\", ignore_roles: [app, root]"),
        ),
    );
    sandbox.run(&["run", "ignored.yaml"]).expect_code(0);
}

#[test]
fn mysql_health_names_crowded_connections_by_user() {
    let server = Maria::start_with(&["--max-connections=10"]);
    server.sql(
        "",
        "CREATE DATABASE shop; CREATE TABLE shop.queue (id int PRIMARY KEY, n int) ENGINE=InnoDB; \
         INSERT INTO shop.queue VALUES (1, 0); CREATE USER app@'%' IDENTIFIED BY 'pw'; GRANT ALL ON shop.* TO app@'%'",
    );
    let url = server.url("shop");
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &one_step("mysql.health", &format!("url: \"{url}\"")),
    );
    let out = sandbox.run(&["run", "pb.yaml"]);
    out.expect_code(0);
    assert!(
        // (the test's own client may still be leaving: 0 or 1)
        out.all().contains("healthy: 0 of 10 connections")
            || out.all().contains("healthy: 1 of 10 connections"),
        "{}",
        out.all()
    );

    // A worker holds a row lock; another waits on it; five more sleep.
    let mut held = vec![maria_session(
        &server,
        "app",
        "pw",
        "BEGIN; SELECT * FROM queue WHERE id = 1 FOR UPDATE; SELECT SLEEP(60)",
    )];
    wait_until("the lock holder", || {
        processes_like(&server, "SELECT SLEEP%") == "1"
    });
    held.push(maria_session(
        &server,
        "app",
        "pw",
        "UPDATE queue SET n = n + 1 WHERE id = 1",
    ));
    for _ in 0..5 {
        held.push(maria_session(&server, "app", "pw", "SELECT SLEEP(60)"));
    }
    let _held = Sessions(held);
    wait_until("the crowd", || {
        processes_like(&server, "SELECT SLEEP%") == "6"
    });
    // The UPDATE waits on the row. (Watched through the process list: InnoDB
    // refreshes its information_schema tables only when nobody read them for
    // 100 ms, so polling them here would keep them stale for the step.)
    wait_until("the lock wait", || {
        processes_like(&server, "UPDATE queue%") == "1"
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    sandbox.write(
        "crowded.yaml",
        &one_step(
            "mysql.health",
            &format!("url: \"{url}\", max_connections_pct: 50"),
        ),
    );
    let out = sandbox.run(&["run", "crowded.yaml"]);
    out.expect_code(3);
    let all = out.all();
    // 7 of the application's, and now and then a test client just leaving.
    assert!(
        all.contains("client connections of max_connections 10 (")
            && all.contains("exceed max_connections_pct 50%"),
        "{all}"
    );
    assert!(all.contains("by user: app 7"), "{all}");
    // Who waits on whom: the UPDATE's connection, blocked by the holder's.
    assert!(
        all.contains("(app) waiting ")
            && all.contains("for `shop`.`queue`, blocked by connection "),
        "{all}"
    );
}

#[test]
fn mysql_health_fails_on_a_stopped_replication_channel() {
    let primary = Maria::start_primary();
    let replica = Maria::start_with(&["--server-id=2"]);
    replica.sql(
        "",
        &format!(
            "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='root', MASTER_USE_GTID=no",
            primary.port
        ),
    );
    replica.sql("", "START SLAVE");
    let url = replica.url("mysql");
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &one_step("mysql.health", &format!("url: \"{url}\"")),
    );
    wait_until("replication running", || {
        sandbox.run(&["run", "pb.yaml"]).code == 0
    });
    replica.sql("", "STOP SLAVE SQL_THREAD");
    let out = sandbox.run(&["run", "pb.yaml"]);
    out.expect_code(3);
    assert!(
        out.all()
            .contains("replication channel (default) is not running (io Yes, sql No)"),
        "{}",
        out.all()
    );
}
