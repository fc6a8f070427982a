//! Robustness of `cutover validate` against inputs written by others (the YAML
//! test suite in `shared/corpora/`) and against hostile ones written here: each is
//! answered with an exit code and a located message, never a panic, a hang or an
//! unbounded allocation.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::support::{Output, Sandbox, BIN};

/// Longest one corpus file may take; it needs a few milliseconds.
const CORPUS_TIMEOUT: Duration = Duration::from_secs(10);
/// Processor time a hostile input may use ("a few seconds" for a debug build).
/// Processor time, not elapsed time, so that a busy machine cannot make it flaky.
const HOSTILE_CPU_LIMIT: Duration = Duration::from_secs(8);
/// Elapsed time after which a run on a hostile input counts as a hang.
const HOSTILE_TIMEOUT: Duration = Duration::from_secs(60);
/// Address space the binary may map, in KiB: room for the parser and a 10 MB
/// file many times over, but not for an alias bomb expanded in memory.
const MEMORY_LIMIT_KIB: u64 = 1 << 20;

/// The YAML test suite's inputs, beside the repository (`../shared/corpora`).
fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora/yaml-test-suite")
}

/// A run that ended by itself.
struct Finished {
    output: Output,
    /// User and system time of the process.
    cpu: Duration,
    /// Peak resident memory.
    max_rss_kib: i64,
}

/// How a bounded run ended.
enum Ended {
    Exited(Finished),
    TimedOut,
}

