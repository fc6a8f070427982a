//! `Program`: a MariaDB/MySQL client program (`mariadb-dump`, `mariadb`) run
//! for an action — in its own process group, killed with cutover, registered
//! before it is waited on. The connection, password included, reaches it
//! through an option file that is a pipe only it inherits
//! (`--defaults-file=/dev/fd/N`), never its command line, which `ps` shows
//! to every user, nor a file on disk.

use std::io::Write as _;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Stdio;

use anyhow::{anyhow, Context};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::process::Command;

use super::connect::Endpoint;
use crate::actions::StepContext;
use crate::process::ProcessRecord;

/// Lines of a failing program's stderr kept in the error.
const ERROR_LINES: usize = 8;

/// How a streamed program ended.
pub struct Ended {
    pub status: std::process::ExitStatus,
    /// The last lines of its stderr.
    pub tail: String,
    /// Bytes streamed (out of its stdout, or into its stdin), or why streaming failed.
    pub streamed: std::io::Result<u64>,
}

impl Ended {
    /// The error for a failing exit: the program's own complaint explains a
    /// broken pipe better than the pipe does.
    pub fn failure(&self, program: &str) -> anyhow::Error {
        anyhow!(
            "`{program}` failed ({}): {}",
            self.status,
            if self.tail.is_empty() {
                "no message"
            } else {
                &self.tail
            }
        )
    }

    /// Ok with the bytes streamed when the program succeeded and the stream held.
    pub fn bytes(self, program: &str) -> anyhow::Result<u64> {
        if !self.status.success() {
            return Err(self.failure(program));
        }
        self.streamed
            .with_context(|| format!("failed to stream the data of `{program}`"))
    }
}

pub struct Program {
    command: Command,
    name: String,
    /// Open until the program has started (and read it).
    _options: OptionPipe,
}

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

impl Program {
    /// The first installed of `candidates`, connected to `endpoint` through
    /// a private option file.
    pub fn new(candidates: &[&str], endpoint: &Endpoint) -> anyhow::Result<Program> {
        let name = find(candidates)?;
        let options = OptionPipe::create(endpoint)?;
        let fd = options.read.as_raw_fd();
        let mut command = Command::new(&name);
        // `--defaults-file` must come first; it is also the only option file
        // read, so a `~/.my.cnf` cannot point the program at another server.
        command
            .arg(format!("--defaults-file={}", options.path()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        // SAFETY: prctl and fcntl are async-signal-safe. The program dies
        // with cutover, and inherits the options' pipe (and no other).
        unsafe {
            command.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Ok(Program {
            command,
            name,
            _options: options,
        })
    }

    /// The program's name as found (`mariadb-dump` or `mysqldump` …).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.command.args(args);
        self
    }

    fn spawn(&mut self, cx: &StepContext<'_>) -> anyhow::Result<tokio::process::Child> {
        let child = self
            .command
            .spawn()
            .with_context(|| format!("failed to start `{}`", self.name))?;
        if let Some(pid) = child.id() {
            (cx.spawned)(&ProcessRecord::of(pid as i32));
        }
        Ok(child)
    }

    /// Runs to the end, writing its stdout into `out` chunk by chunk (each
    /// chunk shown to `on_chunk` first); a failing exit is the caller's to judge.
    pub async fn stream_out<W: AsyncWrite + Unpin>(
        mut self,
        cx: &StepContext<'_>,
        out: &mut W,
        mut on_chunk: impl FnMut(&[u8]),
    ) -> anyhow::Result<Ended> {
        let mut child = self.spawn(cx)?;
        let (Some(mut stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(anyhow!("`{}` has no output pipes", self.name));
        };
        // `move`: a failed write drops the pipe, so the program ends on
        // SIGPIPE instead of waiting forever for a reader.
        let copy = async move {
            let mut buffer = vec![0u8; 256 * 1024];
            let mut written = 0u64;
            loop {
                let n = stdout.read(&mut buffer).await?;
                if n == 0 {
                    return Ok::<u64, std::io::Error>(written);
                }
                on_chunk(&buffer[..n]);
                out.write_all(&buffer[..n]).await?;
                written += n as u64;
            }
        };
        let (streamed, tail) = tokio::join!(copy, tail_of(stderr));
        let status = child
            .wait()
            .await
            .with_context(|| format!("failed to wait for `{}`", self.name))?;
        Ok(Ended {
            status,
            tail,
            streamed,
        })
    }

    /// Runs to the end with `input` fed to its stdin chunk by chunk (each
    /// chunk shown to `on_chunk` first); a failing exit is the caller's to judge.
    pub async fn stream_in<R: AsyncRead + Unpin>(
        mut self,
        cx: &StepContext<'_>,
        input: &mut R,
        mut on_chunk: impl FnMut(&[u8]),
    ) -> anyhow::Result<Ended> {
        self.command.stdin(Stdio::piped());
        let mut child = self.spawn(cx)?;
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(anyhow!("`{}` has no pipes", self.name));
        };
        let feed = async move {
            let mut buffer = vec![0u8; 256 * 1024];
            let mut fed = 0u64;
            loop {
                let n = input.read(&mut buffer).await?;
                if n == 0 {
                    // Dropping stdin closes it: the program sees the end.
                    stdin.shutdown().await?;
                    return Ok::<u64, std::io::Error>(fed);
                }
                on_chunk(&buffer[..n]);
                // A program that stops reading (it failed) closes the pipe:
                // its stderr says why.
                stdin.write_all(&buffer[..n]).await?;
                fed += n as u64;
            }
        };
        let (streamed, tail, out) = tokio::join!(feed, tail_of(stderr), tail_of(stdout));
        let status = child
            .wait()
            .await
            .with_context(|| format!("failed to wait for `{}`", self.name))?;
        let tail = [out, tail]
            .into_iter()
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        Ok(Ended {
            status,
            tail,
            streamed,
        })
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
}

/// The last non-empty lines of a pipe, read to its end.
async fn tail_of(pipe: impl AsyncRead + Unpin) -> String {
    let mut lines = Vec::new();
    let mut reader = BufReader::new(pipe).lines();
    while let Ok(Some(line)) = reader.next_line().await {
        if !line.trim().is_empty() {
            lines.push(line);
            if lines.len() > ERROR_LINES * 4 {
                lines.drain(..lines.len() - ERROR_LINES);
            }
        }
    }
    lines[lines.len().saturating_sub(ERROR_LINES)..].join("\n")
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
        quote(endpoint.password())
    );
    match endpoint.socket() {
        Some(socket) => text.push_str(&format!("protocol=SOCKET\nsocket={}\n", quote(socket))),
        // `localhost` would mean the default socket to the client, TCP to the driver.
        None => text.push_str(&format!(
            "protocol=TCP\nhost={}\nport={}\n",
            quote(&endpoint.host()),
            endpoint.port()
        )),
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
    }
}
