//! MySQL/MariaDB binlog replication against throwaway MariaDB servers, through
//! the real binary: replicate while a client writes, freeze, catch up, verify
//! by checksum — not one acknowledged row lost; the rollback that removes the
//! channel; a resumed copy replayed idempotently; and the refusals (no binary
//! log, purged binary log) with their fixes.
//!
//! `mysql.copy` is not used here: each test copies with `mariadb-dump` and
//! writes the record `mysql.copy` leaves on the target (`_cutover.copy_position`).

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::maria::Maria;
use crate::support::Sandbox;

pub(crate) const REPL_PASSWORD: &str = "repl-Pw-7c1e9";

/// A source with a binary log and a target, started one test at a time:
/// concurrent `mariadb-install-db` runs sharing `/tmp` as their tmpdir
/// sometimes fail (`Unknown table 'mysql.tmp_user_sys'`).
pub(crate) fn servers(source_binlog: bool) -> (Maria, Maria) {
    start_pair(source_binlog, &["--server-id=2"])
}

/// Two servers with binary logs: the new one sends its writes back to the
/// old one after the swap (`mysql.reverse_replicate`).
pub(crate) fn primaries() -> (Maria, Maria) {
    start_pair(
        true,
        &["--log-bin=binlog", "--binlog-format=ROW", "--server-id=2"],
    )
}

/// Held while servers start: concurrent `mariadb-install-db` runs were seen failing.
pub(crate) static START: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn start_pair(source_binlog: bool, target_options: &[&str]) -> (Maria, Maria) {
    let _one_at_a_time = START.lock().unwrap_or_else(|e| e.into_inner());
    let source = if source_binlog {
        Maria::start_primary()
    } else {
        Maria::start()
    };
    (source, Maria::start_with(target_options))
}

/// Where `mariadb-dump --master-data=2 --gtid` says its snapshot was taken.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    file: String,
    pos: u64,
    gtid: String,
}

impl Snapshot {
    /// As `position.rs` stores a `BinlogPosition`.
    fn json(&self) -> String {
        serde_json::json!({ "file": self.file, "pos": self.pos, "gtid": self.gtid }).to_string()
    }
}

