//! `mysql.copy` against real MariaDB servers: a copy `mysql.verify` finds
//! equal (checksums) with its views, routines and triggers and the source's
//! binlog position recorded; a refused non-empty target; kill -9 in the middle
//! of the rows followed by `cutover resume`.

use std::time::{Duration, Instant};

use crate::maria::Maria;
use crate::pg_cluster::playbook;
use crate::support::{kill9, Sandbox};

fn copy_steps(extra: &str) -> String {
    format!(
        "  - id: copy\n    action: mysql.copy\n    with: {{ source: \"${{{{ vars.source }}}}\", target: \"${{{{ vars.target }}}}\", jobs: 3{extra} }}\n  - id: verify\n    action: mysql.verify\n    with: {{ source: \"${{{{ vars.source }}}}\", target: \"${{{{ vars.target }}}}\", mode: checksum }}\n"
    )
}

/// Objects created after the rows, and shapes that trip naive copies: a
/// generated column, an unsigned key, zero in an AUTO_INCREMENT column.
fn add_objects(server: &Maria, db: &str) {
    server.sql(
        db,
        "CREATE TABLE counters (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, n INT, doubled INT AS (n * 2) STORED, label VARCHAR(20) CHARACTER SET latin1, flags BIT(3));
         SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO';
         INSERT INTO counters (id, n, label, flags) VALUES (0, 1, 'zéro', b'101'), (18446744073709551000, 2, 'huge', b'010'), (5, NULL, NULL, NULL);
         CREATE INDEX by_total ON orders (total, placed);
         CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100;
         CREATE VIEW bigger_orders AS SELECT id FROM big_orders WHERE total > 1000;
         CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;
         CREATE TRIGGER audit_orders AFTER INSERT ON orders FOR EACH ROW INSERT INTO audit_log VALUES (NOW(), CONCAT('order ', NEW.id));",
    );
}

fn objects(server: &Maria, db: &str) -> String {
    server.sql(
        db,
        "SELECT CONCAT_WS(',',
           (SELECT GROUP_CONCAT(table_name ORDER BY table_name) FROM information_schema.views WHERE table_schema = DATABASE()),
           (SELECT GROUP_CONCAT(routine_name) FROM information_schema.routines WHERE routine_schema = DATABASE()),
           (SELECT GROUP_CONCAT(trigger_name) FROM information_schema.triggers WHERE trigger_schema = DATABASE()),
           (SELECT GROUP_CONCAT(CONCAT(index_name, ':', column_name) ORDER BY table_name, index_name, seq_in_index) FROM information_schema.statistics WHERE table_schema = DATABASE()))",
    )
}

fn counts(server: &Maria, db: &str) -> String {
    server.sql(
        db,
        "SELECT CONCAT((SELECT COUNT(*) FROM orders), '/', (SELECT COUNT(*) FROM audit_log), '/', (SELECT COUNT(*) FROM counters))",
    )
}

#[test]
fn a_copy_is_equal_to_its_source_with_its_objects_and_binlog_position() {
    let source = Maria::start_primary();
    let target = Maria::start();
    source.seed("shop", 60_000);
    add_objects(&source, "shop");
    // Estimates of 60,000 rows: orders is cut into ranges (from 50,000).
    source.sql("shop", "ANALYZE TABLE orders");
    let sandbox = Sandbox::new();
    let (s, t) = (source.url("shop"), target.url("shop"));
    sandbox.write(
        "pb.yaml",
        &playbook("copy", &[("source", &s), ("target", &t)], &copy_steps("")),
    );
    let out = sandbox.run(&["run", "pb.yaml"]);
    assert_eq!(out.code, 0, "{}\n{}", out.all(), target.error_log());
    assert_eq!(counts(&source, "shop"), counts(&target, "shop"));
    assert_eq!(objects(&source, "shop"), objects(&target, "shop"));
    // The test server keeps MariaDB's innodb_autoinc_lock_mode (1): the
    // operator is told why the ranges of orders take turns.
    assert!(
        out.all()
            .contains("the ranges of orders take turns on the target"),
        "{}",
        out.all()
    );
    // The bytes bar, as plain lines: from nothing to all of the tables'
    // size on the source.
    let bars = crate::postgres_copy::transfer_lines(&out.all());
    assert!(bars.len() >= 2, "{}", out.all());
    assert!(bars[0].starts_with("0 B of "), "{bars:?}");
    let (done, rest) = bars.last().unwrap().split_once(" of ").unwrap();
    assert!(rest.starts_with(&format!("{done} (100%), ")), "{bars:?}");
    // The generated column is computed on the target, zero stayed zero.
    assert_eq!(
        target.sql("shop", "SELECT GROUP_CONCAT(CONCAT(id, '=', COALESCE(doubled, 'null'), ':', COALESCE(label, 'null'), ':', COALESCE(flags + 0, 'null')) ORDER BY id) FROM counters"),
        "0=2:zéro:5,5=null:null:null,18446744073709551000=4:huge:2"
    );
    // The function and the trigger work on the target.
    assert_eq!(target.sql("shop", "SELECT twice(21)"), "42");
    // Where the source's binlog stood, for mysql.replicate.
    let recorded = target.sql(
        "_cutover",
        "SELECT CONCAT(done, ' ', first_pos) FROM copy_position WHERE db = 'shop'",
    );
    let gtid = source.sql("mysql", "SELECT @@gtid_binlog_pos");
    assert!(
        recorded.starts_with("1 ") && recorded.contains(&format!("\"gtid\":\"{gtid}\"")),
        "{recorded} vs {gtid}"
    );
    let all = out.all();
    assert!(all.contains("share one snapshot"), "{all}");
    // Run again: the finished copy is recognised, nothing is copied twice.
    let again = sandbox.run(&["run", "pb.yaml"]);
    again.expect_code(0);
    assert!(again.all().contains("already copied"), "{}", again.all());
    assert_eq!(counts(&source, "shop"), counts(&target, "shop"));
}

