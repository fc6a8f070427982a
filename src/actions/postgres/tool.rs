//! `Tool`: a PostgreSQL client program (`pg_dump`, `pg_restore`, `psql`) run
//! for an action — in its own process group, killed with cutover, journaled
//! before it is waited on, the password passed through the environment only.

use std::process::Stdio;

use anyhow::{anyhow, Context};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::process::Command;

use super::connect::Endpoint;
use crate::actions::StepContext;
use crate::process::ProcessRecord;

/// Lines of a failing tool's stderr kept in the error.
const ERROR_LINES: usize = 8;

/// How a streamed tool ended.
pub struct Ended {
    pub status: std::process::ExitStatus,
    /// The last lines of its stderr.
    pub tail: String,
    /// Bytes written to the output, or why writing failed.
    pub written: std::io::Result<u64>,
}

impl Ended {
    /// The error for a failing exit: the tool's own complaint explains a
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
}

pub struct Tool {
    command: Command,
    program: String,
}

impl Tool {
    /// `program` connected to `endpoint` through libpq's environment.
    pub fn new(program: &str, endpoint: &Endpoint) -> Tool {
        let mut command = Command::new(program);
        command
            .envs(endpoint.libpq_env())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; the tool dies with cutover.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        Tool {
            command,
            program: program.to_string(),
        }
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.command.args(args);
        self
    }

    /// Runs to the end, writing its stdout into `out` chunk by chunk (each
    /// chunk shown to `on_chunk` first) and handing each stderr line to
    /// `on_line`; returns the bytes written, or an error with the end of stderr.
    pub async fn stream_to<W: AsyncWrite + Unpin>(
        self,
        cx: &StepContext<'_>,
        out: &mut W,
        on_chunk: impl FnMut(&[u8]),
        on_line: impl FnMut(&str),
    ) -> anyhow::Result<u64> {
        let program = self.program.clone();
        let ended = self.stream_status(cx, out, on_chunk, on_line).await?;
        if !ended.status.success() {
            return Err(ended.failure(&program));
        }
        ended
            .written
            .with_context(|| format!("failed to write the output of `{program}`"))
    }

    /// As `stream_to`, but a failing exit is the caller's to judge.
    pub async fn stream_status<W: AsyncWrite + Unpin>(
        mut self,
        cx: &StepContext<'_>,
        out: &mut W,
        mut on_chunk: impl FnMut(&[u8]),
        mut on_line: impl FnMut(&str),
    ) -> anyhow::Result<Ended> {
        let mut child = self.spawn(cx)?;
        let (Some(mut stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(anyhow!("`{}` has no output pipes", self.program));
        };
        let mut lines = Vec::new();
        let read_errors = async {
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                on_line(&line);
                if !line.trim().is_empty() {
                    lines.push(line);
                    if lines.len() > ERROR_LINES * 4 {
                        lines.drain(..lines.len() - ERROR_LINES);
                    }
                }
            }
        };
        // `move`: a failed write drops the pipe, so the tool ends on SIGPIPE
        // instead of waiting forever for a reader.
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
        let (written, ()) = tokio::join!(copy, read_errors);
        let status = child
            .wait()
            .await
            .with_context(|| format!("failed to wait for `{}`", self.program))?;
        let tail = lines[lines.len().saturating_sub(ERROR_LINES)..].join("\n");
        Ok(Ended {
            status,
            tail,
            written,
        })
    }

    fn spawn(&mut self, cx: &StepContext<'_>) -> anyhow::Result<tokio::process::Child> {
        let child = self.command.spawn().with_context(|| {
            format!(
                "failed to start `{}` (is the PostgreSQL client installed?)",
                self.program
            )
        })?;
        if let Some(pid) = child.id() {
            (cx.spawned)(&ProcessRecord::of(pid as i32));
        }
        Ok(child)
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
                // A tool that stops reading (it failed) closes the pipe: its
                // stderr says why, so the write error is not the story.
                let _ = stdin.write_all(input).await;
                let _ = stdin.shutdown().await;
            }
        };
        let (output, ()) = tokio::join!(child.wait_with_output(), feed);
        let output = output.with_context(|| format!("failed to wait for `{}`", self.program))?;
        if output.status.success() {
            return Ok(output.stdout);
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = lines[lines.len().saturating_sub(ERROR_LINES)..].join("\n");
        Err(anyhow!(
            "`{}` failed ({}): {}",
            self.program,
            output.status,
            if tail.is_empty() { "no message" } else { &tail }
        ))
    }
}