/// Dumps `what` (`--databases shop` or `shop orders`) from `source` into
/// `target`; returns the snapshot's binlog position when the source has one.
pub(crate) fn dump(
    source: &Maria,
    target: &Maria,
    what: &[&str],
    binlog: bool,
) -> Option<Snapshot> {
    let mut args = vec![
        "-h".to_string(),
        "127.0.0.1".into(),
        "-P".into(),
        source.port.to_string(),
        "-u".into(),
        "root".into(),
        "--single-transaction".into(),
        "--hex-blob".into(),
    ];
    if binlog {
        args.extend(["--master-data=2".into(), "--gtid".into()]);
    }
    args.extend(what.iter().map(|w| w.to_string()));
    let dump = Command::new("mariadb-dump").args(&args).output().unwrap();
    assert!(
        dump.status.success(),
        "mariadb-dump: {}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let mut load = Command::new("mariadb")
        .args([
            "-h",
            "127.0.0.1",
            "-P",
            &target.port.to_string(),
            "-u",
            "root",
        ])
        .arg("--default-character-set=utf8mb4")
        // A dump of some tables has no `USE`.
        .args(if what[0] == "--databases" {
            vec![]
        } else {
            vec!["-D", "shop"]
        })
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(load.stdin.as_mut().unwrap(), &dump.stdout).unwrap();
    drop(load.stdin.take());
    assert!(load.wait().unwrap().success(), "loading the dump failed");
    if !binlog {
        return None;
    }
    let text = String::from_utf8_lossy(&dump.stdout);
    let quoted = |key: &str| {
        let start = text.find(key).unwrap_or_else(|| panic!("{key} in dump")) + key.len();
        text[start..].split('\'').next().unwrap().to_string()
    };
    let pos_start = text.find("MASTER_LOG_POS=").unwrap() + "MASTER_LOG_POS=".len();
    let pos = text[pos_start..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap();
    Some(Snapshot {
        file: quoted("MASTER_LOG_FILE='"),
        pos,
        gtid: quoted("gtid_slave_pos='"),
    })
}

/// What `mysql.copy` records on the target (`position::ensure_internal`,
/// `record_snapshot` for each snapshot, `record_done`).
pub(crate) fn record_copy(
    source: &Maria,
    target: &Maria,
    first: Option<&Snapshot>,
    last: Option<&Snapshot>,
) {
    let json = |s: Option<&Snapshot>| s.map_or("NULL".to_string(), |s| format!("'{}'", s.json()));
    target.sql(
        "mysql",
        &format!(
            "CREATE DATABASE IF NOT EXISTS `_cutover`;
             CREATE TABLE IF NOT EXISTS `_cutover`.copy_position (
               db VARCHAR(64) NOT NULL PRIMARY KEY, source VARCHAR(255) NOT NULL,
               first_pos TEXT NULL, last_pos TEXT NULL, done TINYINT NOT NULL DEFAULT 0,
               updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP) ENGINE=InnoDB;
             INSERT INTO `_cutover`.copy_position (db, source, first_pos, last_pos, done)
               VALUES ('shop', 'root@127.0.0.1:{}/shop', {}, {}, 1)",
            source.port,
            json(first),
            json(last)
        ),
    );
}

/// A replication account with the password the playbooks take from a secret.
pub(crate) fn repl_user(source: &Maria) {
    source.sql(
        "mysql",
        &format!("CREATE USER repl@'%' IDENTIFIED BY '{REPL_PASSWORD}'; GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO repl@'%'"),
    );
}

/// The playbook's head: the three URLs, the replication password a secret.
pub(crate) fn playbook(name: &str, source: &Maria, target: &Maria, steps: &str) -> String {
    format!(
        "name: {name}\nsecrets: [REPL_PASSWORD]\nvars:\n  source: \"{}\"\n  repl: \"mysql://repl:${{{{ secrets.REPL_PASSWORD }}}}@127.0.0.1:{}/shop\"\n  target: \"{}\"\nsteps:\n{steps}",
        source.url("shop"),
        source.port,
        target.url("shop")
    )
}

pub(crate) const REPLICATE: &str = "  - id: replicate\n    action: mysql.replicate\n    with: { source: \"${{ vars.repl }}\", target: \"${{ vars.target }}\" }\n";

pub(crate) fn channels(target: &Maria) -> String {
    target.sql("mysql", "SHOW ALL SLAVES STATUS")
}

fn run(sandbox: &Sandbox) -> crate::support::Output {
    sandbox.run_with_env(&["run", "pb.yaml"], &[("REPL_PASSWORD", REPL_PASSWORD)])
}

/// The application: inserts and updates through the source until told to
/// stop; counts the inserts the server acknowledged.
struct Writer {
    stop: Arc<AtomicBool>,
    inserted: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl Writer {
    fn start(source: &Maria) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let inserted = Arc::new(AtomicU64::new(0));
        let (port, stop_flag, count) = (source.port, stop.clone(), inserted.clone());
        let thread = std::thread::spawn(move || {
            let sql = |user: &str, password: &str, db: &str, sql: &str| {
                Command::new("mariadb")
                    .args(["-h", "127.0.0.1", "-P", &port.to_string(), "-u", user])
                    .arg(format!("--password={password}"))
                    .args(["-D", db, "-e", sql])
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            };
            let mut n = 0u64;
            while !stop_flag.load(Ordering::SeqCst) {
                n += 1;
                let insert = format!(
                    "INSERT INTO orders (total, note, attrs, placed) VALUES ({n}.5, 'live {n} \u{e9}', JSON_OBJECT('n', {n}), NOW(6))"
                );
                if sql("app", "app-pass-123", "shop", &insert) {
                    count.fetch_add(1, Ordering::SeqCst);
                    sql(
                        "app",
                        "app-pass-123",
                        "shop",
                        &format!(
                            "UPDATE orders SET total = total + 1, changed = NOW(3) WHERE id = {}",
                            n % 50 + 1
                        ),
                    );
                    // A database the target does not have: the channel must skip it.
                    sql("root", "", "other", &format!("INSERT INTO x VALUES ({n})"));
                }
            }
        });
        Writer {
            stop,
            inserted,
            thread,
        }
    }

    fn inserted(&self) -> u64 {
        self.inserted.load(Ordering::SeqCst)
    }

    /// Stops the writes; returns how many inserts were acknowledged.
    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap();
        self.inserted.load(Ordering::SeqCst)
    }
}

/// A seeded source, a target loaded from its dump with the position
/// recorded, and `mysql.replicate` run successfully between them.
fn replicating_20_orders() -> (Maria, Maria, Sandbox) {
    let (source, target) = servers(true);
    source.seed("shop", 20);
    repl_user(&source);
    let snapshot = dump(&source, &target, &["--databases", "shop"], true).unwrap();
    record_copy(&source, &target, Some(&snapshot), Some(&snapshot));
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &playbook("replicate", &source, &target, REPLICATE),
    );
    run(&sandbox).expect_code(0);
    (source, target, sandbox)
}

