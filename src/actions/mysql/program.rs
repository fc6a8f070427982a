//! `client`: a MariaDB/MySQL client program (`mariadb-dump`, `mariadb`) run
//! for an action as a `ClientProgram`. The connection, password included, reaches it
//! through an option file that is a pipe only it inherits
//! (`--defaults-file=/dev/fd/N`), never its command line, which `ps` shows
//! to every user, nor a file on disk.

use std::io::Write as _;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Stdio;

use anyhow::{anyhow, Context};
use tokio::process::Command;

use super::connect::Endpoint;
use crate::actions::shared::client::ClientProgram;

/// The first of `candidates` found in `PATH`.
pub fn find(candidates: &[&str]) -> anyhow::Result<String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in candidates {
        if std::env::split_paths(&path).any(|dir| dir.join(name).is_file()) {
            return Ok(name.to_string());
        }
    }
    Err(anyhow!(
        "none of {} is installed (hint: install the MariaDB or MySQL client)",
        candidates
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// The first installed of `candidates`, connected to `endpoint` through a
/// private option file.
pub fn client(candidates: &[&str], endpoint: &Endpoint) -> anyhow::Result<ClientProgram> {
    let name = find(candidates)?;
    let options = OptionPipe::create(endpoint)?;
    let fd = options.read.as_raw_fd();
    let mut command = Command::new(&name);
    // `--defaults-file` must come first; it is also the only option file
    // read, so a `~/.my.cnf` cannot point the program at another server.
    command.arg(format!("--defaults-file={}", options.path()));
    // SAFETY: fcntl is async-signal-safe. The program inherits the
    // options' pipe (and no other).
    unsafe {
        command.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Ok(
        ClientProgram::new(command, &name, "is the MariaDB or MySQL client installed?")
            .holding(options.read),
    )
}

/// `--version`'s line, to tell MariaDB's programs from MySQL's.
pub async fn version(name: &str) -> String {
    Command::new(name)
        .arg("--version")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// A `[client]` option file holding the connection, handed to the program
/// as the read end of a pipe (`/dev/fd/N`) that already holds the whole text:
/// nothing reaches the disk, nothing is left behind, whatever becomes of us.
struct OptionPipe {
    read: OwnedFd,
}

impl OptionPipe {
    fn create(endpoint: &Endpoint) -> anyhow::Result<OptionPipe> {
        let text = option_text(endpoint);
        // Written before the program starts: it must fit in the pipe's buffer.
        if text.len() > 16 * 1024 {
            return Err(anyhow!(
                "the connection options are too long for an option file"
            ));
        }
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills the two descriptors we own from here on;
        // O_CLOEXEC keeps other children from inheriting them.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error())
                .context("failed to create a pipe for the client's options");
        }
        // SAFETY: both descriptors are fresh and owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let mut write = std::fs::File::from(write);
        write
            .write_all(text.as_bytes())
            .context("failed to write the client's options")?;
        // Dropping the write end: the program reads the text, then the end.
        drop(write);
        Ok(OptionPipe { read })
    }

    /// The name the program opens.
    fn path(&self) -> String {
        format!("/dev/fd/{}", self.read.as_raw_fd())
    }
}

/// The option file's text for `endpoint`.
fn option_text(endpoint: &Endpoint) -> String {
    let mut text = format!(
        "[client]\nuser={}\npassword={}\n",
        quote(endpoint.user()),
        quote(&endpoint.password())
    );
    if endpoint.uses_iam() {
        text.push_str("enable-cleartext-plugin\n");
    }
    match endpoint.socket() {
        Some(socket) => text.push_str(&format!("protocol=SOCKET\nsocket={}\n", quote(socket))),
        // `localhost` would mean the default socket to the client, TCP to the driver.
        None => text.push_str(&format!(
            "protocol=TCP\nhost={}\nport={}\n",
            quote(&endpoint.host()),
            endpoint.port()
        )),
    }
    for (key, value) in endpoint.tls().client_options() {
        text.push_str(&format!("{key}={}\n", quote(&value)));
    }
    text
}

/// A value quoted for an option file: `#` and spaces kept, escapes escaped.
fn quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars() {
        match c {
            '\\' => quoted.push_str("\\\\"),
            '"' => quoted.push_str("\\\""),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_file_quotes_what_the_client_would_misread() {
        assert_eq!(quote(r#"a"b\c #d"#), r#""a\"b\\c #d""#);
        let endpoint = Endpoint::parse("mysql://app:pw@db.internal:3307/shop").unwrap();
        let text = option_text(&endpoint);
        assert!(text.contains("password=\"pw\"\n"), "{text}");
        assert!(text.contains("host=\"db.internal\"\nport=3307\n"), "{text}");
        assert!(text.starts_with("[client]\n"), "{text}");
        let tls = Endpoint::parse(
            "mysql://app:pw@db.internal:3307/shop?ssl-mode=VERIFY_IDENTITY&ssl-ca=/etc/ca.pem",
        )
        .unwrap();
        let text = option_text(&tls);
        assert!(text.contains("ssl-ca=\"/etc/ca.pem\"\n"), "{text}");
        assert!(
            text.contains("loose-ssl-verify-server-cert=\"1\"\n"),
            "{text}"
        );
    }
}
