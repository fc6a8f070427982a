//! The MySQL reference playbook end to end: `playbooks/mysql-replica-cutover.yaml`
//! moves a MariaDB database to a new server while an application writes
//! through HAProxy — copy, replication, maintenance page, freeze, catch up,
//! verify, swap, smoke. Every write the application saw acknowledged must be
//! on the new server, and the application's address must reach it.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::lb::haproxy_tcp;
use crate::maria::Maria;
use crate::support::Sandbox;

const APP_PASSWORD: &str = "app-secret-4711";

/// The application: inserts one row at a time through HAProxy, each in its
/// own connection (as a pool would reconnect), and keeps the ids the server
/// acknowledged.
struct Writer {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<u64>>,
}

impl Writer {
    fn start(port: u16) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut acknowledged = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                let output = Command::new("mariadb")
                    .args([
                        "-h",
                        "127.0.0.1",
                        "-P",
                        &port.to_string(),
                        "-u",
                        "app",
                        "-N",
                        "-B",
                    ])
                    .arg(format!("--password={APP_PASSWORD}"))
                    .args([
                        "-D",
                        "shop",
                        "-e",
                        "INSERT INTO probe (at) VALUES (NOW(6)); SELECT LAST_INSERT_ID()",
                    ])
                    .output()
                    .unwrap();
                if output.status.success() {
                    if let Ok(id) = String::from_utf8_lossy(&output.stdout).trim().parse() {
                        acknowledged.push(id);
                    }
                } else {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            acknowledged
        });
        Writer { stop, thread }
    }

    fn finish(self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

#[test]
fn the_mysql_reference_playbook_moves_the_database_under_writes() {
    let source = Maria::start_primary();
    let target = Maria::start_with(&["--server-id=2"]);
    source.seed("shop", 20_000);
    source.sql(
        "shop",
        "CREATE TABLE probe (id BIGINT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6) NOT NULL)",
    );
    for server in [&source, &target] {
        server.sql(
            "mysql",
            &format!("CREATE USER app@'%' IDENTIFIED BY '{APP_PASSWORD}'; GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP ON shop.* TO app@'%'"),
        );
    }
    let sandbox = Sandbox::new();
    let (_haproxy, port, socket) = haproxy_tcp(&sandbox, source.port, target.port);
    let app_url = format!("mysql://app:{APP_PASSWORD}@127.0.0.1:{port}/shop");
    let writer = Writer::start(port);
    let deadline = Instant::now() + Duration::from_secs(10);
    while source.sql("shop", "SELECT COUNT(*) FROM probe") == "0" {
        assert!(Instant::now() < deadline, "the application never wrote");
        std::thread::sleep(Duration::from_millis(20));
    }

    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("playbooks/mysql-replica-cutover.yaml"),
    )
    .unwrap();
    sandbox.write("pb.yaml", &text);
    let flag = sandbox.path().join("maintenance.on");
    let output = sandbox.run_with_env(
        &["run", "pb.yaml"],
        &[
            ("SOURCE_URL", &source.url("shop")),
            ("TARGET_URL", &target.url("shop")),
            ("APP_URL", &app_url),
            ("HAPROXY_SOCKET", &socket),
            ("MAINTENANCE_FLAG", &flag.display().to_string()),
            ("NEW_SERVER_ID", "2"),
        ],
    );
    // Let the application write to the new server for a moment.
    std::thread::sleep(Duration::from_millis(500));
    let acknowledged = writer.finish();
    assert_eq!(
        output.code,
        0,
        "{}\n--- target log:\n{}",
        output.all(),
        target.error_log()
    );

    // Every write the application saw acknowledged is on the new server.
    assert!(
        acknowledged.len() > 20,
        "the application wrote {} rows",
        acknowledged.len()
    );
    let ids: Vec<String> = acknowledged.iter().map(u64::to_string).collect();
    assert_eq!(
        target.sql(
            "shop",
            &format!("SELECT COUNT(*) FROM probe WHERE id IN ({})", ids.join(","))
        ),
        ids.len().to_string(),
        "an acknowledged write is missing on the new server"
    );
    // The application writes to the new server now.
    let on_target: u64 = target
        .sql("shop", "SELECT COUNT(*) FROM probe")
        .parse()
        .unwrap();
    let on_source: u64 = source
        .sql("shop", "SELECT COUNT(*) FROM probe")
        .parse()
        .unwrap();
    assert!(
        on_target > on_source,
        "writes went on after the swap ({on_target} vs {on_source})"
    );
    // The seeded tables came over whole.
    for table in ["orders", "audit_log"] {
        assert_eq!(
            source.sql("shop", &format!("SELECT COUNT(*) FROM {table}")),
            target.sql("shop", &format!("SELECT COUNT(*) FROM {table}")),
            "{table}"
        );
    }
    // HAProxy sends the application to the new server; it no longer
    // replicates from the old one; the maintenance page is off.
    let through = Command::new("mariadb")
        .args([
            "-h",
            "127.0.0.1",
            "-P",
            &port.to_string(),
            "-u",
            "app",
            "-N",
            "-B",
        ])
        .arg(format!("--password={APP_PASSWORD}"))
        .args(["-e", "SELECT @@server_id"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&through.stdout).trim(), "2");
    assert_eq!(target.sql("mysql", "SHOW ALL SLAVES STATUS"), "");
    assert!(!flag.exists(), "the maintenance page is still on");
    // The application's password is in no output and no journal.
    let run = sandbox.last_run();
    assert!(!output.all().contains(APP_PASSWORD));
    assert!(!sandbox.journal_text(&run).contains(APP_PASSWORD));
    sandbox.run(&["audit", "verify", &run]).expect_code(0);
    // The playbook's canary, writing through HAProxy as the application, lost nothing.
    let verdict = sandbox.canary_proved_nothing_lost();
    eprintln!("mysql reference playbook: canary {verdict}");
}