#[test]
fn replication_under_writes_then_freeze_catch_up_and_checksums_lose_nothing() {
    let started = Instant::now();
    let (source, target) = servers(true);
    source.seed("shop", 500);
    source.sql("mysql", "CREATE USER app@'%' IDENTIFIED BY 'app-pass-123'; GRANT SELECT, INSERT, UPDATE, DELETE ON shop.* TO app@'%'; CREATE DATABASE other; CREATE TABLE other.x (n INT)");
    repl_user(&source);
    let writer = Writer::start(&source);
    while writer.inserted() < 5 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The copy, taken while the application writes.
    let snapshot = dump(&source, &target, &["--databases", "shop"], true).unwrap();
    record_copy(&source, &target, Some(&snapshot), Some(&snapshot));
    let before = writer.inserted();

    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &playbook(
            "replicate-under-load",
            &source,
            &target,
            &format!(
                "{REPLICATE}  - id: replicate-again\n    action: mysql.replicate\n    with: {{ source: \"${{{{ vars.repl }}}}\", target: \"${{{{ vars.target }}}}\" }}\n    rollback: none\n  - id: under-load\n    action: wait\n    with: {{ duration: 2s }}\n  - id: freeze\n    action: mysql.read_only\n    with: {{ url: \"${{{{ vars.source }}}}\" }}\n  - id: catch-up\n    action: mysql.catch_up\n    with: {{ source: \"${{{{ vars.repl }}}}\", target: \"${{{{ vars.target }}}}\", timeout: 1m }}\n  - id: verify\n    action: mysql.verify\n    with: {{ source: \"${{{{ vars.source }}}}\", target: \"${{{{ vars.target }}}}\", mode: checksum }}\n"
            ),
        ),
    );
    let out = run(&sandbox);
    let acknowledged = writer.finish();
    out.expect_code(0);
    let all = out.all();
    assert!(
        acknowledged > before,
        "the application wrote while replication ran"
    );
    assert!(all.contains("already replicates from"), "{all}");
    assert!(all.contains("caught up"), "{all}");
    assert!(!all.contains(REPL_PASSWORD), "{all}");
    assert!(
        !sandbox
            .journal_text(&sandbox.last_run())
            .contains(REPL_PASSWORD),
        "the password reached the journal"
    );
    let count = |server: &Maria| server.sql("shop", "SELECT COUNT(*) FROM orders");
    let on_source: u64 = count(&source).parse().unwrap();
    assert!(
        on_source >= 500 + acknowledged,
        "{on_source} rows on the source, {acknowledged} inserts acknowledged"
    );
    assert_eq!(count(&target), count(&source), "rows lost");
    assert_eq!(
        target.sql("shop", "SELECT SUM(total) FROM orders"),
        source.sql("shop", "SELECT SUM(total) FROM orders")
    );
    assert!(target.try_sql("root", "", "other", "SELECT 1").is_err());
    eprintln!(
        "replication under load: {acknowledged} inserts, {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn a_failure_after_replicate_removes_the_channel() {
    let (source, target) = servers(true);
    source.seed("shop", 50);
    repl_user(&source);
    let snapshot = dump(&source, &target, &["--databases", "shop"], true).unwrap();
    record_copy(&source, &target, Some(&snapshot), Some(&snapshot));
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &playbook(
            "replicate-then-fail",
            &source,
            &target,
            &format!("{REPLICATE}  - id: boom\n    action: shell\n    with: {{ run: exit 1 }}\n"),
        ),
    );
    let out = run(&sandbox);
    out.expect_code(3);
    let all = out.all();
    assert!(all.contains("dropped channel cutover"), "{all}");
    assert_eq!(channels(&target), "", "the channel is gone");
    // Dropping again finds nothing and is fine.
    sandbox.write(
        "pb.yaml",
        &playbook(
            "drop-again",
            &source,
            &target,
            "  - id: drop\n    action: mysql.drop_replication\n    with: { source: \"${{ vars.repl }}\", target: \"${{ vars.target }}\" }\n",
        ),
    );
    let again = run(&sandbox);
    again.expect_code(0);
    assert!(again.all().contains("nothing to drop"), "{}", again.all());
}

