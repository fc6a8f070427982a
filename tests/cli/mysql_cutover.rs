//! The MySQL reference playbook end to end: `playbooks/mysql-replica-cutover.yaml`
//! moves a MariaDB database to a new server while an application writes
//! through HAProxy — copy, replication, maintenance page, freeze, catch up,
//! verify, forward replication replaced by reverse replication, swap, smoke,
//! soak. Every write the application saw acknowledged must be on the new
//! server, and the application's address must reach it. And when the soak
//! breaches (the new server runs out of connections), the playbook goes back
//! by itself: traffic returns to the old server with every write the new one
//! acknowledged after the swap.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::lb::{haproxy_tcp, Daemon};
use crate::maria::Maria;
use crate::support::{Output, Sandbox};

const APP_PASSWORD: &str = "app-secret-4711";

/// One write the application saw acknowledged, and by which server's port.
#[derive(Debug, Clone, Copy)]
struct Ack {
    id: u64,
    port: u16,
}

/// The application: inserts one row at a time through HAProxy, each in its
/// own connection (as a pool would reconnect), and keeps the ids the server
/// acknowledged with the server that acknowledged them.
struct Writer {
    stop: Arc<AtomicBool>,
    acks: Arc<Mutex<Vec<Ack>>>,
    /// The last refusal, for assertion messages.
    refused: Arc<Mutex<String>>,
    thread: JoinHandle<()>,
}

impl Writer {
    fn start(port: u16) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let acks = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(Mutex::new(String::new()));
        let (flag, sink, why) = (stop.clone(), acks.clone(), refused.clone());
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let output = app_client(port)
                    .args([
                        "-D",
                        "shop",
                        "-e",
                        "INSERT INTO probe (at) VALUES (NOW(6)); SELECT LAST_INSERT_ID(), @@port",
                    ])
                    .output()
                    .unwrap();
                let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
                let ack = text.split_once('\t').and_then(|(id, port)| {
                    Some(Ack {
                        id: id.parse().ok()?,
                        port: port.parse().ok()?,
                    })
                });
                match ack.filter(|_| output.status.success()) {
                    Some(ack) => sink.lock().unwrap().push(ack),
                    None => {
                        *why.lock().unwrap() = String::from_utf8_lossy(&output.stderr).into();
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            }
        });
        Writer {
            stop,
            acks,
            refused,
            thread,
        }
    }

    fn acks(&self) -> Vec<Ack> {
        self.acks.lock().unwrap().clone()
    }

    fn finish(self) -> Vec<Ack> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        let acks = self.acks.lock().unwrap().clone();
        acks
    }
}

/// The `mariadb` client as the application, at `port`.
fn app_client(port: u16) -> Command {
    let mut command = Command::new("mariadb");
    command
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
        .arg(format!("--password={APP_PASSWORD}"));
    command
}

/// Two servers with binary logs, the application writing through HAProxy to
/// the old one, and the reference playbook in a sandbox.
struct Scene {
    source: Maria,
    target: Maria,
    sandbox: Sandbox,
    _haproxy: Daemon,
    port: u16,
    socket: String,
    writer: Writer,
}

/// `options` go to both servers (`mysql.compare_settings` wants the new one
/// at least as large).
fn scene(options: &[&str]) -> Scene {
    let start = |server_id: &str| {
        let mut all = vec!["--log-bin=binlog", "--binlog-format=ROW", server_id];
        all.extend_from_slice(options);
        Maria::start_with(&all)
    };
    let source = start("--server-id=1");
    let target = start("--server-id=2");
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
    let (haproxy, port, socket) = haproxy_tcp(&sandbox, source.port, target.port);
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
    Scene {
        source,
        target,
        sandbox,
        _haproxy: haproxy,
        port,
        socket,
        writer,
    }
}

impl Scene {
    fn flag(&self) -> std::path::PathBuf {
        self.sandbox.path().join("maintenance.on")
    }

    fn run(&self, soak: &str) -> Output {
        let app_url = format!("mysql://app:{APP_PASSWORD}@127.0.0.1:{}/shop", self.port);
        self.sandbox.run_with_env(
            &["run", "pb.yaml"],
            &[
                ("SOURCE_URL", &self.source.url("shop")),
                ("TARGET_URL", &self.target.url("shop")),
                ("APP_URL", &app_url),
                ("HAPROXY_SOCKET", &self.socket),
                ("MAINTENANCE_FLAG", &self.flag().display().to_string()),
                ("NEW_SERVER_ID", "2"),
                ("SOAK", soak),
            ],
        )
    }

