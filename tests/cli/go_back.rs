//! The go-back, end to end: `playbooks/postgres-logical-cutover.yaml` cuts
//! over behind HAProxy while an application writes through it; during the
//! soak the new server runs out of connections (the seed incident of a queue
//! table exhausting them). The watch breaches and the run goes back by itself:
//! traffic is on the old server again and every write the application saw
//! acknowledged — on either server — is there. With the reverse replication
//! broken, the go-back refuses instead: exit 4, the lag named, traffic and
//! writes left on the new server.

use std::time::{Duration, Instant};

use crate::lb::haproxy_tcp;
use crate::pg_cluster::{client_bin, Cluster, ClusterOptions};
use crate::pg_seed::{self, APP_ROLE};
use crate::probe::{Ack, Probe};
use crate::support::{Output, Sandbox};

/// The servers' connection limit: the soak's `postgres.health` breaches
/// above 80 % of it (16 client connections).
const MAX_CONNECTIONS: &str = "20";

struct Scene {
    source: Cluster,
    target: Cluster,
    sandbox: Sandbox,
    _haproxy: crate::lb::Daemon,
    port: u16,
    socket: String,
    app_url: String,
}

fn scene() -> Scene {
    // Both small (compare-settings refuses a target smaller than its source).
    let small = || {
        Cluster::start_with(ClusterOptions {
            settings: vec![("max_connections", MAX_CONNECTIONS)],
            ..ClusterOptions::default()
        })
    };
    let (source, target) = (small(), small());
    source.create_db("shopdb");
    target.create_db("shopdb");
    pg_seed::seed(&source, "shopdb", 500);
    pg_seed::roles(&target);
    source.sql(
        "shopdb",
        "CREATE TABLE probe (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())",
    );
    source.sql(
        "shopdb",
        &format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}; GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}; GRANT CREATE ON SCHEMA public TO {APP_ROLE}"),
    );
    let sandbox = Sandbox::new();
    let (haproxy, port, socket) = haproxy_tcp(&sandbox, source.port, target.port);
    let app_url = format!("postgres://{APP_ROLE}@127.0.0.1:{port}/shopdb");
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("playbooks/postgres-logical-cutover.yaml"),
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
        app_url,
    }
}

impl Scene {
    /// Runs the reference playbook (a 2-minute soak) while `during_soak` runs
    /// once the soak has begun; returns the run's output.
    fn cut_over(&self, during_soak: impl FnOnce(&Scene) + Send) -> Output {
        self.sandbox.while_running(
            || {
                self.sandbox.run_with_env(
                    &["run", "pb.yaml"],
                    &[
                        ("SOURCE_URL", &self.source.url("shopdb")),
                        ("TARGET_URL", &self.target.url("shopdb")),
                        ("APP_ROLE", APP_ROLE),
                        ("APP_URL", &self.app_url),
                        ("HAPROXY_SOCKET", &self.socket),
                        ("SOAK", "2m"),
                    ],
                )
            },
            "\"step\":\"soak\",\"event\":\"step_started\"",
            Duration::from_secs(120),
            || during_soak(self),
        )
    }