#[test]
fn a_source_without_binary_log_is_refused_with_the_fix() {
    let (source, target) = servers(false);
    source.seed("shop", 20);
    repl_user(&source);
    dump(&source, &target, &["--databases", "shop"], false);
    // What mysql.copy records when the source writes no binary log.
    record_copy(&source, &target, None, None);
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &playbook("no-binlog", &source, &target, REPLICATE),
    );
    let out = run(&sandbox);
    out.expect_code(3);
    let all = out.all();
    assert!(all.contains("`log_bin` is OFF"), "{all}");
    assert!(all.contains("restart the source"), "{all}");
    assert!(all.contains("run `mysql.copy` again"), "{all}");
    assert_eq!(channels(&target), "");
}

#[test]
fn a_purged_binary_log_is_refused_with_the_fix() {
    let (source, target) = servers(true);
    source.seed("shop", 20);
    repl_user(&source);
    let snapshot = dump(&source, &target, &["--databases", "shop"], true).unwrap();
    record_copy(&source, &target, Some(&snapshot), Some(&snapshot));
    // MariaDB keeps a log until its binlog checkpoint has passed: retry.
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    while source
        .sql("mysql", "SHOW BINARY LOGS")
        .contains(&snapshot.file)
    {
        assert!(Instant::now() < deadline, "the binary log was never purged");
        source.sql("mysql", "FLUSH BINARY LOGS");
        let newest = source.sql("mysql", "SHOW MASTER STATUS");
        let newest = newest.split('\t').next().unwrap().to_string();
        source.sql("mysql", &format!("PURGE BINARY LOGS TO '{newest}'"));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", &playbook("purged", &source, &target, REPLICATE));
    let out = run(&sandbox);
    out.expect_code(3);
    let all = out.all();
    assert!(
        all.contains(&format!(
            "the binary log at the recorded position, `{}` (position {}:{}",
            snapshot.file, snapshot.file, snapshot.pos
        )),
        "{all}"
    );
    assert!(all.contains("was purged"), "{all}");
    assert!(all.contains("binlog_expire_logs_seconds"), "{all}");
    assert_eq!(channels(&target), "");
}

#[test]
fn a_resumed_copy_is_replayed_idempotently_up_to_its_last_snapshot() {
    let (source, target) = servers(true);
    source.seed("shop", 200);
    repl_user(&source);
    let first = dump(&source, &target, &["--databases", "shop"], true).unwrap();
    // Changes between the two snapshots…
    source.sql(
        "shop",
        "INSERT INTO orders (total, note) SELECT seq, 'between' FROM seq_1_to_30;
         UPDATE orders SET note = 'updated between' WHERE id <= 20;
         DELETE FROM orders WHERE id BETWEEN 21 AND 25;
         INSERT INTO audit_log SELECT NOW(), 'between' FROM seq_1_to_10;",
    );
    // …that the resumed copy's second snapshot of `orders` already holds.
    let last = dump(&source, &target, &["shop", "orders"], true).unwrap();
    assert_ne!(first.gtid, last.gtid);
    record_copy(&source, &target, Some(&first), Some(&last));
    source.sql(
        "shop",
        "INSERT INTO orders (total, note) SELECT seq, 'after' FROM seq_1_to_15; UPDATE orders SET total = 0 WHERE id = 30;",
    );
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &playbook(
            "resumed-copy",
            &source,
            &target,
            &format!("{REPLICATE}  - id: catch-up\n    action: mysql.catch_up\n    with: {{ source: \"${{{{ vars.repl }}}}\", target: \"${{{{ vars.target }}}}\", timeout: 1m }}\n  - id: verify\n    action: mysql.verify\n    with: {{ source: \"${{{{ vars.source }}}}\", target: \"${{{{ vars.target }}}}\", mode: checksum }}\n"),
        ),
    );
    let out = run(&sandbox);
    out.expect_code(0);
    assert!(
        out.all().contains("replaying idempotently"),
        "{}",
        out.all()
    );
    assert_eq!(target.sql("mysql", "SELECT @@slave_exec_mode"), "STRICT");
    assert_eq!(target.sql("shop", "SELECT COUNT(*) FROM audit_log"), "210");
}

