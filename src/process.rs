//! Child processes of actions: each in its own process group, killed with its
//! parent, and found again after a crash so a resumed step never runs beside a
//! leftover of its earlier attempt.

use std::os::unix::process::CommandExt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A process group an action started, as journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRecord {
    pub pid: i32,
    /// The leader's start time in clock ticks since boot (`/proc/PID/stat` field
    /// 22), which tells our process from a later one given the same pid.
    pub start_time: Option<u64>,
}

impl ProcessRecord {
    pub fn of(pid: i32) -> Self {
        Self {
            pid,
            start_time: start_time(pid),
        }
    }
}

/// Reads a process's start time from procfs.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: split after its last `)`.
    let after_name = &stat[stat.rfind(')')? + 2..];
    after_name.split(' ').nth(19)?.parse().ok()
}

fn group_alive(pgid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence and permission.
    unsafe { libc::kill(-pgid, 0) == 0 }
}

/// Sends a signal to a whole process group, ignoring a group already gone.
pub fn signal_group(pgid: i32, signal: i32) {
    // SAFETY: plain syscall on a pid we started; errors (ESRCH) are expected.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

/// Kills what is left of a process group from an earlier attempt and waits until
/// it is gone. Returns true when something had to be killed.
pub async fn settle_process_group(record: &ProcessRecord) -> bool {
    let leader_matches = match (start_time(record.pid), record.start_time) {
        (Some(now), Some(then)) => now == then,
        (Some(_), None) => true,
        // Leader gone: a live group with its id can only be our leftovers, since a
        // pid is not reused while a group of that id exists.
        (None, _) => true,
    };
    if !leader_matches || !group_alive(record.pid) {
        return false;
    }
    signal_group(record.pid, libc::SIGKILL);
    for _ in 0..200 {
        if !group_alive(record.pid) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    true
}

/// One process per cutover run that outlives it: it reads the process groups
/// of running steps from a pipe (`+PGID`, `-PGID`) and, when the pipe closes —
/// cutover exited, or was killed with -9 — kills the groups still listed. It
/// replaces a parent-death signal per step (a `pre_exec` hook forces a full
/// fork, ~2 ms a step; `setpriv` an extra exec, ~1 ms) at the cost of one
/// bash for the whole run.
static REAPER: std::sync::Mutex<Option<std::process::ChildStdin>> = std::sync::Mutex::new(None);

const REAPER_SCRIPT: &str = r#"declare -A live
while read -r line; do
  case $line in
    +*) live[${line#+}]=1 ;;
    -*) unset "live[${line#-}]" ;;
  esac
done
for group in "${!live[@]}"; do kill -KILL -- "-$group" 2>/dev/null; done"#;

fn tell_reaper(line: &str) {
    use std::io::Write;
    let mut reaper = REAPER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if reaper.is_none() {
        // Its own process group: a Ctrl-C on the terminal must not reach it.
        let spawned = std::process::Command::new("bash")
            .args(["--noprofile", "--norc", "-c", REAPER_SCRIPT])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn();
        *reaper = spawned.ok().and_then(|mut child| child.stdin.take());
    }
    if let Some(stdin) = reaper.as_mut() {
        let _ = writeln!(stdin, "{line}");
    }
}

/// A step's process group started: kill it if cutover dies before it ends.
pub fn watch_group(pgid: i32) {
    tell_reaper(&format!("+{pgid}"));
}

/// A step's process group ended (or was killed): forget it, so a later group
/// given the same id is never touched.
pub fn forget_group(pgid: i32) {
    tell_reaper(&format!("-{pgid}"));
}
