//! `http.check` and `maintenance.http` against an HTTPS application whose
//! certificate comes from an internal CA (`ca_file`), and which answers only
//! requests carrying its bearer token (`headers`, from a secret): the token
//! reaches the server and never the output, the plan or the journal.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::certs::Certs;
use crate::support::Sandbox;

const TOKEN: &str = "tok-3f9a7c21-secret";

/// Serves HTTPS on a loopback port: 401 without `authorization: Bearer
/// TOKEN`; `POST /maintenance` switches, `GET /` answers 503 while on.
struct App {
    port: u16,
    on: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl App {
    fn start(certs: &Certs) -> App {
        let config = certs.server_config();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let on = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (flag, seen) = (on.clone(), requests.clone());
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                    .ok();
                let Ok(connection) = rustls::ServerConnection::new(config.clone()) else {
                    continue;
                };
                let mut tls = rustls::StreamOwned::new(connection, tcp);
                let mut data = Vec::new();
                let mut buffer = [0u8; 4096];
                // The head, and a body of at most one read after it.
                while !data.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => data.extend_from_slice(&buffer[..n]),
                    }
                }
                let request = String::from_utf8_lossy(&data).to_ascii_lowercase();
                if request.is_empty() {
                    continue;
                }
                seen.lock().unwrap().push(request.clone());
                let status = if !request.contains(&format!("authorization: bearer {TOKEN}")) {
                    "401 Unauthorized"
                } else if request.starts_with("post /maintenance") {
                    let body_read = request.contains("\"on\"") || request.contains("\"off\"");
                    if !body_read {
                        if let Ok(n) = tls.read(&mut buffer) {
                            data.extend_from_slice(&buffer[..n]);
                        }
                    }
                    let whole = String::from_utf8_lossy(&data).to_string();
                    flag.store(whole.contains("\"on\""), Ordering::SeqCst);
                    "204 No Content"
                } else if flag.load(Ordering::SeqCst) {
                    "503 Service Unavailable"
                } else {
                    "200 OK"
                };
                let _ = tls.write_all(
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .as_bytes(),
                );
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        });
        App { port, on, requests }
    }
}

fn run(sandbox: &Sandbox, args: &[&str]) -> crate::support::Output {
    sandbox.run_with_env(args, &[("API_TOKEN", TOKEN)])
}

#[test]
fn checks_and_switches_trust_the_internal_ca_and_send_the_secret_header() {
    let certs = Certs::new("DNS:localhost,IP:127.0.0.1");
    let app = App::start(&certs);
    let sandbox = Sandbox::new();
    let ca = certs.ca_pem();
    let base = format!("https://localhost:{}", app.port);
    let write = |with: &str| {
        sandbox.write(
            "pb.yaml",
            &format!(
                "name: https\nsecrets: [API_TOKEN]\nsteps:\n  - id: smoke\n    action: http.check\n    with: {{ url: \"{base}/\", requests: 3, {with} }}\n"
            ),
        );
    };

    write(&format!(
        "ca_file: \"{ca}\", headers: {{ Authorization: \"Bearer ${{{{ secrets.API_TOKEN }}}}\" }}"
    ));
    let out = run(&sandbox, &["run", "pb.yaml", "--output", "text"]);
    out.expect_code(0);
    let plan = run(&sandbox, &["plan", "pb.yaml"]);
    for place in [
        out.all(),
        plan.all(),
        sandbox.journal_text(&sandbox.last_run()),
    ] {
        assert!(!place.contains(TOKEN), "the token leaked: {place}");
    }
    assert_eq!(app.requests.lock().unwrap().len(), 3);

    // Without the header: the application's 401; without the CA: the certificate.
    write(&format!("ca_file: \"{ca}\""));
    let out = run(&sandbox, &["run", "pb.yaml", "--output", "text"]);
    out.expect_code(3);
    assert!(
        out.all().contains("status 401, expected 200"),
        "{}",
        out.all()
    );
    write("headers: { Authorization: \"Bearer ${{ secrets.API_TOKEN }}\" }");
    let out = run(&sandbox, &["run", "pb.yaml", "--output", "text"]);
    out.expect_code(3);
    assert!(
        out.all().to_lowercase().contains("certificate"),
        "{}",
        out.all()
    );

    sandbox.write(
        "switch.yaml",
        &format!(
            r#"name: https-maintenance
secrets: [API_TOKEN]
steps:
  - id: maintenance
    action: maintenance.http
    with:
      url: {base}/maintenance
      state: on
      ca_file: "{ca}"
      headers: {{ Authorization: "Bearer ${{{{ secrets.API_TOKEN }}}}" }}
      confirm: {{ url: "{base}/public", status_on: 401, status_off: 401 }}
"#
        ),
    );
    let out = run(&sandbox, &["run", "switch.yaml", "--output", "text"]);
    out.expect_code(0);
    assert!(app.on.load(Ordering::SeqCst), "maintenance is on");
    assert!(!out.all().contains(TOKEN), "{}", out.all());
}