#[test]
fn a_source_the_target_cannot_reach_fails_with_the_io_error_and_leaves_no_channel() {
    let (source, target) = servers(true);
    source.seed("shop", 20);
    repl_user(&source);
    let snapshot = dump(&source, &target, &["--databases", "shop"], true).unwrap();
    record_copy(&source, &target, Some(&snapshot), Some(&snapshot));
    // Nothing listens on port 1: the target's IO thread cannot connect.
    let steps = REPLICATE.replace(
        "target: \"${{ vars.target }}\" }",
        "target: \"${{ vars.target }}\", source_address: \"127.0.0.1:1\" }",
    );
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &playbook("unreachable", &source, &target, &steps),
    );
    let out = run(&sandbox);
    out.expect_code(3);
    let all = out.all();
    assert!(all.contains("cannot read the source's binary log"), "{all}");
    assert!(all.contains("127.0.0.1:1"), "{all}");
    assert!(all.contains("channel `cutover` removed"), "{all}");
    assert!(!all.contains(REPL_PASSWORD), "{all}");
    assert_eq!(channels(&target), "");
}

#[test]
fn catch_up_fails_at_once_with_the_replica_s_own_error() {
    let (source, target, sandbox) = replicating_20_orders();
    // The replica diverges: a row the source then updates is gone there.
    target.sql("shop", "DELETE FROM orders WHERE id = 5");
    source.sql("shop", "UPDATE orders SET note = 'changed' WHERE id = 5");
    sandbox.write(
        "pb.yaml",
        &playbook(
            "catch-up",
            &source,
            &target,
            "  - id: catch-up\n    action: mysql.catch_up\n    with: { source: \"${{ vars.repl }}\", target: \"${{ vars.target }}\", timeout: 2m }\n",
        ),
    );
    let started = Instant::now();
    let out = run(&sandbox);
    out.expect_code(3);
    let all = out.all();
    assert!(
        all.contains("the SQL thread of channel `cutover` stopped"),
        "{all}"
    );
    assert!(all.contains("error 1032"), "{all}");
    assert!(
        started.elapsed().as_secs() < 30,
        "failed at once, not at the timeout"
    );
}

#[test]
fn catch_up_times_out_saying_how_far_behind_and_max_lag_tolerates_that() {
    let (source, target, sandbox) = replicating_20_orders();
    // A replica an hour behind on purpose.
    target.sql("mysql", "STOP SLAVE 'cutover'; CHANGE MASTER 'cutover' TO MASTER_DELAY = 3600; START SLAVE 'cutover'");
    source.sql(
        "shop",
        "INSERT INTO audit_log SELECT NOW(), CONCAT('late ', seq) FROM seq_1_to_100",
    );
    let catch_up = |with: &str| {
        sandbox.write(
            "pb.yaml",
            &playbook(
                "catch-up",
                &source,
                &target,
                &format!("  - id: catch-up\n    action: mysql.catch_up\n    with: {{ source: \"${{{{ vars.repl }}}}\", target: \"${{{{ vars.target }}}}\", {with} }}\n"),
            ),
        );
        run(&sandbox)
    };
    let out = catch_up("timeout: 2s");
    out.expect_code(3);
    let all = out.all();
    assert!(all.contains("the replica is still"), "{all}");
    assert!(all.contains(" behind binlog.000001:"), "{all}");
    assert!(all.contains("after 2s"), "{all}");
    catch_up("max_lag: 10000000, timeout: 10s").expect_code(0);
}

#[test]
fn replicate_again_restarts_a_stopped_channel_where_it_stopped() {
    let (source, target, sandbox) = replicating_20_orders();
    source.sql(
        "shop",
        "INSERT INTO orders (total) SELECT seq FROM seq_1_to_10",
    );
    // Someone (or a crash) stops it; more writes arrive meanwhile.
    target.sql("mysql", "STOP SLAVE 'cutover'");
    source.sql(
        "shop",
        "INSERT INTO orders (total) SELECT seq FROM seq_1_to_10",
    );
    sandbox.write(
        "pb.yaml",
        &playbook(
            "replicate-again",
            &source,
            &target,
            &format!("{REPLICATE}  - id: catch-up\n    action: mysql.catch_up\n    with: {{ source: \"${{{{ vars.repl }}}}\", target: \"${{{{ vars.target }}}}\", timeout: 1m }}\n"),
        ),
    );
    let out = run(&sandbox);
    out.expect_code(0);
    assert!(
        out.all().contains("restarting it where it stopped"),
        "{}",
        out.all()
    );
    assert_eq!(target.sql("shop", "SELECT COUNT(*) FROM orders"), "40");
}