#[test]
fn a_copy_refuses_a_target_with_tables_unless_told_to_truncate() {
    let source = Maria::start();
    let target = Maria::start();
    source.seed("shop", 500);
    target.seed("shop", 7);
    let sandbox = Sandbox::new();
    let (s, t) = (source.url("shop"), target.url("shop"));
    sandbox.write(
        "pb.yaml",
        &playbook("copy", &[("source", &s), ("target", &t)], &copy_steps("")),
    );
    let out = sandbox.run(&["run", "pb.yaml"]);
    out.expect_code(3);
    assert!(
        out.all().contains("is not empty") && out.all().contains("on_existing: truncate"),
        "{}",
        out.all()
    );
    assert_eq!(target.sql("shop", "SELECT COUNT(*) FROM orders"), "7");

    sandbox.write(
        "pb.yaml",
        &playbook(
            "copy",
            &[("source", &s), ("target", &t)],
            &copy_steps(", on_existing: truncate"),
        ),
    );
    sandbox.run(&["run", "pb.yaml"]).expect_code(0);
    assert_eq!(target.sql("shop", "SELECT COUNT(*) FROM orders"), "500");
}

#[test]
fn a_copy_killed_mid_rows_resumes_range_by_range() {
    let source = Maria::start_primary();
    let target = Maria::start();
    source.seed("shop", 60_000);
    // Built after the rows: after the resume, too.
    source.sql("shop", "CREATE INDEX by_total ON orders (total)");
    let sandbox = Sandbox::new();
    let (s, t) = (source.url("shop"), target.url("shop"));
    // Throttled so the kill lands in the middle of the rows.
    sandbox.write(
        "pb.yaml",
        &playbook(
            "copy",
            &[("source", &s), ("target", &t)],
            &copy_steps(", max_rate: 4MB"),
        ),
    );
    let mut child = sandbox.spawn(&["run", "pb.yaml"]);
    let ranges_done = || {
        target
            .try_sql(
                "root",
                "",
                "mysql",
                "SELECT COUNT(*) FROM _cutover.copy_progress WHERE item LIKE 'chunk:%'",
            )
            .ok()
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while ranges_done() < 1 {
        assert!(Instant::now() < deadline, "no range was ever copied");
        std::thread::sleep(Duration::from_millis(10));
    }
    kill9(&mut child);
    let id = sandbox.last_run();
    let before = ranges_done();
    let orders_before: u32 = target
        .sql("shop", "SELECT COUNT(*) FROM orders")
        .parse()
        .unwrap();
    assert!(orders_before < 60_000, "killed before the end");

    let out = sandbox.run(&["resume", &id]);
    out.expect_code(0);
    assert!(out.all().contains("resuming: "), "{}", out.all());
    assert_eq!(
        source.sql("shop", "SELECT COUNT(*), SUM(id) FROM orders"),
        target.sql("shop", "SELECT COUNT(*), SUM(id) FROM orders")
    );
    assert_eq!(objects(&source, "shop"), objects(&target, "shop"));
    // A resumed copy took a second snapshot: both positions are kept.
    let recorded = target.sql(
        "_cutover",
        "SELECT first_pos <> last_pos FROM copy_position WHERE db = 'shop'",
    );
    eprintln!(
        "killed after {before} ranges ({orders_before} orders); resumed and verified; positions differ: {recorded}"
    );
}
