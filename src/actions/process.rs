//! Child processes of actions: each in its own process group, killed with its
//! parent, and found again after a crash so a resumed step never runs beside a
//! leftover of its earlier attempt.

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