/// Runs `cutover ARGS` in the sandbox under a time and a memory limit. Output goes
/// to files, so a child that prints a lot never blocks on a full pipe.
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4(2) in `reap`, for its resource usage"
)]
fn run_bounded(sandbox: &Sandbox, args: &[&str], timeout: Duration) -> Ended {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, Ordering::Relaxed);
    let stdout_path = sandbox.path().join(format!(".run-{run}.stdout"));
    let stderr_path = sandbox.path().join(format!(".run-{run}.stderr"));
    let stdout = std::fs::File::create(&stdout_path).expect("stdout file");
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    // `exec` keeps the pid, so the usage reaped below is cutover's own.
    let script = format!("ulimit -v {MEMORY_LIMIT_KIB} && exec \"$0\" \"$@\"");
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg(BIN)
        .args(args)
        .current_dir(sandbox.path())
        .env("USER", "tester")
        .env_remove("CUTOVER_STATE_DIR")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("spawn cutover");
    let pid = child.id() as libc::pid_t;
    let deadline = Instant::now() + timeout;
    let (code, usage) = loop {
        if let Some(reaped) = reap(pid) {
            break reaped;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ended::TimedOut;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let read = |path: &Path| {
        let bytes = std::fs::read(path).unwrap_or_default();
        let _ = std::fs::remove_file(path);
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let seconds =
        |t: libc::timeval| Duration::from_micros(t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64);
    Ended::Exited(Finished {
        output: Output {
            code,
            stdout: read(&stdout_path),
            stderr: read(&stderr_path),
        },
        cpu: seconds(usage.ru_utime) + seconds(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss,
    })
}

/// Reaps the child if it has ended: its exit code (-1 after a signal) and its
/// resource usage, which `std::process::Child` does not give.
fn reap(pid: libc::pid_t) -> Option<(i32, libc::rusage)> {
    let mut status = 0;
    // SAFETY: `rusage` is plain data; wait4(2) only writes the two out-parameters.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
    if reaped != pid {
        return None;
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Some((code, usage))
}

/// Like `run_bounded`, but a panic, a hang or more than `HOSTILE_CPU_LIMIT` of
/// processor time fails the test.
#[track_caller]
fn run_hostile(sandbox: &Sandbox, args: &[&str]) -> Output {
    match run_bounded(sandbox, args, HOSTILE_TIMEOUT) {
        Ended::Exited(Finished {
            output,
            cpu,
            max_rss_kib,
        }) => {
            assert!(
                !output.stderr.contains("panicked"),
                "cutover panicked:\n{}",
                output.stderr
            );
            assert!(
                cpu <= HOSTILE_CPU_LIMIT,
                "`cutover {}` used {cpu:?} of processor time (at most {HOSTILE_CPU_LIMIT:?}), {max_rss_kib} KiB at most",
                args.join(" ")
            );
            output
        }
        Ended::TimedOut => panic!(
            "`cutover {}` still running after {HOSTILE_TIMEOUT:?}",
            args.join(" ")
        ),
    }
}

/// `PATH:LINE:COL: ` at the start of `line`, with both numbers from 1.
fn location(line: &str, path: &str) -> Option<(usize, usize)> {
    let rest = line.strip_prefix(path)?.strip_prefix(':')?;
    let mut parts = rest.splitn(3, ':');
    let line_no: usize = parts.next()?.parse().ok()?;
    let col: usize = parts.next()?.parse().ok()?;
    let tail = parts.next()?;
    (line_no >= 1 && col >= 1 && tail.starts_with(" error: ")).then_some((line_no, col))
}

/// Every way one corpus file's answer is wrong, or nothing.
fn check_corpus_file(sandbox: &Sandbox, file: &Path) -> Vec<String> {
    let path = file.to_str().expect("UTF-8 path");
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    let invalid_yaml = name.ends_with(".invalid.yaml");
    let mut wrong = Vec::new();
    let output = match run_bounded(sandbox, &["validate", path], CORPUS_TIMEOUT) {
        Ended::Exited(finished) => finished.output,
        Ended::TimedOut => return vec![format!("{name}: still running after {CORPUS_TIMEOUT:?}")],
    };
    if output.stderr.contains("panicked") {
        wrong.push(format!("{name}: panicked:\n{}", output.stderr));
    }
    if output.code != 2 {
        wrong.push(format!(
            "{name}: exit {} instead of 2\n{}",
            output.code,
            output.all()
        ));
    }
    let first = output.stderr.lines().next().unwrap_or_default();
    match location(first, path) {
        None => wrong.push(format!(
            "{name}: first line is not `{path}:LINE:COL: error: …`:\n{}",
            output.stderr
        )),
        Some((line, _)) => {
            // A position may sit one line past the last one: the end of the input.
            let text = std::fs::read_to_string(file).unwrap_or_default();
            let lines = text.split(['\n', '\r']).count().max(1);
            if line > lines + 1 {
                wrong.push(format!(
                    "{name}: line {line} is past the end ({lines} lines): {first}"
                ));
            }
            // The suite's valid documents must parse; what is wrong is the playbook.
            if !invalid_yaml && first.contains(": error: invalid YAML") {
                wrong.push(format!("{name}: valid YAML reported as invalid: {first}"));
            }
        }
    }
    let json = match run_bounded(
        sandbox,
        &["validate", "--output", "json", path],
        CORPUS_TIMEOUT,
    ) {
        Ended::Exited(finished) => finished.output,
        Ended::TimedOut => {
            wrong.push(format!(
                "{name}: --output json still running after {CORPUS_TIMEOUT:?}"
            ));
            return wrong;
        }
    };
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap_or_default();
    let problems = value["problems"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let located = problems
        .iter()
        .all(|p| p["line"].as_u64() >= Some(1) && p["col"].as_u64() >= Some(1));
    if json.code != 2 || value["valid"] != false || problems.is_empty() || !located {
        wrong.push(format!(
            "{name}: --output json: exit {}, {}",
            json.code,
            json.all()
        ));
    }
    wrong
}

#[test]
fn yaml_test_suite_is_answered_with_located_errors() {
    let dir = corpus_dir();
    assert!(
        dir.is_dir(),
        "the YAML test suite is missing at {}: tests run with `shared/` beside the repository",
        dir.display()
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("list the corpus")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    let invalid = files
        .iter()
        .filter(|f| f.to_string_lossy().ends_with(".invalid.yaml"))
        .count();
    // A corpus emptied by a bad checkout must not pass as "nothing failed".
    assert!(
        files.len() >= 300 && invalid >= 50,
        "only {} files ({invalid} invalid) in {}",
        files.len(),
        dir.display()
    );

    let next = AtomicUsize::new(0);
    let wrong = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism()
        .map_or(4, |n| n.get())
        .clamp(2, 8);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let sandbox = Sandbox::new();
                while let Some(file) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let problems = check_corpus_file(&sandbox, file);
                    wrong.lock().unwrap().extend(problems);
                }
            });
        }
    });
    let wrong = wrong.into_inner().unwrap();
    assert!(
        wrong.is_empty(),
        "{} problem(s) over {} files:\n\n{}",
        wrong.len(),
        files.len(),
        wrong.join("\n\n")
    );
}

/// A playbook that is valid, to which the hostile inputs add their part.
const VALID: &str = "name: x\nsteps:\n  - id: a\n    action: shell\n    with: { run: \"true\" }\n";