    /// The server HAProxy sends a new connection to.
    fn serving_port(&self) -> String {
        let through = std::process::Command::new(client_bin("psql"))
            .args([
                "-X",
                "-At",
                "-c",
                "SELECT inet_server_port()",
                &format!("postgres://postgres@127.0.0.1:{}/shopdb", self.port),
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&through.stdout).trim().to_string()
    }
}

/// Waits until the probe has had `count` writes acknowledged by `port`.
fn wait_for_acks_on(probe: &Probe, port: u16, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while probe
        .acks()
        .iter()
        .filter(|a| a.port == port as i32)
        .count()
        < count
    {
        assert!(
            Instant::now() < deadline,
            "the application never wrote {count} rows to port {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Opens idle client connections to `url`, held until dropped: the new server
/// running out of connections.
fn exhaust_connections(url: &str, count: usize) -> Vec<std::process::Child> {
    (0..count)
        .map(|_| {
            std::process::Command::new(client_bin("psql"))
                .args(["-X", "-q", "-c", "SELECT pg_sleep(600)", url])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect()
}

fn release(hogs: Vec<std::process::Child>) {
    for mut hog in hogs {
        let _ = hog.kill();
        let _ = hog.wait();
    }
}

fn ids_present(cluster: &Cluster, acks: &[Ack]) -> usize {
    let ids: Vec<String> = acks.iter().map(|a| a.id.to_string()).collect();
    cluster
        .sql(
            "shopdb",
            &format!("SELECT count(*) FROM probe WHERE id IN ({})", ids.join(",")),
        )
        .parse()
        .unwrap()
}

#[test]
fn a_breach_in_the_soak_goes_back_to_the_old_server_with_every_acknowledged_write() {
    let scene = scene();
    let probe = Probe::start(scene.app_url.clone());
    let output = scene.cut_over(|scene| {
        // The application writes to the new server for a while…
        wait_for_acks_on(&probe, scene.target.port, 30);
        // …then the new server runs out of connections, until the go-back
        // has taken the application away from it.
        let hogs = exhaust_connections(&scene.target.url("shopdb"), 15);
        scene
            .sandbox
            .wait_for_journal("\"event\":\"go_back_started\"", Duration::from_secs(60));
        release(hogs);
    });
    // The application goes on writing on the old server after the go-back.
    wait_for_acks_on(
        &probe,
        scene.source.port,
        probe_count_on(&probe, scene.source.port) + 20,
    );
    let acks = probe.finish();
    output.expect_code(3);
    let all = output.all();
    assert!(all.contains("went back: the go-back ran"), "{all}");
    assert!(all.contains("exceed max_connections_pct"), "{all}");

    // Traffic is on the old server.
    assert_eq!(scene.serving_port(), scene.source.port.to_string());
    // Every write acknowledged on the new server after the swap is on the old one.
    let on_new: Vec<Ack> = acks
        .iter()
        .filter(|a| a.port == scene.target.port as i32)
        .cloned()
        .collect();
    assert!(
        on_new.len() >= 30,
        "{} writes on the new server",
        on_new.len()
    );
    assert_eq!(
        ids_present(&scene.source, &on_new),
        on_new.len(),
        "a write acknowledged on the new server is missing on the old one"
    );
    // And every write the application saw acknowledged, before, during and after.
    assert_eq!(ids_present(&scene.source, &acks), acks.len());
    // Writes resumed on the old server after the go-back, with its sequence
    // past the new server's ids (no duplicate key: they were acknowledged).
    let last_new = on_new.iter().map(|a| a.id).max().unwrap();
    assert!(acks
        .iter()
        .any(|a| a.port == scene.source.port as i32 && a.id > last_new));
    // The reverse replication is gone; the new server is frozen for the application.
    assert_eq!(
        scene
            .source
            .sql("shopdb", "SELECT count(*) FROM pg_subscription"),
        "0"
    );
    assert_eq!(
        scene.target.sql(
            "postgres",
            &format!("SELECT rolcanlogin FROM pg_roles WHERE rolname = '{APP_ROLE}'")
        ),
        "f"
    );
    let events = scene.sandbox.events(&scene.sandbox.last_run());
    assert!(
        events.contains(&"go_back_started".to_string()),
        "{events:?}"
    );
    assert!(
        events.contains(&"go_back_finished".to_string()),
        "{events:?}"
    );
    // The canary proved the same through the application's address.
    scene.sandbox.canary_proved_nothing_lost();
    scene
        .sandbox
        .run(&["audit", "verify", &scene.sandbox.last_run()])
        .expect_code(0);
}

fn probe_count_on(probe: &Probe, port: u16) -> usize {
    probe
        .acks()
        .iter()
        .filter(|a| a.port == port as i32)
        .count()
}

#[test]
fn with_the_reverse_replication_broken_the_go_back_refuses_naming_the_lag() {
    let scene = scene();
    let probe = Probe::start(scene.app_url.clone());
    let output = scene.cut_over(|scene| {
        // The reverse replication breaks, and the new server takes writes the
        // old one will never see…
        scene
            .source
            .sql("shopdb", "ALTER SUBSCRIPTION cutover_reverse DISABLE");
        wait_for_acks_on(&probe, scene.target.port, 30);
        // …then it runs out of connections.
        let hogs = exhaust_connections(&scene.target.url("shopdb"), 15);
        scene
            .sandbox
            .wait_for_journal("\"event\":\"go_back_started\"", Duration::from_secs(60));
        release(hogs);
    });
    let before = probe_count_on(&probe, scene.target.port);
    // The new server serves again after the refusal: the application writes on.
    wait_for_acks_on(&probe, scene.target.port, before + 20);
    let acks = probe.finish();
    output.expect_code(4);
    let all = output.all();
    assert!(all.contains("the go-back was refused"), "{all}");
    assert!(
        all.contains("subscription `cutover_reverse` is disabled"),
        "{all}"
    );
    assert!(all.contains("of WAL behind the source"), "{all}");
    assert!(all.contains("undone: `freeze-new`"), "{all}");
    // Traffic stays on the new server, which has every acknowledged write.
    assert_eq!(scene.serving_port(), scene.target.port.to_string());
    assert_eq!(ids_present(&scene.target, &acks), acks.len());
    let finished = scene
        .sandbox
        .journal(&scene.sandbox.last_run())
        .into_iter()
        .find(|r| r["event"] == "go_back_finished")
        .expect("go_back_finished is journaled");
    assert_eq!(finished["data"]["went_back"], false, "{finished}");
    assert_eq!(
        finished["data"]["failed_step"], "reverse-catch-up",
        "{finished}"
    );
}

/// A playbook of shell steps: `traffic` holds where traffic is, `log` what the
/// go-back did; the soak breaches once the file `breach` exists, and the
/// reverse catch-up fails while `broken` exists (it sleeps `catch_up_sleep` s).
fn shell_playbook(catch_up_sleep: u32) -> String {
    format!(
        r#"name: go-back-shell
steps:
  - id: freeze
    action: shell
    with: {{ run: "echo frozen > old" }}
    rollback: {{ action: shell, with: {{ run: "echo thawed > old" }} }}
  - id: swap
    action: shell
    with: {{ run: "echo new > traffic" }}
    point_of_no_return: true
  - id: soak
    action: watch
    with:
      for: 30s
      every: 100ms
      on_breach: go_back
      checks:
        - action: sql.check
          with: {{ url: "postgres://nobody@127.0.0.1:1/x?connect_timeout=1", query: "SELECT 1" }}
    rollback: none
go_back:
  - id: freeze-new
    action: shell
    with: {{ run: "echo freeze-new >> log" }}
    rollback: {{ action: shell, with: {{ run: "echo thaw-new >> log" }} }}
  - id: reverse-catch-up
    action: shell
    with: {{ run: "sleep {catch_up_sleep}; if [ -e broken ]; then echo 'lag 4 kB'; exit 1; fi; echo caught-up >> log" }}
  - id: swap-back
    action: shell
    with: {{ run: "echo old > traffic" }}
    point_of_no_return: true
  - id: thaw-old
    action: shell
    with: {{ run: "echo thaw-old >> log" }}
"#
    )
}

#[test]
fn validate_names_what_a_go_back_needs_at_its_position() {
    let sandbox = Sandbox::new();
    let text = "name: v\nsteps:\n  - id: swap\n    action: wait\n    with: { duration: 1s }\n    point_of_no_return: true\n  - id: soak\n    action: watch\n    with:\n      for: 1m\n      on_breach: go_back\n      checks: [{ action: tcp.check, with: { address: \"127.0.0.1:1\" } }]\n";
    sandbox.write("none.yaml", text);
    let out = sandbox.run(&["validate", "none.yaml"]);
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("none.yaml:11:18: error: `soak` goes back on a breach, and the playbook has no `go_back:`"),
        "{}",
        out.stderr
    );
    let with_checkpoint = format!(
        "{text}go_back:\n  - checkpoint: x\n  - id: swap\n    action: wait\n    with: {{ duration: 1s }}\n"
    );
    sandbox.write("bad.yaml", &with_checkpoint);
    let out = sandbox.run(&["validate", "bad.yaml"]);
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("bad.yaml:14:17: error: a checkpoint cannot be part of `go_back`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("bad.yaml:15:9: error: duplicate step id `swap`"),
        "{}",
        out.stderr
    );
    // A go-back no step can reach is valid, with a warning.
    sandbox.write(
        "unreachable.yaml",
        "name: u\nsteps:\n  - id: a\n    action: wait\n    with: { duration: 1s }\ngo_back:\n  - id: b\n    action: wait\n    with: { duration: 1s }\n",
    );
    let out = sandbox.run(&["validate", "unreachable.yaml"]);
    out.expect_code(0);
    assert!(
        out.all()
            .contains("`go_back` runs only past the point of no return"),
        "{}",
        out.all()
    );
}

#[test]
fn a_dry_run_rehearses_the_go_back_and_its_refusal() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", &shell_playbook(0));
    // A breach of the soak: the go-back runs, simulated.
    let out = sandbox.run(&["run", "--dry-run", "--fail-at", "soak", "pb.yaml"]);
    out.expect_code(3);
    let events = sandbox.events(&sandbox.last_run());
    for step in ["freeze-new", "reverse-catch-up", "swap-back", "thaw-old"] {
        assert!(
            events.contains(&format!("step_finished:{step}")),
            "{step}: {events:?}"
        );
    }
    assert!(
        !sandbox.path().join("traffic").exists(),
        "a dry run touched something"
    );
    // A go-back step failing on purpose: `cutover rollback` of the finished
    // dry run refuses, and undoes the freeze of the new server.
    let out = sandbox.run(&[
        "run",
        "--dry-run",
        "--fail-at",
        "reverse-catch-up",
        "pb.yaml",
    ]);
    out.expect_code(0);
    let run = sandbox.last_run();
    let out = sandbox.run(&["rollback", &run]);
    out.expect_code(4);
    assert!(
        out.all().contains("the go-back was refused"),
        "{}",
        out.all()
    );
    let events = sandbox.events(&run);
    assert!(
        events.contains(&"compensation_finished:freeze-new".to_string()),
        "{events:?}"
    );
    assert!(
        !events.contains(&"step_started:swap-back".to_string()),
        "{events:?}"
    );
}

#[test]
fn a_refused_go_back_changes_nothing_and_rollback_goes_back_once_fixed() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", &shell_playbook(0));
    sandbox.write("broken", "");
    let out = sandbox.run(&["run", "pb.yaml"]);
    out.expect_code(4);
    assert!(out.all().contains("lag 4 kB"), "{}", out.all());
    assert_eq!(sandbox.read("traffic").trim(), "new");
    assert_eq!(sandbox.read("log"), "freeze-new\nthaw-new\n");
    // The operator repairs the reverse replication and goes back.
    std::fs::remove_file(sandbox.path().join("broken")).unwrap();
    let run = sandbox.last_run();
    let out = sandbox.run(&["rollback", &run]);
    out.expect_code(3);
    assert!(
        out.all().contains("went back: the go-back ran"),
        "{}",
        out.all()
    );
    assert_eq!(sandbox.read("traffic").trim(), "old");
    assert_eq!(
        sandbox.read("log"),
        "freeze-new\nthaw-new\nfreeze-new\ncaught-up\nthaw-old\n"
    );
    // Gone back once is gone back.
    let out = sandbox.run(&["rollback", &run]);
    out.expect_code(2);
    assert!(out.stderr.contains("already went back"), "{}", out.stderr);
    sandbox.run(&["audit", "verify", &run]).expect_code(0);
}

#[test]
fn a_go_back_killed_mid_way_is_finished_by_resume() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", &shell_playbook(2));
    let mut child = sandbox.spawn(&["run", "pb.yaml"]);
    sandbox.wait_for_journal(
        "\"step\":\"reverse-catch-up\",\"event\":\"step_started\"",
        Duration::from_secs(30),
    );
    crate::support::kill9(&mut child);
    let run = sandbox.last_run();
    // The catch-up was in flight and is not idempotent: the operator decides.
    let out = sandbox.run(&["resume", &run]);
    out.expect_code(4);
    assert!(
        out.stderr.contains("--rerun reverse-catch-up"),
        "{}",
        out.stderr
    );
    let out = sandbox.run(&["resume", &run, "--rerun", "reverse-catch-up"]);
    out.expect_code(3);
    assert_eq!(sandbox.read("traffic").trim(), "old");
    assert_eq!(sandbox.read("log"), "freeze-new\ncaught-up\nthaw-old\n");
    sandbox.run(&["audit", "verify", &run]).expect_code(0);
}
