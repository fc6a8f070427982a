//! The test harness: a sandbox directory per test, the binary run inside it, and
//! readers for its journal. Every test owns its directory, so tests run in parallel.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_cutover");

pub struct Sandbox {
    dir: tempfile::TempDir,
}

/// What a finished command printed and returned.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Everything the operator saw.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "expected exit {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl Sandbox {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// The binary, in the sandbox, with a fixed operator and no inherited state dir.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("USER", "tester")
            .env_remove("CUTOVER_STATE_DIR")
            // Endpoint locks are host-wide: each sandbox gets its own host.
            .env("CUTOVER_LOCK_DIR", self.dir.path().join(".host-locks"))
            .stdin(Stdio::null());
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_env(args, &[])
    }

    pub fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = self.command(args);
        command.envs(env.iter().copied());
        let output = command.output().expect("run cutover");
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Starts the binary in the background (for kill -9 and lock races).
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn cutover")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join(".cutover")
    }

    /// Run ids in the default state dir, oldest first.
    pub fn run_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(self.state_dir().join("runs"))
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        // By the first record's time: two runs in the same second have ids that sort by chance.
        ids.sort_by_cached_key(|id| {
            let first = self
                .journal_text(id)
                .lines()
                .next()
                .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok());
            (
                first
                    .and_then(|r| r["ts"].as_str().map(str::to_string))
                    .unwrap_or_default(),
                id.clone(),
            )
        });
        ids
    }

    pub fn last_run(&self) -> String {
        self.run_ids().pop().expect("a run exists")
    }

    pub fn journal_path(&self, run_id: &str) -> PathBuf {
        self.state_dir()
            .join("runs")
            .join(run_id)
            .join("journal.jsonl")
    }

    pub fn journal_text(&self, run_id: &str) -> String {
        std::fs::read_to_string(self.journal_path(run_id)).unwrap_or_default()
    }

    /// The journal's records as JSON values.
    pub fn journal(&self, run_id: &str) -> Vec<serde_json::Value> {
        self.journal_text(run_id)
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// The `verdict` of the last run's write canary (`canary_checked`); fails
    /// the test when the canary found a missing write or could not check.
    #[track_caller]
    pub fn canary_proved_nothing_lost(&self) -> serde_json::Value {
        let checked = self
            .journal(&self.last_run())
            .into_iter()
            .find(|r| r["event"] == "canary_checked")
            .expect("the canary's verdict is journaled")["data"]
            .clone();
        let verdict = checked["verdict"].clone();
        assert_eq!(
            verdict["missing"], 0,
            "the canary found lost writes: {checked}"
        );
        assert!(
            verdict["acknowledged"].as_u64().unwrap_or(0) > 10,
            "the canary wrote too little to prove anything: {checked}"
        );
        verdict
    }

    /// `event` names in order, with the step when there is one (`step_started:a`).
    pub fn events(&self, run_id: &str) -> Vec<String> {
        self.journal(run_id)
            .iter()
            .map(|r| match r.get("step").and_then(|s| s.as_str()) {
                Some(step) => format!("{}:{step}", r["event"].as_str().unwrap()),
                None => r["event"].as_str().unwrap().to_string(),
            })
            .collect()
    }

    /// The newest run's journal contains `needle`.
    pub fn journal_has(&self, needle: &str) -> bool {
        self.run_ids()
            .pop()
            .is_some_and(|id| self.journal_text(&id).contains(needle))
    }

    /// Runs `run` on a thread of its own and, once the newest run's journal
    /// contains `needle`, `during` beside it; then waits for the run. A run
    /// that ends before (or after `timeout`) is returned as it is: the test's
    /// assertions show its output.
    pub fn while_running(
        &self,
        run: impl FnOnce() -> Output + Send,
        needle: &str,
        timeout: Duration,
        during: impl FnOnce(),
    ) -> Output {
        std::thread::scope(|scope| {
            let run = scope.spawn(run);
            let deadline = Instant::now() + timeout;
            while !self.journal_has(needle) {
                if run.is_finished() || Instant::now() > deadline {
                    return run.join().unwrap();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            during();
            run.join().unwrap()
        })
    }

    /// Polls until the journal of the newest run contains `needle`.
    pub fn wait_for_journal(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(id) = self.run_ids().pop() {
                if self.journal_text(&id).contains(needle) {
                    return id;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("journal never contained {needle}");
    }

    /// Polls until a file exists.
    pub fn wait_for_file(&self, name: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.dir.path().join(name).exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("{name} never appeared");
    }
}

/// True while some process's command line contains `marker`.
pub fn process_running(marker: &str) -> bool {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .any(|cmdline| {
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            text.contains(marker) && !text.contains("cutover")
        })
}

/// A unique marker for process lookups in this test.
pub fn marker(name: &str) -> String {
    format!(
        "{name}-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos() ^ rand_nanos()
    )
}

fn rand_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Waits for a marker's processes to disappear.
pub fn wait_gone(marker: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if !process_running(marker) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

pub fn kill9(child: &mut Child) {
    unsafe {
        libc_kill(child.id() as i32, 9);
    }
    let _ = child.wait();
}

pub fn signal(child: &Child, signal: i32) {
    unsafe {
        libc_kill(child.id() as i32, signal);
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// Reads one HTTP/1.1 request (head and a `content-length` body) from a test
/// server's connection; returns (request line and headers, body).
pub fn read_http_request(stream: &mut std::net::TcpStream) -> (String, Vec<u8>) {
    use std::io::Read;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut data = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&data).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                return (
                    text[..end].to_string(),
                    data[end + 4..end + 4 + length].to_vec(),
                );
            }
        }
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return (text, Vec::new()),
            Ok(n) => data.extend_from_slice(&buffer[..n]),
        }
    }
}
