//! `shell`: run a command with bash. A non-zero exit fails the step; output is
//! streamed to the display and its tail kept for the journal.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};
use crate::process::{signal_group, ProcessRecord};

/// Lines of output kept for the journal.
const TAIL_LINES: usize = 20;
/// Longest output line kept; longer ones are cut so one line cannot eat memory.
const MAX_LINE: usize = 4096;

/// Parameters of `shell`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Shell {
    /// The script, run as `bash --noprofile --norc -eo pipefail -c RUN`.
    pub run: String,
    /// Working directory; relative paths are relative to the playbook.
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    /// Extra environment variables for the command.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "shell",
    Shell,
    "run a command with bash; a non-zero exit fails the step"
);

#[async_trait(?Send)]
impl Action for Shell {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn describe(&self) -> String {
        let first_line = self
            .run
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        let more = if self.run.trim().lines().count() > 1 {
            " …"
        } else {
            ""
        };
        format!("run `{first_line}`{more}")
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let cwd = match &self.cwd {
            Some(dir) => cx.base_dir.join(dir),
            None => cx.base_dir.to_path_buf(),
        };
        // One pipe for stdout and stderr: lines arrive in the order the command
        // wrote them, and there is one end-of-file to wait for, not two.
        let (reader, writer) = std::io::pipe().context("failed to create a pipe")?;
        let mut command = Command::new(bash());
        command
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &self.run])
            .current_dir(&cwd)
            .envs(&self.env)
            .env("CUTOVER_RUN_ID", cx.run_id)
            .env("CUTOVER_STEP", cx.step)
            .stdin(Stdio::null())
            .stdout(writer.try_clone().context("failed to share the pipe")?)
            .stderr(writer)
            .process_group(0);
        let mut child = command
            .spawn()
            .with_context(|| format!("failed to start bash in {}", cwd.display()))?;
        let pid = child
            .id()
            .map(|id| id as i32)
            .ok_or_else(|| anyhow!("bash exited before it could be tracked"))?;
        // Killed by the run's reaper if cutover dies before the step ends.
        crate::process::watch_group(pid);
        let guard = GroupGuard(pid);
        (cx.spawned)(&ProcessRecord::of(pid));

        // Our copies of the write end must go, or the read end never ends.
        drop(command);
        let output =
            tokio::net::unix::pipe::Receiver::from_owned_fd(std::os::fd::OwnedFd::from(reader))
                .context("failed to read the command's output")?;
        let tail = std::cell::RefCell::new(VecDeque::with_capacity(TAIL_LINES));
        let pump = pump_lines(output, cx, &tail);
        let status = async {
            let status = child.wait().await;
            // Background jobs the script left keep the pipes open: the step owns
            // its process group, so they end with it.
            signal_group(pid, libc::SIGKILL);
            status
        };
        let (status, ()) = tokio::join!(status, pump);
        drop(guard);
        let status = status.context("failed to wait for bash")?;
        let output_tail = Some(tail.into_inner().into_iter().collect::<Vec<_>>().join("\n"))
            .filter(|t| !t.is_empty());
        let exit_status = status.code();
        if status.success() {
            Ok(Applied {
                data: serde_json::Value::Null,
                exit_status,
                output_tail,
            })
        } else {
            let reason = match exit_status {
                Some(code) => format!("command exited with status {code}"),
                None => "command was killed by a signal".to_string(),
            };
            Err(ActionFailure::from(anyhow!(reason)).output(exit_status, output_tail))
        }
    }

    // A command of the operator's own may not be safe to run twice.
    fn idempotent(&self) -> bool {
        false
    }

    // The operator's command may be stopped half-way; nobody but its author knows what is left (see the doc page).
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}

async fn pump_lines(
    mut stream: impl AsyncRead + Unpin,
    cx: &StepContext<'_>,
    tail: &std::cell::RefCell<VecDeque<String>>,
) {
    let emit = |text: String| {
        cx.report(Progress::Output(text.clone()));
        let mut tail = tail.borrow_mut();
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(text);
    };
    // Masked before it is split into lines or cut (a PEM key spans lines, a
    // long secret outlives the cut); the masker caps what it holds, so a
    // command printing megabytes without a newline cannot grow memory.
    let mut masker = crate::redact::LineMasker::new(cx.redactor, MAX_LINE);
    let mut chunk = [0u8; 8192];
    loop {
        let read = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        masker.push(&chunk[..read]).into_iter().for_each(emit);
    }
    masker.finish().into_iter().for_each(emit);
}

/// A program's absolute path, looked up in PATH once: every step saves the
/// failed `execve` calls of a PATH search.
fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn bash() -> &'static std::path::Path {
    static BASH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BASH.get_or_init(|| find_in_path("bash").unwrap_or_else(|| PathBuf::from("bash")))
}

/// Kills the step's process group when the step is abandoned (timeout, Ctrl-C):
/// dropping the future must not leave the command running.
struct GroupGuard(i32);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        signal_group(self.0, libc::SIGKILL);
        crate::process::forget_group(self.0);
    }
}
