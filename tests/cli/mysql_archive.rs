//! `mysql.snapshot`, `mysql.restore` and `mysql.compare_settings` against
//! throwaway MariaDB servers: an archive of a seeded database restored into
//! another server that `mysql.verify` finds equal (routines, triggers, views
//! and events along), its size, sha256 and binlog position in the journal, a
//! password that shows nowhere, a refused non-empty target, `on_existing:
//! clean`, a half-done restore redone, a failed dump that leaves the previous
//! archive untouched, and a capacity check that names the smaller setting.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::maria::Maria;
use crate::support::{Output, Sandbox};

const PASSWORD: &str = "Arch1ve-pw-7731";

fn playbook(name: &str, vars: &[(&str, &str)], steps: &str) -> String {
    let mut text = format!("name: {name}\nvars:\n");
    for (key, value) in vars {
        text.push_str(&format!("  {key}: \"{value}\"\n"));
    }
    format!("{text}steps:\n{steps}")
}

fn snapshot_step(to: &str) -> String {
    format!("  - id: snapshot\n    action: mysql.snapshot\n    with: {{ url: \"${{{{ vars.source }}}}\", to: {to} }}\n")
}

fn restore_step(from: &str, extra: &str) -> String {
    format!("  - id: restore\n    action: mysql.restore\n    with: {{ from: {from}, url: \"${{{{ vars.target }}}}\"{extra} }}\n")
}

const VERIFY: &str = "  - id: verify\n    action: mysql.verify\n    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\", mode: checksum }\n";

fn applied(sandbox: &Sandbox, step: &str) -> serde_json::Value {
    sandbox
        .journal(&sandbox.last_run())
        .iter()
        .find(|r| r["event"] == "step_finished" && r["step"] == step)
        .map(|r| r["data"]["applied"].clone())
        .unwrap_or_else(|| panic!("step `{step}` finished"))
}

/// A user with a password and every privilege, for URLs that carry one.
fn archivist(server: &Maria) -> String {
    server.sql(
        "mysql",
        &format!("CREATE USER archivist@'%' IDENTIFIED BY '{PASSWORD}'; GRANT ALL PRIVILEGES ON *.* TO archivist@'%'"),
    );
    format!("mysql://archivist:{PASSWORD}@127.0.0.1:{}", server.port)
}

/// Runs cutover while watching every process's command line for `secret`;
/// returns the output and whether the secret was seen.
fn run_watching(sandbox: &Sandbox, args: &[&str], secret: &str) -> (Output, bool) {
    let child = sandbox
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cutover");
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    let mut seen = false;
    while !waiter.is_finished() {
        seen |= std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .any(|cmdline| String::from_utf8_lossy(&cmdline).contains(secret));
        std::thread::sleep(Duration::from_millis(2));
    }
    let output = waiter.join().unwrap();
    let output = Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    (output, seen)
}

/// Views, triggers, routines and events of `shop`, to compare two servers.
fn extras(server: &Maria, db: &str) -> String {
    server.sql(
        db,
        "SELECT CONCAT_WS(' | ',
           (SELECT GROUP_CONCAT(table_name ORDER BY 1) FROM information_schema.views WHERE table_schema = DATABASE()),
           (SELECT GROUP_CONCAT(trigger_name ORDER BY 1) FROM information_schema.triggers WHERE trigger_schema = DATABASE()),
           (SELECT GROUP_CONCAT(routine_name ORDER BY 1) FROM information_schema.routines WHERE routine_schema = DATABASE()),
           (SELECT GROUP_CONCAT(event_name ORDER BY 1) FROM information_schema.events WHERE event_schema = DATABASE()))",
    )
}

fn add_extras(server: &Maria, db: &str) {
    server.sql(
        db,
        "CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100;
         CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW INSERT INTO audit_log VALUES (NOW(), CONCAT('order ', NEW.id));
         CREATE PROCEDURE order_count(OUT n INT) SELECT COUNT(*) INTO n FROM orders;
         CREATE EVENT prune_audit ON SCHEDULE EVERY 1 DAY DO DELETE FROM audit_log WHERE at < NOW() - INTERVAL 1 YEAR;",
    );
}

