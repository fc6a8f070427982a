//! A step of any family that fails or is interrupted part-way is undone as
//! far as it got, against the real thing: HAProxy's servers back as they were
//! (read from its runtime socket), nginx's upstream file back byte for byte, a
//! snapshot's half-written archive gone — and the run says what it undid.
//! Also the deadlines: a listener that accepts and never answers fails the
//! step within its timeout, with the source thawed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::deadlines::hung_listener;
use crate::maria::Maria;
use crate::pg_cluster::{client_bin, playbook, Cluster};
use crate::pg_seed::APP_ROLE;
use crate::pgbouncer::PgBouncer;
use crate::support::{kill9, signal, Sandbox};
use crate::traffic::{nginx, Backend};

/// One command on HAProxy's runtime socket, its whole answer.
fn haproxy_command(socket: &str, command: &str) -> String {
    let mut stream = UnixStream::connect(socket).expect("the runtime socket");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(format!("{command}\n").as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// `srv_admin_state` of each server of backend `db`, from `show servers state`
/// (bit 0x01: maintenance forced, 0x08: drain forced).
fn admin_states(socket: &str) -> Vec<(String, u32)> {
    haproxy_command(socket, "show servers state db")
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state …
            Some((fields.get(3)?.to_string(), fields.get(6)?.parse().ok()?))
        })
        .collect()
}

fn admin_state(socket: &str, server: &str) -> u32 {
    admin_states(socket)
        .into_iter()
        .find(|(name, _)| name == server)
        .unwrap_or_else(|| panic!("no server {server}: {:?}", admin_states(socket)))
        .1
}

