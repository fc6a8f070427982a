//! A freeze that fails part-way is undone as far as it got, and one that
//! failed before changing anything needs no thaw: either way the run rolls
//! back (exit 3), never leaving the database frozen behind a "rolled back".

use crate::maria::Maria;
use crate::pg_cluster::{free_port, playbook, Cluster};
use crate::pg_seed::APP_ROLE;
use crate::support::Sandbox;

fn freeze_then(action: &str, url: &str, with: &str) -> String {
    playbook(
        "freeze-undo",
        &[("db", url)],
        &format!(
            "  - id: freeze\n    action: {action}\n    with: {{ url: \"${{{{ vars.db }}}}\"{with} }}\n  - id: after\n    action: shell\n    with: {{ run: touch after }}\n"
        ),
    )
}

#[test]
fn a_postgres_freeze_that_fails_half_way_is_thawed_and_the_database_writable() {
    let server = Cluster::start();
    server.create_db("shop");
    server.sql("postgres", &format!("CREATE ROLE {APP_ROLE} LOGIN"));
    server.sql(
        "shop",
        &format!("CREATE TABLE t (id int); GRANT ALL ON t TO {APP_ROLE}"),
    );
    // Another session holds the application role's row for 4 s: the freeze
    // makes the database read-only, records the role, then blocks taking its
    // LOGIN until its 1 s timeout ends the step half-way.
    let mut holder = std::process::Command::new(crate::pg_cluster::client_bin("psql"))
        .args(["-X", "-q", &server.url("shop"), "-c"])
        .arg(format!(
            "BEGIN; ALTER ROLE {APP_ROLE} CONNECTION LIMIT 5; SELECT pg_sleep(4); ROLLBACK"
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while server.sql(
        "shop",
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'BEGIN; ALTER ROLE%'",
    ) != "1"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the holder never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let sandbox = Sandbox::new();
    let mut text = freeze_then(
        "postgres.read_only",
        &server.url("shop"),
        &format!(", roles: [{APP_ROLE}]"),
    );
    text = text.replace("  - id: after", "    timeout: 1s\n  - id: after");
    sandbox.write("pb.yaml", &text);
    let out = sandbox.run(&["run", "pb.yaml"]);
    let _ = holder.wait();
    out.expect_code(3);
    let all = out.all();
    assert!(all.contains("timed out after 1s"), "{all}");
    assert!(all.contains("undone: `freeze`"), "{all}");
    assert_eq!(
        server.sql("shop", "SHOW default_transaction_read_only"),
        "off",
        "the half-done freeze was thawed"
    );
    server
        .try_sql(APP_ROLE, "shop", "INSERT INTO t VALUES (1)")
        .expect("the application writes again");
    assert!(!sandbox.path().join("after").exists());
}

#[test]
fn a_postgres_freeze_naming_a_missing_role_changes_nothing_and_needs_no_thaw() {
    let server = Cluster::start();
    server.create_db("shop");
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &freeze_then(
            "postgres.read_only",
            &server.url("shop"),
            ", roles: [no_such_role]",
        ),
    );
    let out = sandbox.run(&["run", "pb.yaml"]);
    out.expect_code(3);
    assert!(
        out.all().contains("no such role: `no_such_role`"),
        "{}",
        out.all()
    );
    assert!(out.all().contains("nothing to thaw"), "{}", out.all());
    assert_eq!(
        server.sql("shop", "SHOW default_transaction_read_only"),
        "off"
    );
}

#[test]
fn a_postgres_freeze_that_never_reached_its_server_rolls_back_without_a_thaw() {
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/shop?connect_timeout=2",
        free_port()
    );
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", &freeze_then("postgres.read_only", &url, ""));
    let out = sandbox.run(&["run", "pb.yaml"]);
    out.expect_code(3);
    let all = out.all();
    assert!(
        all.contains("nothing to thaw") && all.contains("undone: `freeze`"),
        "{all}"
    );
}

#[test]
fn a_mysql_freeze_refused_at_login_rolls_back_without_a_thaw() {
    let server = Maria::start();
    let url = format!(
        "mysql://root:wrong-password@127.0.0.1:{}/mysql",
        server.port
    );
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", &freeze_then("mysql.read_only", &url, ""));
    let out = sandbox.run(&["run", "pb.yaml"]);
    out.expect_code(3);
    let all = out.all();
    assert!(all.contains("nothing to thaw"), "{all}");
    assert!(!all.contains("wrong-password"), "{all}");
    assert_eq!(server.sql("", "SELECT @@read_only"), "0");
}