#[test]
fn snapshot_restored_into_another_server_verifies_equal_and_shows_no_password() {
    let started = Instant::now();
    // A binlogging source: the archive records where the binlog stood.
    let (source, target) = (Maria::start_primary(), Maria::start());
    source.seed("shop", 5_000);
    add_extras(&source, "shop");
    let (s, t) = (
        format!("{}/shop", archivist(&source)),
        format!("{}/shop", archivist(&target)),
    );
    let sandbox = Sandbox::new();
    let steps = format!(
        "{}{}{VERIFY}",
        snapshot_step("archives/shop.sql"),
        restore_step("archives/shop.sql", "")
    );
    sandbox.write(
        "pb.yaml",
        &playbook("archive", &[("source", &s), ("target", &t)], &steps),
    );
    let (out, seen) = run_watching(&sandbox, &["run", "pb.yaml"], PASSWORD);
    out.expect_code(0);
    assert!(!seen, "the password showed in a process's command line");
    let all = out.all();
    assert!(!all.contains(PASSWORD), "the password leaked:\n{all}");
    let journal = sandbox.journal_text(&sandbox.last_run());
    assert!(
        !journal.contains(PASSWORD),
        "the password leaked:\n{journal}"
    );
    assert!(
        all.contains("same     orders: 5000 rows / 5000 rows"),
        "{all}"
    );

    // Every type survived, and the schema's other objects came along.
    let probe = "SELECT CONCAT_WS(' ', id, total, HEX(photo), attrs, placed, changed, IFNULL(note, 'NULL')) FROM orders WHERE id IN (1, 7, 10) ORDER BY id";
    assert_eq!(source.sql("shop", probe), target.sql("shop", probe));
    assert!(target.sql("shop", probe).contains('\u{1F680}'));
    assert_eq!(
        extras(&source, "shop"),
        "big_orders | orders_audit | order_count | prune_audit"
    );
    assert_eq!(extras(&source, "shop"), extras(&target, "shop"));

    let archive = sandbox.path().join("archives/shop.sql");
    let snapshot = applied(&sandbox, "snapshot");
    let size = std::fs::metadata(&archive).unwrap().len();
    assert_eq!(snapshot["bytes"].as_u64(), Some(size));
    assert_eq!(snapshot["tables"].as_u64(), Some(2));
    let sum = Command::new("sha256sum").arg(&archive).output().unwrap();
    let sum = String::from_utf8_lossy(&sum.stdout);
    assert_eq!(
        snapshot["sha256"].as_str(),
        sum.split_whitespace().next(),
        "the journaled sha256 is the file's"
    );
    let position = &snapshot["binlog_position"];
    assert!(
        position["file"]
            .as_str()
            .unwrap_or("")
            .starts_with("binlog."),
        "{snapshot}"
    );
    assert!(position["gtid"].as_str().is_some(), "{snapshot}");
    let left: Vec<_> = std::fs::read_dir(sandbox.path().join("archives"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec!["shop.sql".to_string()], "no partial file left");
    let restore = applied(&sandbox, "restore");
    eprintln!(
        "snapshot: {size} bytes in {} s; restore: {} s; test so far {:.1} s",
        snapshot["seconds"],
        restore["seconds"],
        started.elapsed().as_secs_f64()
    );

    // Run again: the restore sees its own finished work and does nothing.
    sandbox.write(
        "again.yaml",
        &playbook(
            "again",
            &[("source", &s), ("target", &t)],
            &restore_step("archives/shop.sql", ""),
        ),
    );
    let out = sandbox.run(&["run", "again.yaml"]);
    out.expect_code(0);
    assert!(out.all().contains("already restored"), "{}", out.all());
}

#[test]
fn restore_refuses_a_non_empty_target_unless_clean_and_redoes_a_half_done_one() {
    let server = Maria::start();
    server.seed("shop", 400);
    add_extras(&server, "shop");
    server.sql("mysql", "CREATE DATABASE copy");
    server.sql(
        "copy",
        "CREATE TABLE leftover (id INT); INSERT INTO leftover VALUES (1); CREATE VIEW leftover_view AS SELECT id FROM leftover",
    );
    let (s, t) = (server.url("shop"), server.url("copy"));
    let vars = [("source", s.as_str()), ("target", t.as_str())];
    let sandbox = Sandbox::new();
    sandbox.write(
        "snap.yaml",
        &playbook("snap", &vars, &snapshot_step("shop.sql")),
    );
    sandbox.run(&["run", "snap.yaml"]).expect_code(0);

    sandbox.write(
        "refuse.yaml",
        &playbook("restore", &vars, &restore_step("shop.sql", "")),
    );
    let out = sandbox.run(&["run", "refuse.yaml"]);
    out.expect_code(3);
    let all = out.all();
    assert!(all.contains("is not empty"), "{all}");
    assert!(all.contains("table leftover"), "{all}");
    assert!(all.contains("view leftover_view"), "{all}");
    assert!(all.contains("on_existing: clean"), "{all}");
    assert_eq!(server.sql("copy", "SELECT COUNT(*) FROM leftover"), "1");

    let clean = playbook(
        "restore",
        &vars,
        &format!(
            "{}{VERIFY}",
            restore_step("shop.sql", ", on_existing: clean")
        ),
    );
    sandbox.write("clean.yaml", &clean);
    let out = sandbox.run(&["run", "clean.yaml"]);
    out.expect_code(0);
    assert!(out.all().contains("dropped 2 object(s)"), "{}", out.all());
    assert_eq!(
        server.sql("mysql", "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'copy' AND table_name LIKE 'leftover%'"),
        "0"
    );
    assert_eq!(extras(&server, "shop"), extras(&server, "copy"));

    // A crash halfway through: the mark says started, half the rows are there.
    server.sql(
        "copy",
        "UPDATE _cutover.restore_mark SET state = 'started' WHERE db = 'copy'; DELETE FROM orders WHERE id > 100; DROP TABLE audit_log",
    );
    let resume = playbook(
        "restore",
        &vars,
        &format!("{}{VERIFY}", restore_step("shop.sql", "")),
    );
    sandbox.write("resume.yaml", &resume);
    let out = sandbox.run(&["run", "resume.yaml"]);
    out.expect_code(0);
    assert!(
        out.all()
            .contains("an earlier attempt started restoring this archive"),
        "{}",
        out.all()
    );

    // An archive cut short is refused before anything is touched.
    let bytes = std::fs::read(sandbox.path().join("shop.sql")).unwrap();
    std::fs::write(
        sandbox.path().join("cut.sql"),
        &bytes[..bytes.len() * 2 / 3],
    )
    .unwrap();
    sandbox.write(
        "cut.yaml",
        &playbook(
            "cut",
            &vars,
            &restore_step("cut.sql", ", on_existing: clean"),
        ),
    );
    let out = sandbox.run(&["run", "cut.yaml"]);
    out.expect_code(3);
    assert!(out.all().contains("is incomplete"), "{}", out.all());
    assert_eq!(server.sql("copy", "SELECT COUNT(*) FROM orders"), "400");
}

#[test]
fn a_failed_snapshot_leaves_the_previous_archive_untouched() {
    let server = Maria::start();
    server.seed("shop", 100);
    add_extras(&server, "shop");
    // May read the tables but not see a view's definition: the dump fails at the view.
    server.sql(
        "mysql",
        "CREATE USER clerk@'%' IDENTIFIED BY 'clerk-pw'; GRANT SELECT ON shop.* TO clerk@'%'",
    );
    let sandbox = Sandbox::new();
    sandbox.write("shop.sql", "the archive of last week");
    let url = format!("mysql://clerk:clerk-pw@127.0.0.1:{}/shop", server.port);
    sandbox.write(
        "pb.yaml",
        &playbook("snap", &[("source", &url)], &snapshot_step("shop.sql")),
    );
    let out = sandbox.run(&["run", "pb.yaml"]);
    out.expect_code(3);
    assert!(out.all().contains("mariadb-dump"), "{}", out.all());
    assert!(out.all().contains("denied"), "{}", out.all());
    assert_eq!(sandbox.read("shop.sql"), "the archive of last week");
    assert!(
        !sandbox.path().join(".shop.sql.partial").exists(),
        "the partial archive was removed"
    );
}

#[test]
fn compare_settings_names_the_settings_where_the_target_is_smaller() {
    let big = Maria::start();
    let small = Maria::start_with(&["--max-connections=20", "--innodb-buffer-pool-size=16M"]);
    big.seed("shop", 100);
    small.sql("mysql", "CREATE DATABASE shop");
    let sandbox = Sandbox::new();
    let compare = |source: &Maria, target: &Maria| {
        let steps = "  - id: compare\n    action: mysql.compare_settings\n    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\", keys: [sql_mode, innodb_log_file_size] }\n";
        sandbox.write(
            "pb.yaml",
            &playbook(
                "compare",
                &[
                    ("source", &source.url("shop")),
                    ("target", &target.url("shop")),
                ],
                steps,
            ),
        );
        sandbox.run(&["run", "pb.yaml"])
    };

    let out = compare(&big, &small);
    out.expect_code(3);
    let all = out.all();
    let line = |name: &str| {
        all.lines()
            .find(|l| l.contains(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{all}"))
            .to_string()
    };
    assert!(line("max_connections").contains("151"), "{all}");
    assert!(line("max_connections").contains("TARGET SMALLER"), "{all}");
    assert!(
        line("innodb_buffer_pool_size").contains("TARGET SMALLER"),
        "{all}"
    );
    assert!(line("sql_mode").ends_with("ok"), "{all}");
    assert!(line("innodb_log_file_size").ends_with("ok"), "{all}");
    assert!(line("server version").ends_with("ok"), "{all}");
    assert!(all.contains("disk (source data / target free)"), "{all}");
    assert!(
        all.contains("the target falls short of the source: max_connections (smaller: source 151, target 20); innodb_buffer_pool_size (smaller"),
        "{all}"
    );

    // The other way round the target is larger: it passes.
    let out = compare(&small, &big);
    out.expect_code(0);
    let all = out.all();
    assert!(!all.contains("TARGET SMALLER"), "{all}");
    assert!(
        all.lines()
            .any(|l| l.contains("max_connections ") && l.contains(" 20 ") && l.ends_with("ok")),
        "{all}"
    );
}