/// A run whose `haproxy.swap` drains `old` (a client's idle connection holds
/// the drain): the HAProxy, its socket, the held client and the child.
fn swap_under_way(
    sandbox: &Sandbox,
) -> (crate::lb::Daemon, String, TcpStream, std::process::Child) {
    let (old, new) = (hung_listener(), hung_listener());
    let (haproxy, port, socket) = crate::lb::haproxy_tcp(sandbox, old, new);
    assert_eq!(
        admin_state(&socket, "old"),
        0,
        "{:?}",
        admin_states(&socket)
    );
    let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sandbox.write(
        "pb.yaml",
        &format!(
            "name: swap\nsteps:\n  - id: swap\n    action: haproxy.swap\n    with: {{ socket: \"{socket}\", backend: db, from: [old], to: [new], drain: 60s }}\n"
        ),
    );
    let child = sandbox
        .command(&["run", "pb.yaml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while admin_state(&socket, "old") & 0x08 == 0 {
        assert!(
            Instant::now() < deadline,
            "never drained: {:?}",
            admin_states(&socket)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        admin_state(&socket, "new") & 0x01,
        0,
        "new is ready mid-swap"
    );
    (haproxy, socket, client, child)
}

/// As before the swap: `old` serving (no drain, no maintenance), `new` in maintenance.
fn assert_servers_back(socket: &str) {
    assert_eq!(admin_state(socket, "old"), 0, "{:?}", admin_states(socket));
    assert_ne!(
        admin_state(socket, "new") & 0x01,
        0,
        "{:?}",
        admin_states(socket)
    );
}

#[test]
fn kill_9_during_a_haproxy_swap_s_drain_then_rollback_puts_the_servers_back() {
    let sandbox = Sandbox::new();
    let (_haproxy, socket, _client, mut child) = swap_under_way(&sandbox);
    kill9(&mut child);
    let run = sandbox.last_run();
    let out = sandbox.run(&["rollback", &run]);
    out.expect_code(3);
    assert!(out.all().contains("undone: `swap`"), "{}", out.all());
    assert_servers_back(&socket);
    sandbox.run(&["audit", "verify", &run]).expect_code(0);
}

#[test]
fn a_haproxy_swap_interrupted_during_its_drain_puts_the_servers_back() {
    let sandbox = Sandbox::new();
    let (_haproxy, socket, _client, child) = swap_under_way(&sandbox);
    signal(&child, 15);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("undone: `swap`"), "{stderr}");
    assert_servers_back(&socket);
}

#[test]
fn an_nginx_swap_whose_reload_fails_leaves_the_upstream_file_byte_for_byte() {
    let sandbox = Sandbox::new();
    let (old, new) = (Backend::start("old"), Backend::start("new"));
    let (daemon, _port, command) = nginx(&sandbox, old.port);
    // Comments and spacing an edit could lose.
    let original = format!(
        "# the shop's upstream\nupstream app {{\n    server 127.0.0.1:{};   # primary\n    keepalive 4;\n}}\n",
        old.port
    );
    sandbox.write("nginx/upstream.conf", &original);
    // Stopped: `nginx -t` passes, `nginx -s reload` finds no master process.
    drop(daemon);
    sandbox.write(
        "pb.yaml",
        &format!(
            "name: edge\nsteps:\n  - id: swap\n    action: nginx.swap\n    with: {{ upstream_file: nginx/upstream.conf, upstream: app, servers: [\"127.0.0.1:{}\"], nginx: \"{command}\" }}\n",
            new.port
        ),
    );
    let out = sandbox.run(&["run", "pb.yaml"]);
    out.expect_code(3);
    let all = out.all();
    assert!(all.contains("nginx did not reload"), "{all}");
    assert!(all.contains("undone: `swap`"), "{all}");
    assert_eq!(sandbox.read("nginx/upstream.conf"), original);
    assert!(all.contains("nothing to restore"), "{all}");
    // No backup of a swap that changed nothing is left beside the file.
    let left: Vec<String> = std::fs::read_dir(sandbox.path().join("nginx"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".before-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn mysql_catch_up_against_a_hung_target_fails_within_its_timeout_and_the_source_is_thawed() {
    let source = Maria::start_primary();
    let port = hung_listener();
    let target = format!("mysql://root@127.0.0.1:{port}/mysql");
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &playbook(
            "hung-mysql-catch-up",
            &[("source", &source.url("mysql")), ("target", &target)],
            "  - id: freeze\n    action: mysql.read_only\n    with: { url: \"${{ vars.source }}\" }\n  - id: catch-up\n    action: mysql.catch_up\n    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\", timeout: 5s }\n",
        ),
    );
    let started = Instant::now();
    let out = sandbox.run(&["run", "pb.yaml"]);
    let took = started.elapsed();
    eprintln!("mysql.catch_up against a hung target failed after {took:?}");
    out.expect_code(3);
    assert!(took >= Duration::from_secs(4), "gave up too soon: {took:?}");
    // Before the URL's default `connect_timeout` of 10 s: the action's own
    // `timeout` holds while the connection hangs.
    assert!(took < Duration::from_secs(9), "took {took:?}");
    let all = out.all();
    assert!(all.contains("within the `timeout` of 5"), "{all}");
    assert!(all.contains("undone: `freeze`"), "{all}");
    assert_eq!(source.sql("", "SELECT @@read_only"), "0");
}

#[test]
fn http_check_against_a_hung_listener_fails_within_its_timeout() {
    let port = hung_listener();
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &format!(
            "name: hung-http\nsteps:\n  - id: check\n    action: http.check\n    with: {{ url: \"http://127.0.0.1:{port}/health\", timeout: 2s }}\n"
        ),
    );
    let started = Instant::now();
    let out = sandbox.run(&["run", "pb.yaml"]);
    let took = started.elapsed();
    eprintln!("http.check against a hung listener failed after {took:?}");
    out.expect_code(3);
    assert!(
        took >= Duration::from_millis(1900),
        "gave up too soon: {took:?}"
    );
    assert!(took < Duration::from_secs(8), "took {took:?}");
}

/// Waits until the snapshot's hidden partial file exists: the dump is under way.
fn wait_for_partial(sandbox: &Sandbox, partial: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sandbox.path().join(partial).exists() {
        assert!(Instant::now() < deadline, "the dump never started");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// kill -9 of `run` while its snapshot dumps (held up by a lock another
/// session holds), then `cutover rollback`: the half-written archive is
/// removed, the rollback names it, and no archive is left under either name.
fn kill_9_during_a_snapshot_then_rollback(sandbox: &Sandbox, hold: impl FnOnce() + Send + 'static) {
    std::thread::spawn(hold);
    let mut child = sandbox.spawn(&["run", "pb.yaml"]);
    wait_for_partial(sandbox, ".shop.dump.partial");
    // The dump is blocked on the lock: it cannot finish before the kill.
    std::thread::sleep(Duration::from_millis(300));
    kill9(&mut child);
    assert!(sandbox.path().join(".shop.dump.partial").exists());
    let run = sandbox.last_run();
    let out = sandbox.run(&["rollback", &run]);
    out.expect_code(3);
    let all = out.all();
    assert!(all.contains("removed the half-written archive"), "{all}");
    let finished = sandbox
        .journal(&run)
        .iter()
        .rfind(|r| r["event"] == "run_finished")
        .map(|r| {
            r["data"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .unwrap_or_default();
    assert!(
        finished.contains("undone: `snapshot` (deleted") && finished.contains(".shop.dump.partial"),
        "{finished}"
    );
    assert!(!sandbox.path().join(".shop.dump.partial").exists());
    assert!(!sandbox.path().join("shop.dump").exists());
    sandbox.run(&["audit", "verify", &run]).expect_code(0);
}

#[test]
fn kill_9_during_a_postgres_snapshot_then_rollback_removes_the_partial_archive() {
    let server = Cluster::start();
    server.create_db("shop");
    server.sql(
        "shop",
        "CREATE TABLE items AS SELECT i AS id FROM generate_series(1, 1000) i",
    );
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &playbook(
            "snapshot-killed",
            &[("db", &server.url("shop"))],
            "  - id: snapshot\n    action: postgres.snapshot\n    with: { url: \"${{ vars.db }}\", to: shop.dump }\n",
        ),
    );
    let url = server.url("shop");
    kill_9_during_a_snapshot_then_rollback(&sandbox, move || {
        let _ = std::process::Command::new(crate::pg_cluster::client_bin("psql"))
            .args(["-X", "-q", &url, "-c"])
            .arg("BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(20); COMMIT")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    });
}

#[test]
fn kill_9_during_a_mysql_snapshot_then_rollback_removes_the_partial_archive() {
    let server = Maria::start();
    server.seed("shop", 1000);
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &playbook(
            "snapshot-killed",
            &[("db", &server.url("shop"))],
            "  - id: snapshot\n    action: mysql.snapshot\n    with: { url: \"${{ vars.db }}\", to: shop.dump }\n",
        ),
    );
    let port = server.port;
    kill_9_during_a_snapshot_then_rollback(&sandbox, move || {
        let _ = std::process::Command::new("mariadb")
            .args([
                "-h",
                "127.0.0.1",
                "-P",
                &port.to_string(),
                "-u",
                "root",
                "-D",
                "shop",
                "-e",
            ])
            .arg("LOCK TABLES orders WRITE; SELECT SLEEP(20)")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    });
}

#[test]
fn a_pgbouncer_switch_whose_pause_times_out_leaves_the_entry_and_resumes() {
    let (old, new) = (Cluster::start(), Cluster::start());
    old.create_db("shop");
    new.create_db("shop");
    let sandbox = Sandbox::new();
    let bouncer = PgBouncer::start(&sandbox, "shop", &old, &["postgres"]);
    let original = std::fs::read_to_string(&bouncer.ini).unwrap();
    // A client's open transaction holds PAUSE past the switch's `timeout`.
    let mut open = std::process::Command::new(client_bin("psql"))
        .args([
            "-X",
            "-q",
            "-c",
            "BEGIN",
            "-c",
            "SELECT 1",
            "-c",
            "SELECT pg_sleep(30)",
        ])
        .arg(bouncer.url("postgres", "shop"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    sandbox.write(
        "pb.yaml",
        &format!(
            "name: switch\nsteps:\n  - id: switch\n    action: pgbouncer.switch\n    with: {{ admin: \"{}\", config: pgbouncer.ini, database: shop, to: {{ host: 127.0.0.1, port: {} }}, timeout: 2s }}\n",
            bouncer.admin_url(),
            new.port
        ),
    );
    let started = Instant::now();
    let out = sandbox.run(&["run", "pb.yaml"]);
    let took = started.elapsed();
    let _ = open.kill();
    let _ = open.wait();
    out.expect_code(3);
    let all = out.all();
    assert!(all.contains("could not be paused within 2 s"), "{all}");
    assert!(all.contains("undone: `switch`"), "{all}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert_eq!(std::fs::read_to_string(&bouncer.ini).unwrap(), original);
    assert!(!bouncer.paused("shop"), "resumed");
    assert_eq!(bouncer.query("postgres", "shop", "SELECT 1").unwrap(), "1");
    assert!(
        bouncer
            .show("DATABASES")
            .contains(&format!("|127.0.0.1|{}|", old.port)),
        "{}",
        bouncer.show("DATABASES")
    );
}

#[test]
fn a_target_stopped_during_postgres_catch_up_fails_the_step_in_seconds_and_thaws() {
    let (source, mut target) = (Cluster::start(), Cluster::start());
    for cluster in [&source, &target] {
        cluster.create_db("shop");
        cluster.sql("shop", "CREATE TABLE items (id int PRIMARY KEY, v text)");
    }
    source.sql("postgres", &format!("CREATE ROLE {APP_ROLE} LOGIN"));
    let vars = [
        ("source", source.url("shop")),
        ("target", target.url("shop")),
    ];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let sandbox = Sandbox::new();
    sandbox.write(
        "replicate.yaml",
        &playbook(
            "replicate",
            &vars,
            "  - id: replicate\n    action: postgres.replicate\n    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\" }\n",
        ),
    );
    sandbox.run(&["run", "replicate.yaml"]).expect_code(0);
    // The target applies a row a second from now on: catch-up has a while to wait.
    target.sql(
        "shop",
        "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(1); RETURN NEW; END $$;
         CREATE TRIGGER slow BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION slow();
         ALTER TABLE items ENABLE ALWAYS TRIGGER slow;",
    );
    source.sql(
        "shop",
        "INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 120) i",
    );
    // The test clusters commit asynchronously (`synchronous_commit=off`):
    // wait until the rows are in the WAL the source reports as written
    // (`pg_current_wal_lsn`, catch-up's goal), or catch-up has nothing to wait for.
    let inserted = source.sql("shop", "SELECT pg_current_wal_insert_lsn()");
    let deadline = Instant::now() + Duration::from_secs(10);
    while source.sql(
        "shop",
        &format!("SELECT pg_current_wal_lsn() >= '{inserted}'::pg_lsn"),
    ) != "t"
    {
        assert!(Instant::now() < deadline, "the rows never reached the WAL");
        std::thread::sleep(Duration::from_millis(50));
    }
    sandbox.write(
        "pb.yaml",
        &playbook(
            "catch-up",
            &vars,
            &format!(
                "  - id: freeze\n    action: postgres.read_only\n    with: {{ url: \"${{{{ vars.source }}}}\", roles: [{APP_ROLE}] }}\n  - id: catch-up\n    action: postgres.catch_up\n    with: {{ source: \"${{{{ vars.source }}}}\", target: \"${{{{ vars.target }}}}\", timeout: 5m }}\n"
            ),
        ),
    );
    let child = sandbox
        .command(&["run", "pb.yaml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Catch-up under way: it has connected to both and waits on the slot.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let run = sandbox.run_ids().last().cloned();
        let waiting = run.is_some_and(|run| {
            sandbox
                .journal(&run)
                .iter()
                .any(|r| r["event"] == "step_started" && r["step"] == "catch-up")
        });
        if waiting {
            break;
        }
        assert!(Instant::now() < deadline, "catch-up never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    target.stop();
    let stopped = Instant::now();
    let output = child.wait_with_output().unwrap();
    let took = stopped.elapsed();
    eprintln!("postgres.catch_up failed {took:?} after its target stopped");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(3), "{all}");
    assert!(took < Duration::from_secs(20), "took {took:?}: {all}");
    assert!(all.contains("no subscriber has been connected"), "{all}");
    assert!(all.contains("undone: `freeze`"), "{all}");
    assert_eq!(
        source.sql("shop", "SHOW default_transaction_read_only"),
        "off"
    );
    source
        .try_sql(APP_ROLE, "shop", "SELECT 1")
        .expect("the application's role logs in again");
}

#[test]
fn kill_9_while_mysql_replicate_starts_its_channel_then_rollback_leaves_no_channel() {
    use crate::mysql_replicate::{
        channels, dump, playbook as repl_playbook, record_copy, repl_user, servers, REPLICATE,
        REPL_PASSWORD,
    };
    let (source, target) = servers(true);
    source.seed("shop", 20);
    repl_user(&source);
    let snapshot = dump(&source, &target, &["--databases", "shop"], true).unwrap();
    record_copy(&source, &target, Some(&snapshot), Some(&snapshot));
    // The channel points at a listener that never answers: its IO thread
    // stays `Connecting`, and the step waits for it to run.
    let hung = hung_listener();
    let steps = REPLICATE.replace(
        "target: \"${{ vars.target }}\" }",
        &format!("target: \"${{{{ vars.target }}}}\", source_address: \"127.0.0.1:{hung}\" }}"),
    );
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &repl_playbook("killed", &source, &target, &steps),
    );
    let mut child = sandbox
        .command(&["run", "pb.yaml"])
        .env("REPL_PASSWORD", REPL_PASSWORD)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while channels(&target).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the channel was never configured"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    kill9(&mut child);
    assert!(
        !channels(&target).is_empty(),
        "a channel is left by the kill"
    );
    let run = sandbox.last_run();
    let out = sandbox.run_with_env(&["rollback", &run], &[("REPL_PASSWORD", REPL_PASSWORD)]);
    out.expect_code(3);
    let all = out.all();
    assert!(all.contains("undone: `replicate`"), "{all}");
    assert!(!all.contains(REPL_PASSWORD), "{all}");
    assert_eq!(channels(&target), "");
    sandbox.run(&["audit", "verify", &run]).expect_code(0);
}