#[test]
fn binary_file_is_refused_with_a_clear_message() {
    let sandbox = Sandbox::new();
    let mut bytes = b"\x7fELF\x02\x01\x01\x00".to_vec();
    bytes.extend((0..=255u8).cycle().take(4096));
    std::fs::write(sandbox.path().join("tool.yaml"), bytes).unwrap();
    let output = run_hostile(&sandbox, &["validate", "tool.yaml"]);
    output.expect_code(2);
    assert!(
        output.stderr.contains("tool.yaml") && output.stderr.contains("not UTF-8"),
        "{}",
        output.stderr
    );
}

#[test]
fn invalid_utf8_inside_a_playbook_is_refused() {
    let sandbox = Sandbox::new();
    let mut bytes = VALID.as_bytes().to_vec();
    bytes.extend(b"    name: caf\xe9\n");
    std::fs::write(sandbox.path().join("latin1.yaml"), bytes).unwrap();
    let output = run_hostile(&sandbox, &["validate", "latin1.yaml"]);
    output.expect_code(2);
    assert!(output.stderr.contains("not UTF-8"), "{}", output.stderr);
}

#[test]
fn nul_byte_inside_a_value_is_an_error() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "nul.yaml",
        "name: x\nsteps:\n  - id: a\n    action: shell\n    with: { run: \"echo a\0b\" }\n",
    );
    let output = run_hostile(&sandbox, &["validate", "nul.yaml"]);
    output.expect_code(2);
    assert!(
        location(output.stderr.lines().next().unwrap_or_default(), "nul.yaml").is_some(),
        "{}",
        output.stderr
    );
}

#[test]
fn nul_byte_does_not_end_the_playbook() {
    let sandbox = Sandbox::new();
    // Everything after the NUL is a second step with an unknown action.
    sandbox.write(
        "nul.yaml",
        &format!("{VALID}\0  - id: b\n    action: no-such-action\n"),
    );
    let output = run_hostile(&sandbox, &["validate", "nul.yaml"]);
    output.expect_code(2);
    assert!(
        output.stderr.starts_with("nul.yaml:6:"),
        "{}",
        output.stderr
    );
}

#[test]
fn ten_megabyte_description_is_validated_quickly() {
    let sandbox = Sandbox::new();
    let text = format!(
        "name: x\ndescription: \"{}\"\n{}",
        "a".repeat(10_000_000),
        &VALID["name: x\n".len()..]
    );
    sandbox.write("big.yaml", &text);
    let output = run_hostile(&sandbox, &["validate", "big.yaml"]);
    output.expect_code(0);
}

#[test]
fn ten_megabyte_line_in_an_error_is_shown_cut() {
    let sandbox = Sandbox::new();
    let text = format!("name: x\nsteps: {}\n", "a".repeat(10_000_000));
    sandbox.write("line.yaml", &text);
    let output = run_hostile(&sandbox, &["validate", "line.yaml"]);
    output.expect_code(2);
    assert!(
        output
            .stderr
            .starts_with("line.yaml:2:8: error: `steps` must be a list"),
        "{}",
        &output.stderr[..output.stderr.len().min(500)]
    );
    assert!(
        output.stderr.len() < 10_000,
        "the whole line was printed: {} bytes",
        output.stderr.len()
    );
}

#[test]
fn hundred_thousand_vars_are_validated_quickly() {
    let sandbox = Sandbox::new();
    let mut text = String::from("name: x\nvars:\n");
    for i in 0..100_000 {
        text.push_str(&format!("  v{i}: postgres://app@db-{i}.internal.example:5432/orders?application_name=cutover-{i:06}\n"));
    }
    text.push_str(
        "steps:\n  - id: a\n    action: shell\n    with: { run: \"echo ${{ vars.v99999 }}\" }\n",
    );
    assert!(text.len() > 9_000_000, "{} bytes", text.len());
    sandbox.write("vars.yaml", &text);
    let output = run_hostile(&sandbox, &["validate", "vars.yaml"]);
    output.expect_code(0);
}

#[test]
fn hundred_thousand_steps_are_validated_quickly() {
    let sandbox = Sandbox::new();
    let mut text = String::from("name: x\nsteps:\n");
    for i in 0..100_000 {
        text.push_str(&format!(
            "  - id: s{i}\n    action: shell\n    with: {{ run: \"echo {i}\" }}\n"
        ));
    }
    sandbox.write("steps.yaml", &text);
    let output = run_hostile(&sandbox, &["validate", "steps.yaml"]);
    output.expect_code(0);
}

