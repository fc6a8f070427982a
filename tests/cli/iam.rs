//! RDS IAM authentication (`auth=iam`): a stand-in for RDS that speaks just
//! enough of the PostgreSQL protocol over TLS (SSLRequest, TLS, startup,
//! cleartext password request) to record the password it is sent, then
//! refuses it as RDS refuses a bad token. The test checks that the password
//! is a token signed from the static credentials in the environment, fresh
//! for each connection, and that no token reaches the output or the journal.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::certs::Certs;
use crate::pg_cluster::playbook;
use crate::support::Sandbox;

/// The stand-in: each connection's password, in order.
struct FakeRds {
    port: u16,
    passwords: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl FakeRds {
    fn start(certs: &Certs) -> FakeRds {
        let config = certs.server_config();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let passwords = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, done) = (passwords.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if done.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(stream) = stream {
                    if let Some(password) = serve(stream, config.clone()) {
                        seen.lock().unwrap().push(password);
                    }
                }
            }
        });
        FakeRds {
            port,
            passwords,
            stop,
        }
    }

    fn passwords(&self) -> Vec<String> {
        self.passwords.lock().unwrap().clone()
    }
}

impl Drop for FakeRds {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// One session: TLS, then the password, then RDS's refusal.
fn serve(mut tcp: TcpStream, config: Arc<rustls::ServerConfig>) -> Option<String> {
    tcp.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut request = [0u8; 8];
    tcp.read_exact(&mut request).ok()?;
    // SSLRequest: length 8, code 80877103.
    if request != [0, 0, 0, 8, 4, 210, 22, 47] {
        return None;
    }
    tcp.write_all(b"S").ok()?;
    let connection = rustls::ServerConnection::new(config).ok()?;
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    let startup = read_message(&mut tls, false)?;
    if !String::from_utf8_lossy(&startup).contains("iam_user") {
        return None;
    }
    // AuthenticationCleartextPassword, as RDS asks of an IAM user.
    tls.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3]).ok()?;
    tls.flush().ok()?;
    let message = read_message(&mut tls, true)?;
    let password =
        String::from_utf8_lossy(message.strip_suffix(&[0]).unwrap_or(&message)).into_owned();
    let mut fields = Vec::new();
    for (code, text) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', "28P01"),
        (b'M', "PAM authentication failed for user \"iam_user\""),
    ] {
        fields.push(code);
        fields.extend_from_slice(text.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    let mut error = vec![b'E'];
    error.extend_from_slice(&((fields.len() + 4) as u32).to_be_bytes());
    error.extend_from_slice(&fields);
    let _ = tls.write_all(&error);
    let _ = tls.flush();
    tls.conn.send_close_notify();
    let _ = tls.flush();
    Some(password)
}

/// A message: a type byte (after the startup), a length, the body.
fn read_message(stream: &mut impl Read, typed: bool) -> Option<Vec<u8>> {
    if typed {
        let mut kind = [0u8; 1];
        stream.read_exact(&mut kind).ok()?;
        if kind[0] != b'p' {
            return None;
        }
    }
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; (u32::from_be_bytes(len) as usize).checked_sub(4)?];
    stream.read_exact(&mut body).ok()?;
    Some(body)
}

#[test]
fn auth_iam_sends_a_fresh_signed_token_as_the_password_and_shows_it_nowhere() {
    let certs = Certs::new("DNS:localhost,IP:127.0.0.1");
    let rds = FakeRds::start(&certs);
    let url = format!(
        "postgres://iam_user@localhost:{}/orders?auth=iam&region=eu-west-1&sslmode=verify-full&sslrootcert={}",
        rds.port,
        certs.ca_pem()
    );
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &playbook(
            "iam",
            &[("url", &url)],
            "  - id: check\n    action: sql.check\n    with: { url: \"${{ vars.url }}\" }\n    retries: { attempts: 2, backoff: 2s }\n",
        ),
    );
    let out = sandbox.run_with_env(
        &["run", "pb.yaml", "--output", "text"],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDCUTOVERTEST"),
            ("AWS_SECRET_ACCESS_KEY", "cutover-test-secret-key"),
            ("AWS_CONFIG_FILE", "/nonexistent"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    out.expect_code(3);
    let all = out.all();
    assert!(all.contains("the server refused the IAM token"), "{all}");
    assert!(all.contains("rds_iam"), "{all}");

    let tokens = rds.passwords();
    assert_eq!(tokens.len(), 2, "one token per connection: {tokens:?}");
    let prefix = format!(
        "localhost:{}/?Action=connect&DBUser=iam_user&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDCUTOVERTEST%2F",
        rds.port
    );
    for token in &tokens {
        assert!(token.starts_with(&prefix), "{token}");
        assert!(
            token.contains("%2Feu-west-1%2Frds-db%2Faws4_request&X-Amz-Date="),
            "{token}"
        );
        assert!(
            token.contains("&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature="),
            "{token}"
        );
        let signature = token.rsplit("X-Amz-Signature=").next().unwrap();
        assert_eq!(signature.len(), 64, "{token}");
        assert!(signature.chars().all(|c| c.is_ascii_hexdigit()), "{token}");
        // Neither the token nor its signature anywhere the operator or an auditor looks.
        let journal = sandbox.journal_text(&sandbox.last_run());
        for place in [&all, &journal] {
            assert!(!place.contains(signature), "a token leaked: {place}");
            assert!(!place.contains("X-Amz-"), "a token leaked: {place}");
        }
    }
    assert_ne!(tokens[0], tokens[1], "a token is made for each connection");
}
