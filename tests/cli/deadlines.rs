//! Deadlines on every network call: a server that accepts the TCP connection
//! and never answers (a tiny listener here) fails the step within the URL's
//! `connect_timeout` or the action's own `timeout`, with a clear message — and
//! writes frozen before it are thawed by the rollback.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::pg_cluster::{playbook, Cluster};
use crate::pg_seed::APP_ROLE;
use crate::support::Sandbox;

/// A loopback listener that accepts every connection and never says a word;
/// the connections are held open until the test ends.
pub(crate) fn hung_listener() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

fn sql_check_fails_in_about_two_seconds(url: &str) {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &playbook(
            "hung-check",
            &[("url", url)],
            "  - id: check\n    action: sql.check\n    with: { url: \"${{ vars.url }}\" }\n",
        ),
    );
    let started = Instant::now();
    let out = sandbox.run(&["run", "pb.yaml"]);
    let took = started.elapsed();
    out.expect_code(3);
    assert!(
        took >= Duration::from_millis(1900),
        "gave up too soon: {took:?}"
    );
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert!(out.all().contains("no answer within 2"), "{}", out.all());
}

#[test]
fn sql_check_against_a_hung_postgres_listener_fails_within_its_connect_timeout() {
    let port = hung_listener();
    sql_check_fails_in_about_two_seconds(&format!(
        "postgres://app@127.0.0.1:{port}/db?connect_timeout=2&sslmode=disable"
    ));
}

#[test]
fn sql_check_against_a_hung_postgres_listener_over_tls_fails_within_its_connect_timeout() {
    let port = hung_listener();
    sql_check_fails_in_about_two_seconds(&format!(
        "postgres://app@127.0.0.1:{port}/db?connect_timeout=2&sslmode=require"
    ));
}

#[test]
fn sql_check_against_a_hung_mysql_listener_fails_within_its_connect_timeout() {
    let port = hung_listener();
    sql_check_fails_in_about_two_seconds(&format!(
        "mysql://app@127.0.0.1:{port}/db?connect_timeout=2"
    ));
}

#[test]
fn catch_up_against_a_hung_target_fails_within_its_timeout_and_the_source_is_thawed() {
    let source = Cluster::start();
    source.create_db("shop");
    source.sql("postgres", &format!("CREATE ROLE {APP_ROLE} LOGIN"));
    let port = hung_listener();
    let target = format!("postgres://postgres@127.0.0.1:{port}/shop?sslmode=disable");
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &playbook(
            "hung-catch-up",
            &[("source", &source.url("shop")), ("target", &target)],
            &format!(
                "  - id: freeze\n    action: postgres.read_only\n    with: {{ url: \"${{{{ vars.source }}}}\", roles: [{APP_ROLE}] }}\n  - id: catch-up\n    action: postgres.catch_up\n    with: {{ source: \"${{{{ vars.source }}}}\", target: \"${{{{ vars.target }}}}\", timeout: 5s }}\n"
            ),
        ),
    );
    let started = Instant::now();
    let out = sandbox.run(&["run", "pb.yaml"]);
    let took = started.elapsed();
    out.expect_code(3);
    assert!(took < Duration::from_secs(12), "took {took:?}");
    let all = out.all();
    assert!(all.contains("within the `timeout` of 5"), "{all}");
    assert!(all.contains("undone: `freeze`"), "{all}");
    // Thawed: new sessions write by default and the application's role logs in.
    assert_eq!(
        source.sql("shop", "SHOW default_transaction_read_only"),
        "off"
    );
    source
        .try_sql(APP_ROLE, "shop", "SELECT 1")
        .expect("the application's role logs in again");
}

/// A unix socket that accepts every connection and never answers: HAProxy's
/// runtime API hung.
fn hung_unix_socket(sandbox: &Sandbox) -> String {
    let path = sandbox.path().join("hung.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    path.display().to_string()
}

#[test]
fn haproxy_swap_against_a_hung_runtime_api_fails_within_its_deadline() {
    let sandbox = Sandbox::new();
    let socket = hung_unix_socket(&sandbox);
    sandbox.write(
        "pb.yaml",
        &playbook(
            "hung-haproxy",
            &[("socket", &socket)],
            "  - id: swap\n    action: haproxy.swap\n    with: { socket: \"${{ vars.socket }}\", backend: db, from: [old], to: [new] }\n",
        ),
    );
    let started = Instant::now();
    let out = sandbox.run(&["run", "pb.yaml"]);
    let took = started.elapsed();
    out.expect_code(3);
    assert!(
        out.all().contains("gave no answer within 10s"),
        "{}",
        out.all()
    );
    // One deadline per exchange, and the swap's undo tries again: well under a minute.
    assert!(took < Duration::from_secs(60), "took {took:?}");
}

#[test]
fn pgbouncer_pause_against_a_hung_console_fails_within_its_connect_timeout() {
    let port = hung_listener();
    let sandbox = Sandbox::new();
    let admin = format!("postgres://admin@127.0.0.1:{port}/pgbouncer?connect_timeout=2");
    sandbox.write(
        "pb.yaml",
        &playbook(
            "hung-pgbouncer",
            &[("admin", &admin)],
            "  - id: pause\n    action: pgbouncer.pause\n    with: { admin: \"${{ vars.admin }}\", database: shop, timeout: 30s }\n",
        ),
    );
    let started = Instant::now();
    let out = sandbox.run(&["run", "pb.yaml"]);
    let took = started.elapsed();
    out.expect_code(3);
    assert!(out.all().contains("no answer within 2"), "{}", out.all());
    // Nothing was paused, so its undo does not knock on the hung console again.
    assert!(out.all().contains("nothing to resume"), "{}", out.all());
    assert!(took < Duration::from_secs(8), "took {took:?}");
}
