//! `ClientProgram`: a database client program (`pg_dump`, `psql`,
//! `mariadb-dump`, `mariadb` …) run for an action, the same way for every
//! engine — in its own process group, killed with cutover, registered with
//! the journal before it is waited on, its stderr's last lines kept for the
//! error. Each engine's wrapper hands it a command that already knows how to
//! connect (libpq's environment, MySQL's private option file).

use std::process::Stdio;

use anyhow::{anyhow, Context};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::process::Command;

use crate::actions::StepContext;
use crate::process::ProcessRecord;

/// Lines of a failing program's stderr kept in the error.
const ERROR_LINES: usize = 8;

/// How much a stream moves at a time.
const CHUNK: usize = 256 * 1024;

/// How a streamed program ended.
pub struct Ended {
    pub status: std::process::ExitStatus,
    /// The last lines of its stderr (and, when fed, its stdout).
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

pub struct ClientProgram {
    command: Command,
    name: String,
    /// Said when the program cannot be started (which package to install).
    missing: &'static str,
    /// Descriptors the program inherits, kept open until it has started.
    held: Vec<std::os::fd::OwnedFd>,
}

impl ClientProgram {
    /// `command` knows how to connect; here it gets its pipes, its own
    /// process group, and a death signal so it never outlives cutover.
    pub fn new(mut command: Command, name: &str, missing: &'static str) -> ClientProgram {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; the program dies with cutover.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        ClientProgram {
            command,
            name: name.to_string(),
            missing,
            held: Vec::new(),
        }
    }

    /// Keeps `fd` open until the program has started (a pipe it reads its
    /// options from).
    pub fn holding(mut self, fd: std::os::fd::OwnedFd) -> Self {
        self.held.push(fd);
        self
    }

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
            .with_context(|| format!("failed to start `{}` ({})", self.name, self.missing))?;
        // The program has its copies of what it inherits.
        self.held.clear();
        if let Some(pid) = child.id() {
            (cx.spawned)(&ProcessRecord::of(pid as i32));
        }
        Ok(child)
    }

    /// Runs to the end, writing its stdout into `out` chunk by chunk (each
    /// chunk shown to `on_chunk` first) and handing each stderr line to
    /// `on_line`; a failing exit is the caller's to judge.
    pub async fn stream_out<W: AsyncWrite + Unpin>(
        mut self,
        cx: &StepContext<'_>,
        out: &mut W,
        mut on_chunk: impl FnMut(&[u8]),
        on_line: impl FnMut(&str),
    ) -> anyhow::Result<Ended> {
        let mut child = self.spawn(cx)?;
        let (Some(mut stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(anyhow!("`{}` has no output pipes", self.name));
        };
        // `move`: a failed write drops the pipe, so the program ends on
        // SIGPIPE instead of waiting forever for a reader.
        let copy = async move {
            let mut buffer = vec![0u8; CHUNK];
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
        let (streamed, tail) = tokio::join!(copy, tail_of(stderr, on_line));
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
            let mut buffer = vec![0u8; CHUNK];
            let mut fed = 0u64;
            loop {
                let n = input.read(&mut buffer).await?;
                if n == 0 {
                    // Closing stdin: the program sees the end.
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
        let (streamed, tail, out) =
            tokio::join!(feed, tail_of(stderr, |_| {}), tail_of(stdout, |_| {}));
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

    /// Runs to the end with `input` on stdin; returns stdout, or an error with
    /// the end of stderr.
    pub async fn run(
        mut self,
        cx: &StepContext<'_>,
        input: Option<&[u8]>,
    ) -> anyhow::Result<Vec<u8>> {
        if input.is_some() {
            self.command.stdin(Stdio::piped());
        }
        let mut child = self.spawn(cx)?;
        let stdin = child.stdin.take();
        let feed = async {
            if let (Some(mut stdin), Some(input)) = (stdin, input) {
                // A program that stops reading (it failed) closes the pipe:
                // its stderr says why, so the write error is not the story.
                let _ = stdin.write_all(input).await;
                let _ = stdin.shutdown().await;
            }
        };
        let (output, ()) = tokio::join!(child.wait_with_output(), feed);
        let output = output.with_context(|| format!("failed to wait for `{}`", self.name))?;
        if output.status.success() {
            return Ok(output.stdout);
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        Err(Ended {
            status: output.status,
            tail: lines[lines.len().saturating_sub(ERROR_LINES)..].join("\n"),
            streamed: Ok(0),
        }
        .failure(&self.name))
    }
}

/// The last non-empty lines of a pipe, read to its end, each line shown to
/// `on_line` first.
async fn tail_of(pipe: impl AsyncRead + Unpin, mut on_line: impl FnMut(&str)) -> String {
    let mut lines = Vec::new();
    let mut reader = BufReader::new(pipe).lines();
    while let Ok(Some(line)) = reader.next_line().await {
        on_line(&line);
        if !line.trim().is_empty() {
            lines.push(line);
            if lines.len() > ERROR_LINES * 4 {
                lines.drain(..lines.len() - ERROR_LINES);
            }
        }
    }
    lines[lines.len().saturating_sub(ERROR_LINES)..].join("\n")
}
