//! MySQL/MariaDB actions against throwaway MariaDB servers.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::maria::Maria;
use crate::support::Sandbox;

fn playbook(name: &str, steps: &str) -> String {
    format!("name: {name}\nsteps:\n{steps}")
}

#[test]
fn a_freeze_holds_against_the_application_and_the_thaw_undoes_it() {
    let server = Maria::start();
    server.seed("shop", 20);
    server.sql("mysql", "CREATE USER app@'%' IDENTIFIED BY 'app-pass-123'; GRANT SELECT, INSERT, UPDATE, DELETE ON shop.* TO app@'%'");
    let insert = "INSERT INTO audit_log VALUES (NOW(), 'probe')";
    server
        .try_sql("app", "app-pass-123", "shop", insert)
        .expect("the app writes before the freeze");
    // A session of the application that is open when the freeze comes.
    let mut open_session = Command::new("mariadb")
        .args([
            "-h",
            "127.0.0.1",
            "-P",
            &server.port.to_string(),
            "-u",
            "app",
            "--password=app-pass-123",
            "-e",
            "SELECT SLEEP(30)",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.sql(
        "mysql",
        "SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP%'",
    ) != "1"
    {
        assert!(
            Instant::now() < deadline,
            "the open session never showed up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let sandbox = Sandbox::new();
    let url = server.url("shop");
    sandbox.write(
        "pb.yaml",
        &playbook("freeze", &format!("  - id: freeze\n    action: mysql.read_only\n    with: {{ url: \"{url}\" }}\n  - id: gate\n    action: shell\n    with: {{ run: \"test -f go\" }}\n")),
    );
    sandbox.write("go", "");
    sandbox.run(&["run", "pb.yaml"]).expect_code(0);
    assert!(
        !open_session.wait().unwrap().success(),
        "the open session was ended"
    );
    let refused = server
        .try_sql("app", "app-pass-123", "shop", insert)
        .expect_err("frozen");
    assert!(
        refused.contains("read-only") || refused.contains("READ ONLY") || refused.contains("1290"),
        "{refused}"
    );

    // A failure after the freeze: the implied mysql.read_write thaws it.
    std::fs::remove_file(sandbox.path().join("go")).unwrap();
    sandbox.run(&["run", "pb.yaml"]).expect_code(3);
    server
        .try_sql("app", "app-pass-123", "shop", insert)
        .expect("thawed by the rollback");
    assert_eq!(server.sql("mysql", "SELECT @@read_only"), "0");
}

#[test]
fn verify_finds_equal_servers_equal_and_names_the_table_that_differs() {
    let (source, target) = (Maria::start(), Maria::start());
    source.seed("shop", 300);
    // The same data on the target, through a dump: every type survives.
    let dump = Command::new("mariadb-dump")
        .args([
            "-h",
            "127.0.0.1",
            "-P",
            &source.port.to_string(),
            "-u",
            "root",
            "--databases",
            "shop",
            "--hex-blob",
        ])
        .output()
        .unwrap();
    assert!(dump.status.success());
    let mut restore = Command::new("mariadb")
        .args([
            "-h",
            "127.0.0.1",
            "-P",
            &target.port.to_string(),
            "-u",
            "root",
            "--default-character-set=utf8mb4",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(restore.stdin.as_mut().unwrap(), &dump.stdout).unwrap();
    drop(restore.stdin.take());
    assert!(restore.wait().unwrap().success());

    let sandbox = Sandbox::new();
    let verify = |mode: &str| {
        sandbox.write(
            "pb.yaml",
            &playbook("verify", &format!("  - id: verify\n    action: mysql.verify\n    with: {{ source: \"{}\", target: \"{}\", mode: {mode} }}\n", source.url("shop"), target.url("shop"))),
        );
        sandbox.run(&["run", "pb.yaml"])
    };
    verify("checksum").expect_code(0);
    // One changed value, same row count: only the checksum sees it.
    target.sql("shop", "UPDATE orders SET note = 'changed' WHERE id = 42");
    verify("counts").expect_code(0);
    let differs = verify("checksum");
    differs.expect_code(3);
    assert!(
        differs.all().contains("1 of 2 tables differ: orders"),
        "{}",
        differs.all()
    );
    // A NULL is not an empty string.
    target.sql("shop", "UPDATE orders SET note = (SELECT note FROM (SELECT note FROM orders WHERE id = 41) t) WHERE id = 42");
    source.sql("shop", "UPDATE orders SET note = NULL WHERE id = 7; UPDATE orders SET note = (SELECT note FROM (SELECT note FROM orders WHERE id = 41) t) WHERE id = 42");
    target.sql("shop", "UPDATE orders SET note = '' WHERE id = 7");
    assert!(
        verify("checksum").all().contains("orders"),
        "NULL and '' must differ"
    );
}

#[test]
fn verify_compares_the_tables_its_filter_chooses_and_refuses_the_old_list() {
    let (source, target) = (Maria::start(), Maria::start());
    source.seed("shop", 50);
    target.seed("shop", 50);
    // The seed's times differ between the servers: compare counts, and make
    // `orders` differ by a row.
    target.sql("shop", "DELETE FROM orders WHERE id = 3");
    let sandbox = Sandbox::new();
    let verify = |tables: &str| {
        sandbox.write(
            "pb.yaml",
            &playbook("verify", &format!("  - id: verify\n    action: mysql.verify\n    with: {{ source: \"{}\", target: \"{}\", tables: {tables} }}\n", source.url("shop"), target.url("shop"))),
        );
        sandbox.run(&["run", "pb.yaml"])
    };
    let others = verify("{ exclude: [orders] }");
    others.expect_code(0);
    assert!(
        others
            .all()
            .contains("same     audit_log: 50 rows / 50 rows"),
        "{}",
        others.all()
    );
    assert!(!others.all().contains("orders:"), "{}", others.all());
    let orders = verify("{ include: [\"shop.ord*\"] }");
    orders.expect_code(3);
    assert!(
        orders
            .all()
            .contains("1 of 1 tables differ: orders (50 rows vs 49)"),
        "{}",
        orders.all()
    );
    // A pattern that chooses nothing proves nothing: the step fails.
    let nothing = verify("{ include: [order] }");
    nothing.expect_code(3);
    assert!(
        nothing
            .all()
            .contains("`tables.include` chose no table of the source")
            && nothing.all().contains("for `order`"),
        "{}",
        nothing.all()
    );
    // The old spelling, a list of names, is refused before anything runs.
    let old = verify("[orders, audit_log]");
    old.expect_code(2);
    assert!(
        old.stderr
            .contains("hint: write `tables: { include: [orders, audit_log] }`"),
        "{}",
        old.stderr
    );
}