    /// Runs the playbook with a soak of `soak`; `during_soak` runs once it has begun.
    fn cut_over(&self, soak: &str, during_soak: impl FnOnce(&Scene) + Send) -> Output {
        self.sandbox.while_running(
            || self.run(soak),
            "\"step\":\"soak\",\"event\":\"step_started\"",
            Duration::from_secs(180),
            || during_soak(self),
        )
    }

    /// The server_id a new connection through HAProxy reaches.
    fn serving(&self) -> String {
        let through = app_client(self.port)
            .args(["-e", "SELECT @@server_id"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&through.stdout).trim().to_string()
    }

    /// The new server runs out of connections (a scene started with
    /// `--max-connections=40`: 33 idle clients are above the soak's 80%, and
    /// leave room for the health check's and the go-back's own connections),
    /// until the go-back has begun.
    fn breach(&self) {
        let hogs = exhaust_connections(&self.target, 33);
        self.sandbox
            .wait_for_journal("\"event\":\"go_back_started\"", Duration::from_secs(60));
        release(hogs);
    }

    /// Waits until `count` writes were acknowledged by the server at `port`.
    fn wait_for_acks_on(&self, port: u16, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.writer.acks().iter().filter(|a| a.port == port).count() < count {
            assert!(
                Instant::now() < deadline,
                "the application never wrote {count} rows to port {port} (last refusal: {})",
                self.writer.refused.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// How many of `acks` are rows of `server`.
fn present(server: &Maria, acks: &[Ack]) -> usize {
    let ids: Vec<String> = acks.iter().map(|a| a.id.to_string()).collect();
    server
        .sql(
            "shop",
            &format!("SELECT COUNT(*) FROM probe WHERE id IN ({})", ids.join(",")),
        )
        .parse()
        .unwrap()
}

/// Idle client connections to `server`, held until killed: a queue worker
/// pool that runs the new server out of connections.
fn exhaust_connections(server: &Maria, count: usize) -> Vec<Child> {
    (0..count)
        .map(|_| {
            app_client(server.port)
                .args(["-e", "SELECT SLEEP(600)"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect()
}

fn release(hogs: Vec<Child>) {
    for mut hog in hogs {
        let _ = hog.kill();
        let _ = hog.wait();
    }
}

#[test]
fn the_mysql_reference_playbook_moves_the_database_under_writes() {
    let scene = scene(&[]);
    let output = scene.run("2s");
    // Let the application write to the new server for a moment.
    std::thread::sleep(Duration::from_millis(500));
    let Scene {
        source,
        target,
        sandbox,
        writer,
        ..
    } = &scene;
    let acknowledged: Vec<Ack> = writer.acks();
    assert_eq!(
        output.code,
        0,
        "{}\n--- target log:\n{}",
        output.all(),
        target.error_log()
    );
    assert!(
        output.all().contains("the application stays locked out of"),
        "the reverse replication ran inside the freeze: {}",
        output.all()
    );

    // Every write the application saw acknowledged is on the new server.
    assert!(
        acknowledged.len() > 20,
        "the application wrote {} rows",
        acknowledged.len()
    );
    assert_eq!(
        present(target, &acknowledged),
        acknowledged.len(),
        "an acknowledged write is missing on the new server"
    );
    // The application writes to the new server now.
    let count = |server: &Maria| -> u64 {
        server
            .sql("shop", "SELECT COUNT(*) FROM probe")
            .parse()
            .unwrap()
    };
    assert!(
        count(target) > count(source),
        "writes went on after the swap ({} vs {})",
        count(target),
        count(source)
    );
    // The seeded tables came over whole.
    for table in ["orders", "audit_log"] {
        assert_eq!(
            source.sql("shop", &format!("SELECT COUNT(*) FROM {table}")),
            target.sql("shop", &format!("SELECT COUNT(*) FROM {table}")),
            "{table}"
        );
    }
    // HAProxy sends the application to the new server; neither server
    // replicates from the other any more (the soak passed, the way back was
    // given up); the maintenance page is off.
    assert_eq!(scene.serving(), "2");
    assert_eq!(target.sql("mysql", "SHOW ALL SLAVES STATUS"), "");
    assert_eq!(source.sql("mysql", "SHOW ALL SLAVES STATUS"), "");
    assert!(!scene.flag().exists(), "the maintenance page is still on");
    // The application's password is in no output and no journal.
    let run = sandbox.last_run();
    assert!(!output.all().contains(APP_PASSWORD));
    assert!(!sandbox.journal_text(&run).contains(APP_PASSWORD));
    sandbox.run(&["audit", "verify", &run]).expect_code(0);
    // The playbook's canary, writing through HAProxy as the application, lost nothing.
    let verdict = sandbox.canary_proved_nothing_lost();
    eprintln!("mysql reference playbook: canary {verdict}");
}

#[test]
fn a_soak_breach_goes_back_to_the_old_server_with_every_write_the_new_one_acknowledged() {
    let scene = scene(&["--max-connections=40"]);
    let (old_port, new_port) = (scene.source.port, scene.target.port);
    let output = scene.cut_over("2m", |scene| {
        // The application writes to the new server for a while…
        scene.wait_for_acks_on(new_port, 30);
        // …then the new server runs out of connections.
        scene.breach();
    });
    output.expect_code(3);
    let all = output.all();
    assert!(all.contains("went back: the go-back ran"), "{all}");
    assert!(all.contains("exceed max_connections_pct"), "{all}");
    // The application goes on writing on the old server after the go-back.
    let before = scene
        .writer
        .acks()
        .iter()
        .filter(|a| a.port == old_port)
        .count();
    scene.wait_for_acks_on(old_port, before + 20);
    let serving = scene.serving();
    let Scene {
        source,
        target,
        sandbox,
        writer,
        ..
    } = scene;
    let acks = writer.finish();

    // Traffic is on the old server, which takes the application's writes.
    assert_eq!(serving, "1");
    // Every write acknowledged on the new server after the swap is on the old one.
    let on_new: Vec<Ack> = acks
        .iter()
        .copied()
        .filter(|a| a.port == new_port)
        .collect();
    assert!(
        on_new.len() >= 30,
        "{} writes on the new server",
        on_new.len()
    );
    assert_eq!(
        present(&source, &on_new),
        on_new.len(),
        "a write the new server acknowledged is missing on the old one"
    );
    // And every other acknowledged write too.
    assert_eq!(
        present(&source, &acks),
        acks.len(),
        "an acknowledged write is missing"
    );
    // The go-back froze the new server and dropped the reverse channel.
    assert_eq!(target.sql("mysql", "SELECT @@GLOBAL.read_only"), "1");
    assert_eq!(source.sql("mysql", "SHOW ALL SLAVES STATUS"), "");
    assert_eq!(source.sql("mysql", "SELECT @@GLOBAL.read_only"), "0");
    let run = sandbox.last_run();
    sandbox.run(&["audit", "verify", &run]).expect_code(0);
    let verdict = sandbox.canary_proved_nothing_lost();
    let at = |event: &str| -> String {
        sandbox
            .journal(&run)
            .into_iter()
            .find(|r| r["event"] == event)
            .map(|r| r["ts"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    let retries = sandbox
        .events(&run)
        .iter()
        .filter(|e| e.starts_with("step_retrying:"))
        .cloned()
        .collect::<Vec<_>>();
    eprintln!(
        "mysql go-back: {} writes on the new server came back; go-back {} → {} (retries: {retries:?}); canary {verdict}",
        on_new.len(),
        at("go_back_started"),
        at("go_back_finished")
    );
}

#[test]
fn a_go_back_with_the_reverse_channel_broken_refuses_names_the_lag_and_leaves_traffic_on_the_new_server(
) {
    let scene = scene(&["--max-connections=40"]);
    let new_port = scene.target.port;
    let output = scene.cut_over("2m", |scene| {
        // The reverse channel stops; the new server keeps taking writes that
        // no longer reach the old one.
        scene.source.sql("mysql", "STOP SLAVE 'cutover_reverse'");
        scene.wait_for_acks_on(new_port, 30);
        scene.breach();
    });
    let serving = scene.serving();
    let Scene {
        source,
        target,
        writer,
        ..
    } = scene;
    let acks = writer.finish();
    output.expect_code(4);
    let all = output.all();
    assert!(
        all.contains("thread of channel `cutover_reverse` is stopped"),
        "{all}"
    );
    assert!(all.contains("transaction(s) behind by GTID"), "{all}");
    assert!(all.contains("of binary log behind"), "{all}");
    // Nothing was lost by going back: traffic stayed on the new server,
    // thawed again, with every write it acknowledged.
    assert_eq!(serving, "2");
    assert_eq!(target.sql("mysql", "SELECT @@GLOBAL.read_only"), "0");
    let on_new: Vec<Ack> = acks
        .iter()
        .copied()
        .filter(|a| a.port == new_port)
        .collect();
    assert_eq!(present(&target, &on_new), on_new.len());
    assert!(
        present(&source, &on_new) < on_new.len(),
        "the old server lacks the writes since the channel stopped"
    );
    assert_eq!(source.sql("mysql", "SELECT @@GLOBAL.read_only"), "1");
}
