//! Traffic actions against real HAProxy and nginx on loopback ports, in front
//! of small HTTP backends that answer with their own name.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::Sandbox;

/// A backend answering `name` to every request, until dropped.
pub(crate) struct Backend {
    pub(crate) port: u16,
    stop: Arc<AtomicBool>,
}

impl Backend {
    pub(crate) fn start(name: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, name) = (stop.clone(), name.to_string());
        std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let name = name.clone();
                        std::thread::spawn(move || serve(stream, &name));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Backend { port, stop }
    }
}

fn serve(mut stream: TcpStream, name: &str) {
    stream.set_nonblocking(false).ok();
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut buffer = [0u8; 2048];
    let mut request = Vec::new();
    // Keep-alive: answer every request on the connection.
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
        while let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            request.drain(..end + 4);
            // A backend named `slow…` takes 5 ms per answer (latency checks).
            if name.starts_with("slow") {
                std::thread::sleep(Duration::from_millis(5));
            }
            let body = format!("{name}\n");
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            if stream.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when the test ends.
pub(crate) struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// HAProxy in front of `old` (serving) and `new` (disabled).
fn haproxy(sandbox: &Sandbox, old: u16, new: u16) -> (Daemon, u16, String) {
    haproxy_with(sandbox, old, new, "")
}

/// As `haproxy`, with `options` after each server line (e.g. health checks).
fn haproxy_with(sandbox: &Sandbox, old: u16, new: u16, options: &str) -> (Daemon, u16, String) {
    let port = free_port();
    let socket = sandbox.path().join("admin.sock").display().to_string();
    let config = format!(
        "global\n  stats socket {socket} mode 600 level admin\n\
         defaults\n  mode http\n  timeout connect 1s\n  timeout client 10s\n  timeout server 10s\n\
         frontend web\n  bind 127.0.0.1:{port}\n  default_backend app\n\
         backend app\n  server old 127.0.0.1:{old} {options}\n  server new 127.0.0.1:{new} disabled {options}\n"
    );
    let path = sandbox.write("haproxy.cfg", &config);
    let child = Command::new("haproxy")
        .args(["-db", "-f"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("haproxy");
    let daemon = Daemon(child);
    crate::lb::wait_for_haproxy(port, &socket);
    (daemon, port, socket)
}

/// One GET; the backend's name, or None on any failure.
pub(crate) fn get(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    if !reply.starts_with("HTTP/1.1 200") {
        return None;
    }
    reply
        .rsplit("\r\n\r\n")
        .next()
        .map(|b| b.trim().to_string())
}

/// A client loop: counts failures and which backend answered, until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    failures: Arc<AtomicUsize>,
    answers: Arc<Mutex<Vec<String>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(port: u16) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let failures = Arc::new(AtomicUsize::new(0));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let (s, f, a) = (stop.clone(), failures.clone(), answers.clone());
        let handle = std::thread::spawn(move || {
            // Bounded: at most 20 000 requests or until stopped.
            for _ in 0..20_000 {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                match get(port) {
                    Some(name) => a.lock().unwrap().push(name),
                    None => {
                        f.fetch_add(1, Ordering::Relaxed);
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Load {
            stop,
            failures,
            answers,
            handle: Some(handle),
        }
    }

    fn finish(mut self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().unwrap().join().unwrap();
        let answers = self.answers.lock().unwrap().clone();
        (self.failures.load(Ordering::Relaxed), answers)
    }
}

#[test]
fn haproxy_swap_moves_every_request_without_a_failure_and_rolls_back() {
    let sandbox = Sandbox::new();
    let (old, new) = (Backend::start("old"), Backend::start("new"));
    let (_haproxy, port, socket) = haproxy(&sandbox, old.port, new.port);
    assert_eq!(get(port).as_deref(), Some("old"));
    sandbox.write(
        "pb.yaml",
        &format!(
            r#"name: swap
steps:
  - id: swap
    action: haproxy.swap
    with: {{ socket: "{socket}", backend: app, from: [old], to: [new], drain: 2s }}
  - id: smoke
    action: http.check
    with: {{ url: "http://127.0.0.1:{port}/", expect_body: new, requests: 50, concurrency: 5, p95_below: 1s }}
  - id: boom
    action: shell
    with: {{ run: "test -f go" }}
"#
        ),
    );
    let load = Load::start(port);
    std::thread::sleep(Duration::from_millis(200));
    sandbox.write("go", "");
    sandbox.run(&["run", "pb.yaml"]).expect_code(0);
    std::thread::sleep(Duration::from_millis(200));
    let (failures, answers) = load.finish();
    assert_eq!(failures, 0, "a request failed during the swap");
    assert!(answers.iter().any(|a| a == "old") && answers.iter().any(|a| a == "new"));
    let switched = answers.iter().position(|a| a == "new").unwrap();
    assert!(
        answers[switched..].iter().all(|a| a == "new"),
        "after the swap every request reaches the new server"
    );
    for _ in 0..20 {
        assert_eq!(get(port).as_deref(), Some("new"));
    }

    // A failure after the swap: the implied rollback swaps back.
    std::fs::remove_file(sandbox.path().join("go")).unwrap();
    sandbox.run(&["run", "pb.yaml"]).expect_code(3);
    for _ in 0..20 {
        assert_eq!(
            get(port).as_deref(),
            Some("old"),
            "rolled back to the old server"
        );
    }
}

/// Starts HAProxy again from its configuration file, as a reload does: the
/// runtime state is gone, only the file counts.
fn restart_haproxy(sandbox: &Sandbox, port: u16) -> Daemon {
    let child = Command::new("haproxy")
        .args(["-db", "-f"])
        .arg(sandbox.path().join("haproxy.cfg"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("haproxy");
    let daemon = Daemon(child);
    wait_for_port(port);
    daemon
}

#[test]
fn haproxy_swap_with_config_survives_a_reload_and_its_rollback_puts_the_file_back() {
    let sandbox = Sandbox::new();
    let (old, new) = (Backend::start("old"), Backend::start("new"));
    let (haproxy, port, socket) = haproxy(&sandbox, old.port, new.port);
    let original = sandbox.read("haproxy.cfg");
    sandbox.write(
        "pb.yaml",
        &format!(
            r#"name: swap
steps:
  - id: swap
    action: haproxy.swap
    with: {{ socket: "{socket}", backend: app, from: [old], to: [new], drain: 1s, config: haproxy.cfg }}
  - id: boom
    action: shell
    with: {{ run: "test -f go" }}
"#
        ),
    );
    sandbox.write("go", "");
    sandbox.run(&["run", "pb.yaml"]).expect_code(0);
    assert_eq!(get(port).as_deref(), Some("new"));
    let edited = sandbox.read("haproxy.cfg");
    assert_eq!(
        edited,
        original
            .replace(
                &format!("server old 127.0.0.1:{} \n", old.port),
                &format!("server old 127.0.0.1:{} disabled \n", old.port)
            )
            .replace(
                &format!("server new 127.0.0.1:{} disabled ", new.port),
                &format!("server new 127.0.0.1:{} ", new.port)
            ),
        "only the two server lines changed"
    );
    // A reload (a fresh HAProxy from the file) keeps the traffic on the new server.
    drop(haproxy);
    let haproxy = restart_haproxy(&sandbox, port);
    for _ in 0..20 {
        assert_eq!(
            get(port).as_deref(),
            Some("new"),
            "the reload kept the swap"
        );
    }
    // A failing run after the swap rolls back the runtime and the file.
    std::fs::remove_file(sandbox.path().join("go")).unwrap();
    sandbox.write("haproxy.cfg", &original);
    drop(haproxy);
    let haproxy = restart_haproxy(&sandbox, port);
    sandbox.run(&["run", "pb.yaml"]).expect_code(3);
    assert_eq!(
        sandbox.read("haproxy.cfg"),
        original,
        "the file is back as it was"
    );
    assert_eq!(get(port).as_deref(), Some("old"));
    drop(haproxy);
    let _haproxy = restart_haproxy(&sandbox, port);
    assert_eq!(
        get(port).as_deref(),
        Some("old"),
        "and a reload keeps the rollback"
    );
}

#[test]
fn haproxy_swap_with_a_config_haproxy_refuses_moves_nothing() {
    let sandbox = Sandbox::new();
    let (old, new) = (Backend::start("old"), Backend::start("new"));
    let (_haproxy, port, socket) = haproxy(&sandbox, old.port, new.port);
    // The file HAProxy checks is broken elsewhere: the edit must not go live.
    let original = sandbox.read("haproxy.cfg");
    let broken = format!("{original}  bogus-keyword\n");
    sandbox.write("haproxy.cfg", &broken);
    sandbox.write(
        "pb.yaml",
        &format!("name: swap\nsteps:\n  - id: swap\n    action: haproxy.swap\n    with: {{ socket: \"{socket}\", backend: app, from: [old], to: [new], config: haproxy.cfg }}\n"),
    );
    let output = sandbox.run(&["run", "pb.yaml"]);
    output.expect_code(3);
    assert!(
        output.all().contains("does not pass `haproxy -c`"),
        "{}",
        output.all()
    );
    assert_eq!(
        sandbox.read("haproxy.cfg"),
        broken,
        "the file is back as it was"
    );
    for _ in 0..10 {
        assert_eq!(get(port).as_deref(), Some("old"));
    }
}

#[test]
fn haproxy_swap_names_an_unknown_server_and_changes_nothing() {
    let sandbox = Sandbox::new();
    let (old, new) = (Backend::start("old"), Backend::start("new"));
    let (_haproxy, port, socket) = haproxy(&sandbox, old.port, new.port);
    sandbox.write(
        "pb.yaml",
        &format!("name: typo\nsteps:\n  - id: swap\n    action: haproxy.swap\n    with: {{ socket: \"{socket}\", backend: app, from: [old], to: [neww] }}\n"),
    );
    let output = sandbox.run(&["run", "pb.yaml"]);
    output.expect_code(3);
    assert!(
        output.all().contains("no server `neww` (it has: old, new)"),
        "{}",
        output.all()
    );
    assert_eq!(get(port).as_deref(), Some("old"));
}

#[test]
fn haproxy_weights_shift_traffic_in_stages() {
    let sandbox = Sandbox::new();
    let (old, new) = (Backend::start("old"), Backend::start("new"));
    let (_haproxy, port, socket) = haproxy(&sandbox, old.port, new.port);
    sandbox.write(
        "pb.yaml",
        &format!(
            "name: canary\nsteps:\n  - id: shift\n    action: haproxy.weights\n    with: {{ socket: \"{socket}\", backend: app, from: [old], to: [new], stages: [50, 100], pause: 1s, check: \"touch checked\" }}\n"
        ),
    );
    let mut child = sandbox.spawn(&["run", "pb.yaml"]);
    std::thread::sleep(Duration::from_millis(500));
    let halfway: Vec<String> = (0..40).filter_map(|_| get(port)).collect();
    assert!(
        halfway.iter().any(|a| a == "old") && halfway.iter().any(|a| a == "new"),
        "{halfway:?}"
    );
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(sandbox.path().join("checked").exists());
    for _ in 0..20 {
        assert_eq!(get(port).as_deref(), Some("new"));
    }
}

/// nginx with its own prefix, proxying to the upstream in `upstream.conf`.
pub(crate) fn nginx(sandbox: &Sandbox, backend: u16) -> (Daemon, u16, String) {
    let port = free_port();
    let prefix = sandbox.path().join("nginx");
    std::fs::create_dir_all(prefix.join("logs")).unwrap();
    sandbox.write(
        "nginx/upstream.conf",
        &format!("upstream app {{\n    server 127.0.0.1:{backend};\n}}\n"),
    );
    let config = format!(
        "daemon off;\npid {p}/nginx.pid;\nerror_log {p}/logs/error.log;\nevents {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {p}/tmp;\n  proxy_temp_path {p}/tmp;\n  fastcgi_temp_path {p}/tmp;\n  uwsgi_temp_path {p}/tmp;\n  scgi_temp_path {p}/tmp;\n  include {p}/upstream.conf;\n  server {{\n    listen 127.0.0.1:{port};\n    location / {{ proxy_pass http://app; }}\n  }}\n}}\n",
        p = prefix.display()
    );
    let path = sandbox.write("nginx/nginx.conf", &config);
    let command = format!("nginx -c {} -p {}", path.display(), prefix.display());
    let child = Command::new("nginx")
        .args(["-c"])
        .arg(&path)
        .arg("-p")
        .arg(&prefix)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx");
    let daemon = Daemon(child);
    wait_for_port(port);
    (daemon, port, command)
}

fn nginx_playbook(command: &str, server: &str) -> String {
    format!(
        "name: edge\nsteps:\n  - id: swap\n    action: nginx.swap\n    with: {{ upstream_file: nginx/upstream.conf, upstream: app, servers: [\"{server}\"], nginx: \"{command}\" }}\n  - id: gate\n    action: shell\n    with: {{ run: \"test -f go\" }}\n"
    )
}

fn wait_for_answer(port: u16, expected: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if get(port).as_deref() == Some(expected) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn nginx_swap_reloads_onto_the_new_upstream_and_rolls_back() {
    let sandbox = Sandbox::new();
    let (old, new) = (Backend::start("old"), Backend::start("new"));
    let (_nginx, port, command) = nginx(&sandbox, old.port);
    assert!(wait_for_answer(port, "old"));
    sandbox.write(
        "pb.yaml",
        &nginx_playbook(&command, &format!("127.0.0.1:{}", new.port)),
    );
    sandbox.write("go", "");
    sandbox.run(&["run", "pb.yaml"]).expect_code(0);
    assert!(
        wait_for_answer(port, "new"),
        "nginx serves the new upstream after the reload"
    );

    // Swap again to `old`, then fail: the rollback restores the file before the swap.
    std::fs::remove_file(sandbox.path().join("go")).unwrap();
    sandbox.write(
        "pb.yaml",
        &nginx_playbook(&command, &format!("127.0.0.1:{}", old.port)),
    );
    sandbox.run(&["run", "pb.yaml"]).expect_code(3);
    assert!(
        wait_for_answer(port, "new"),
        "rolled back to the upstream before the failed run"
    );
}

#[test]
fn a_broken_upstream_fails_nginx_t_and_leaves_the_old_one_serving() {
    let sandbox = Sandbox::new();
    let old = Backend::start("old");
    let (_nginx, port, command) = nginx(&sandbox, old.port);
    assert!(wait_for_answer(port, "old"));
    let before = sandbox.read("nginx/upstream.conf");
    sandbox.write(
        "pb.yaml",
        // A parameter nginx knows, with a value it refuses: only `nginx -t` can tell.
        &nginx_playbook(&command, "127.0.0.1:8080 weight=0"),
    );
    let output = sandbox.run(&["run", "pb.yaml"]);
    output.expect_code(3);
    assert!(
        output.all().contains("does not pass `nginx -t`"),
        "{}",
        output.all()
    );
    assert_eq!(
        sandbox.read("nginx/upstream.conf"),
        before,
        "the old file is back"
    );
    for _ in 0..10 {
        assert_eq!(get(port).as_deref(), Some("old"));
    }
}

#[test]
fn nginx_swap_keeps_the_block_s_directives_and_the_file_s_other_upstreams() {
    let sandbox = Sandbox::new();
    let (old, new) = (Backend::start("old"), Backend::start("new"));
    let (_nginx, port, command) = nginx(&sandbox, old.port);
    let original = format!(
        "# upstreams of the edge\nupstream app {{\n    zone app 64k;\n    least_conn;\n    server 127.0.0.1:{}; # the old pool\n    keepalive 16;\n}}\n\nupstream admin {{ server 127.0.0.1:9; }}\n",
        old.port
    );
    sandbox.write("nginx/upstream.conf", &original);
    std::fs::set_permissions(
        sandbox.path().join("nginx/upstream.conf"),
        std::os::unix::fs::PermissionsExt::from_mode(0o640),
    )
    .unwrap();
    sandbox.write(
        "pb.yaml",
        &nginx_playbook(&command, &format!("127.0.0.1:{} max_fails=2", new.port)),
    );
    sandbox.write("go", "");
    sandbox.run(&["run", "pb.yaml"]).expect_code(0);
    assert!(wait_for_answer(port, "new"));
    assert_eq!(
        sandbox.read("nginx/upstream.conf"),
        format!(
            "# upstreams of the edge\nupstream app {{\n    zone app 64k;\n    least_conn;\n    server 127.0.0.1:{} max_fails=2;\n    keepalive 16;\n}}\n\nupstream admin {{ server 127.0.0.1:9; }}\n",
            new.port
        ),
        "only the server line changed"
    );
    let mode = std::fs::metadata(sandbox.path().join("nginx/upstream.conf")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o640
    );
    // A swap back that fails later rolls the file back byte for byte.
    std::fs::remove_file(sandbox.path().join("go")).unwrap();
    sandbox.write("nginx/upstream.conf", &original);
    sandbox.run(&["run", "pb.yaml"]).expect_code(3);
    assert_eq!(sandbox.read("nginx/upstream.conf"), original);
    assert!(wait_for_answer(port, "old"));
}

#[test]
fn nginx_swap_refuses_a_server_that_would_splice_a_block_and_a_symlinked_file() {
    let sandbox = Sandbox::new();
    let old = Backend::start("old");
    let (_nginx, port, command) = nginx(&sandbox, old.port);
    let before = sandbox.read("nginx/upstream.conf");
    sandbox.write(
        "pb.yaml",
        &nginx_playbook(&command, "127.0.0.1:8080; } server { listen 127.0.0.1:9999"),
    );
    let spliced = sandbox.run(&["run", "pb.yaml"]);
    spliced.expect_code(2);
    assert!(
        spliced
            .stderr
            .contains("which nginx would read as configuration"),
        "{}",
        spliced.stderr
    );
    assert_eq!(sandbox.read("nginx/upstream.conf"), before);
    // The upstream file replaced by a link to a file root can write: refused,
    // and the file it points to is untouched.
    let victim = sandbox.write("victim.conf", "upstream app { server 127.0.0.1:1; }\n");
    std::fs::rename(
        sandbox.path().join("nginx/upstream.conf"),
        sandbox.path().join("nginx/real.conf"),
    )
    .unwrap();
    std::os::unix::fs::symlink(&victim, sandbox.path().join("nginx/upstream.conf")).unwrap();
    sandbox.write(
        "pb.yaml",
        &nginx_playbook(&command, &format!("127.0.0.1:{}", old.port)),
    );
    let linked = sandbox.run(&["run", "pb.yaml"]);
    linked.expect_code(3);
    assert!(
        linked
            .all()
            .contains("is a symbolic link: refusing to edit through it"),
        "{}",
        linked.all()
    );
    assert_eq!(
        sandbox.read("victim.conf"),
        "upstream app { server 127.0.0.1:1; }\n"
    );
    assert_eq!(get(port).as_deref(), Some("old"));
}

#[test]
fn http_check_fails_on_a_wrong_status_body_or_latency() {
    let sandbox = Sandbox::new();
    let backend = Backend::start("hello");
    let url = format!("http://127.0.0.1:{}/", backend.port);
    let check = |with: &str| {
        sandbox.write("pb.yaml", &format!("name: smoke\nsteps:\n  - id: smoke\n    action: http.check\n    with: {{ url: \"{url}\", {with} }}\n"));
        sandbox.run(&["run", "pb.yaml"])
    };
    check("expect_body: hello, requests: 20, concurrency: 4").expect_code(0);
    assert!(check("expect_status: 204")
        .all()
        .contains("status 200, expected 204"));
    assert!(check("expect_body: goodbye")
        .all()
        .contains("body lacks `goodbye`"));
    // A backend that takes 5 ms per answer is never below 1 ms (a fast one
    // on loopback sometimes is).
    let slow = Backend::start("slow");
    sandbox.write("slow.yaml", &format!("name: smoke\nsteps:\n  - id: smoke\n    action: http.check\n    with: {{ url: \"http://127.0.0.1:{}/\", expect_body: slow, requests: 5, p95_below: 1ms }}\n", slow.port));
    assert!(sandbox
        .run(&["run", "slow.yaml"])
        .all()
        .contains("p95 is not below 1ms"));
    let journal = sandbox.journal(&sandbox.run_ids()[0]);
    let finished = journal
        .iter()
        .find(|r| r["event"] == "step_finished")
        .unwrap();
    assert_eq!(finished["data"]["applied"]["requests"], 20);
    assert_eq!(finished["data"]["applied"]["failures"], 0);
}

#[test]
fn tcp_check_and_maintenance_command_round_trip() {
    let sandbox = Sandbox::new();
    let backend = Backend::start("up");
    let closed = free_port();
    sandbox.write(
        "pb.yaml",
        &format!(
            "name: tcp\nsteps:\n  - id: up\n    action: tcp.check\n    with: {{ address: \"127.0.0.1:{}\" }}\n  - id: maintenance\n    action: maintenance.command\n    with: {{ on: \"touch flag\", off: \"rm -f flag\" }}\n  - id: down\n    action: tcp.check\n    with: {{ address: \"127.0.0.1:{closed}\", timeout: 1s }}\n",
            backend.port
        ),
    );
    let output = sandbox.run(&["run", "pb.yaml"]);
    output.expect_code(3);
    assert!(
        output
            .all()
            .contains(&format!("cannot connect to 127.0.0.1:{closed}")),
        "{}",
        output.all()
    );
    assert!(
        !sandbox.path().join("flag").exists(),
        "the implied inverse ran the `off` command"
    );
}

/// An application with a maintenance switch: `POST /maintenance` with a body
/// containing `on` or `off`; `GET /` answers 503 while on.
fn application() -> (u16, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let on = Arc::new(AtomicBool::new(false));
    let flag = on.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let (head, body) = crate::support::read_http_request(&mut stream);
            let request = format!("{head}\r\n\r\n{}", String::from_utf8_lossy(&body));
            let status = if request.starts_with("POST /maintenance") {
                flag.store(request.contains("\"on\""), Ordering::Relaxed);
                "204 No Content"
            } else if flag.load(Ordering::Relaxed) {
                "503 Service Unavailable"
            } else {
                "200 OK"
            };
            let _ = stream.write_all(
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
    });
    (port, on)
}

#[test]
fn maintenance_http_switches_confirms_and_is_undone_by_its_inverse() {
    let sandbox = Sandbox::new();
    let (port, on) = application();
    sandbox.write(
        "pb.yaml",
        &format!(
            r#"name: app-maintenance
steps:
  - id: maintenance
    action: maintenance.http
    with:
      url: http://127.0.0.1:{port}/maintenance
      state: on
      confirm: {{ url: "http://127.0.0.1:{port}/", status_on: 503, status_off: 200 }}
  - id: check-on
    action: shell
    with: {{ run: "test -f go" }}
"#
        ),
    );
    sandbox.write("go", "");
    sandbox.run(&["run", "pb.yaml"]).expect_code(0);
    assert!(
        on.load(Ordering::Relaxed),
        "maintenance is on and confirmed"
    );
    std::fs::remove_file(sandbox.path().join("go")).unwrap();
    sandbox.run(&["run", "pb.yaml"]).expect_code(3);
    assert!(
        !on.load(Ordering::Relaxed),
        "the implied inverse turned it off again"
    );
}

#[test]
fn a_swap_to_a_dead_server_fails_and_the_old_one_keeps_serving() {
    let sandbox = Sandbox::new();
    let old = Backend::start("old");
    let dead = free_port();
    let (_haproxy, port, socket) =
        haproxy_with(&sandbox, old.port, dead, "check inter 200ms fall 1 rise 1");
    assert!(wait_for_answer(port, "old"));
    sandbox.write(
        "pb.yaml",
        &format!("name: dead\nsteps:\n  - id: swap\n    action: haproxy.swap\n    with: {{ socket: \"{socket}\", backend: app, from: [old], to: [new], drain: 2s }}\n"),
    );
    let output = sandbox.run(&["run", "pb.yaml"]);
    output.expect_code(3);
    assert!(
        output.all().contains("the new servers are not up"),
        "{}",
        output.all()
    );
    for _ in 0..10 {
        assert_eq!(get(port).as_deref(), Some("old"));
    }
}

#[test]
fn a_failed_weights_check_puts_the_traffic_back() {
    let sandbox = Sandbox::new();
    let (old, new) = (Backend::start("old"), Backend::start("new"));
    let (_haproxy, port, socket) = haproxy(&sandbox, old.port, new.port);
    sandbox.write(
        "pb.yaml",
        &format!("name: canary-fails\nsteps:\n  - id: shift\n    action: haproxy.weights\n    with: {{ socket: \"{socket}\", backend: app, from: [old], to: [new], stages: [50, 100], pause: 100ms, check: \"echo canary unhappy; exit 1\" }}\n"),
    );
    let output = sandbox.run(&["run", "pb.yaml"]);
    output.expect_code(3);
    assert!(output.all().contains("canary unhappy"), "{}", output.all());
    assert!(
        output.all().contains("undo `shift`"),
        "the failed step itself is undone: {}",
        output.all()
    );
    for _ in 0..20 {
        assert_eq!(
            get(port).as_deref(),
            Some("old"),
            "all the traffic is back on the old server"
        );
    }
}
