//! HAProxy in TCP mode in front of two database servers, for the tests that
//! run the reference playbooks end to end.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::Sandbox;

pub struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// HAProxy in TCP mode: backend `db` with `old` serving and `new` disabled.
pub fn haproxy_tcp(sandbox: &Sandbox, old: u16, new: u16) -> (Daemon, u16, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let socket = sandbox.path().join("haproxy.sock").display().to_string();
    let config = format!(
        "global\n  stats socket {socket} mode 600 level admin\n\
         defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 5m\n  timeout server 5m\n\
         frontend pg\n  bind 127.0.0.1:{port}\n  default_backend db\n\
         backend db\n  server old 127.0.0.1:{old}\n  server new 127.0.0.1:{new} disabled\n"
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
    wait_for_haproxy(port, &socket);
    (daemon, port, socket)
}

/// Until HAProxy accepts on `port` and its stats `socket` exists: the port
/// can accept before the socket is there.
pub fn wait_for_haproxy(port: u16, socket: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() || !std::path::Path::new(socket).exists()
    {
        assert!(Instant::now() < deadline, "haproxy never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
}