#[test]
fn twenty_thousand_problems_are_reported_quickly() {
    let sandbox = Sandbox::new();
    let mut text = String::from(VALID);
    for i in 0..20_000 {
        text.push_str(&format!("unknown_{i}: value\n"));
    }
    sandbox.write("keys.yaml", &text);
    let output = run_hostile(&sandbox, &["validate", "keys.yaml"]);
    output.expect_code(2);
    assert!(
        output.stderr.contains("keys.yaml: 20000 problems found"),
        "{}",
        &output.stderr[output.stderr.len().saturating_sub(500)..]
    );
}

#[test]
fn hundred_thousand_open_brackets_are_an_error() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "deep.yaml",
        &format!("name: x\nsteps: {}\n", "[".repeat(100_000)),
    );
    let output = run_hostile(&sandbox, &["validate", "deep.yaml"]);
    output.expect_code(2);
    assert!(
        location(
            output.stderr.lines().next().unwrap_or_default(),
            "deep.yaml"
        )
        .is_some(),
        "{}",
        &output.stderr[..output.stderr.len().min(500)]
    );
}

#[test]
fn deep_block_nesting_is_an_error() {
    let sandbox = Sandbox::new();
    let mut text = String::from("name: x\nsteps:\n  - id: a\n    action: shell\n    with:\n      run: \"true\"\n      env:\n");
    for depth in 0..1_000 {
        text.push_str(&format!("{}k{depth}:\n", " ".repeat(8 + depth)));
    }
    sandbox.write("deep.yaml", &text);
    let output = run_hostile(&sandbox, &["validate", "deep.yaml"]);
    output.expect_code(2);
    let first = output.stderr.lines().next().unwrap_or_default();
    assert!(
        location(first, "deep.yaml").is_some() && first.contains("nested too deeply"),
        "{first}"
    );
}

/// Nine levels of nine aliases each: 9^9 (387 million) strings once expanded.
fn alias_bomb() -> String {
    let mut text = String::from("name: laughs\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    let mut previous = 'a';
    for level in b'b'..=b'i' {
        let level = level as char;
        let refs = vec![format!("*{previous}"); 9].join(",");
        text.push_str(&format!("{level}: &{level} [{refs}]\n"));
        previous = level;
    }
    text.push_str("steps: *i\n");
    text
}

#[test]
fn billion_laughs_is_an_error() {
    let sandbox = Sandbox::new();
    sandbox.write("lol.yaml", &alias_bomb());
    let output = run_hostile(&sandbox, &["validate", "lol.yaml"]);
    output.expect_code(2);
    let first = output.stderr.lines().next().unwrap_or_default();
    assert!(
        location(first, "lol.yaml").is_some() && first.contains("too many nodes"),
        "{}",
        output.stderr
    );
}

#[test]
fn aliased_long_string_does_not_exhaust_memory() {
    let sandbox = Sandbox::new();
    let aliases = vec!["*big"; 3_000].join(", ");
    let text = format!(
        "name: x\nvars:\n  big: &big \"{}\"\n  copies: [{aliases}]\nsteps: []\n",
        "a".repeat(1_000_000)
    );
    sandbox.write("bomb.yaml", &text);
    let output = run_hostile(&sandbox, &["validate", "bomb.yaml"]);
    output.expect_code(2);
    assert!(
        location(
            output.stderr.lines().next().unwrap_or_default(),
            "bomb.yaml"
        )
        .is_some(),
        "{}",
        output.stderr
    );
}

#[test]
fn directory_is_refused() {
    let sandbox = Sandbox::new();
    std::fs::create_dir(sandbox.path().join("playbook.yaml")).unwrap();
    let output = run_hostile(&sandbox, &["validate", "playbook.yaml"]);
    output.expect_code(2);
    assert!(
        output.stderr.contains("cannot read playbook playbook.yaml")
            && output.stderr.contains("directory"),
        "{}",
        output.stderr
    );
}

#[test]
fn missing_file_is_refused() {
    let sandbox = Sandbox::new();
    let output = run_hostile(&sandbox, &["validate", "nowhere.yaml"]);
    output.expect_code(2);
    assert!(
        output.stderr.contains("cannot read playbook nowhere.yaml")
            && output.stderr.contains("No such file"),
        "{}",
        output.stderr
    );
}
