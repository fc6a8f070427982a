//! `Tool`: a PostgreSQL client program (`pg_dump`, `pg_restore`, `psql`) run
//! for an action — in its own process group, killed with cutover, journaled
//! before it is waited on, the password passed through the environment only.

use std::process::Stdio;

use anyhow::{anyhow, Context};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::connect::Endpoint;
use crate::actions::{ProcessRecord, StepContext};

/// Lines of a failing tool's stderr kept in the error.
const ERROR_LINES: usize = 8;

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
        let mut child = self.command.spawn().with_context(|| {
            format!(
                "failed to start `{}` (is the PostgreSQL client installed?)",
                self.program
            )
        })?;
        if let Some(pid) = child.id() {
            (cx.spawned)(&ProcessRecord::of(pid as i32));
        }
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
