//! kill -9 at several points, then `cutover resume`: completed steps are not
//! repeated, a non-idempotent step in flight needs a decision, leftovers of the
//! killed attempt are gone before anything runs again, the journal verifies.

use std::time::Duration;

use crate::support::{kill9, marker, process_running, wait_gone, Sandbox};

/// A playbook whose second step blocks on a long process until killed.
fn playbook(tag: &str, idempotent: bool) -> String {
    format!(
        r#"name: crashy
steps:
  - id: first
    action: shell
    with: {{ run: "echo first >> log.txt" }}
  - id: slow
    action: shell
    with: {{ run: "echo slow >> log.txt; touch slow-started; test -f slow-may-finish || exec -a {tag} sleep 60" }}
    idempotent: {idempotent}
  - id: last
    action: shell
    with: {{ run: "echo last >> log.txt" }}
"#
    )
}

/// kill -9 of cutover *and* of its reaper (as if the machine's OOM killer took
/// both): the step's process survives, and only `resume` can settle it.
fn crash_during_slow(sandbox: &Sandbox, tag: &str) -> String {
    let mut child = sandbox.spawn(&["run", "pb.yaml"]);
    sandbox.wait_for_file("slow-started", Duration::from_secs(10));
    let id = sandbox.wait_for_journal("\"process_spawned\"", Duration::from_secs(5));
    // The shell execs the tagged sleep a moment after it is journaled.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !process_running(tag) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(process_running(tag));
    for reaper in children_of(child.id()) {
        unsafe_kill(reaper);
    }
    kill9(&mut child);
    assert!(
        process_running(tag),
        "the leftover survives when the reaper is gone too"
    );
    id
}

/// Pids whose parent is `parent` and that are not in the step's group: the reaper.
fn children_of(parent: u32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let fields: Vec<&str> = stat.rsplit(") ").next().unwrap_or("").split(' ').collect();
            fields.get(1) == Some(&parent.to_string().as_str())
                && String::from_utf8_lossy(&cmdline).contains("declare -A live")
        })
        .collect()
}

fn unsafe_kill(pid: i32) {
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
}

#[test]
fn a_steps_processes_die_with_cutover() {
    let sandbox = Sandbox::new();
    let tag = marker("dies-with-its-run");
    sandbox.write("pb.yaml", &playbook(&tag, false));
    let mut child = sandbox.spawn(&["run", "pb.yaml"]);
    sandbox.wait_for_file("slow-started", Duration::from_secs(10));
    sandbox.wait_for_journal("\"process_spawned\"", Duration::from_secs(5));
    assert!(process_running(&tag));
    kill9(&mut child);
    assert!(
        wait_gone(&tag, Duration::from_secs(5)),
        "the run's reaper kills a step's processes when cutover dies"
    );
}

#[test]
fn a_non_idempotent_step_in_flight_needs_a_decision() {
    let sandbox = Sandbox::new();
    let tag = marker("crash-decide");
    sandbox.write("pb.yaml", &playbook(&tag, false));
    let id = crash_during_slow(&sandbox, &tag);

    let undecided = sandbox.run(&["resume", &id]);
    undecided.expect_code(4);
    assert!(
        undecided.stderr.contains("--assume-done slow"),
        "{}",
        undecided.stderr
    );
    let lines_before = sandbox.journal_text(&id).lines().count();

    sandbox
        .run(&["resume", &id, "--assume-done", "slow"])
        .expect_code(0);
    assert_eq!(
        sandbox.read("log.txt"),
        "first\nslow\nlast\n",
        "nothing ran twice"
    );
    assert!(
        !process_running(&tag),
        "the killed attempt's process was settled"
    );
    let events = sandbox.events(&id);
    assert!(events.contains(&"step_decided:slow".to_string()));
    assert!(
        events.contains(&"process_settled:slow".to_string()),
        "{events:?}"
    );
    assert!(sandbox.journal_text(&id).lines().count() > lines_before);
    sandbox.run(&["audit", "verify", &id]).expect_code(0);
}

#[test]
fn an_idempotent_step_in_flight_is_run_again_without_asking() {
    let sandbox = Sandbox::new();
    let tag = marker("crash-idem");
    sandbox.write("pb.yaml", &playbook(&tag, true));
    let id = crash_during_slow(&sandbox, &tag);
    sandbox.write("slow-may-finish", "");
    sandbox.run(&["resume", &id]).expect_code(0);
    assert_eq!(
        sandbox.read("log.txt"),
        "first\nslow\nslow\nlast\n",
        "only the step in flight ran again"
    );
    assert!(wait_gone(&tag, Duration::from_secs(5)));
    sandbox.run(&["audit", "verify", &id]).expect_code(0);
}

#[test]
fn rerun_decision_kills_the_leftover_before_running_again() {
    let sandbox = Sandbox::new();
    let tag = marker("crash-rerun");
    sandbox.write("pb.yaml", &playbook(&tag, false));
    let id = crash_during_slow(&sandbox, &tag);
    sandbox.write("slow-may-finish", "");
    sandbox
        .run(&["resume", &id, "--rerun", "slow"])
        .expect_code(0);
    assert!(
        !process_running(&tag),
        "a leftover of the first attempt still runs beside the second"
    );
    assert_eq!(sandbox.read("log.txt"), "first\nslow\nslow\nlast\n");
}

#[test]
fn kill_between_steps_repeats_nothing() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        r#"name: between
steps:
  - id: one
    action: shell
    with: { run: "echo one >> log.txt" }
  - id: pause
    action: wait
    with: { duration: 30s }
  - id: two
    action: shell
    with: { run: "echo two >> log.txt" }
"#,
    );
    let mut child = sandbox.spawn(&["run", "pb.yaml"]);
    let id = sandbox.wait_for_journal(
        "\"step_started\",\"data\":{\"step\":\"pause\"",
        Duration::from_secs(10),
    );
    kill9(&mut child);
    // `wait` is idempotent: it is simply waited again. Shorten it for the test
    // by resuming with a decision that it is done.
    sandbox
        .run(&["resume", &id, "--assume-done", "pause"])
        .expect_code(0);
    assert_eq!(sandbox.read("log.txt"), "one\ntwo\n");
    sandbox.run(&["audit", "verify", &id]).expect_code(0);
    sandbox.run(&["resume", &id]).expect_code(0); // a finished run: nothing to do
    assert_eq!(sandbox.read("log.txt"), "one\ntwo\n");
}

#[test]
fn kill_during_a_rollback_then_resume_finishes_the_rollback() {
    let sandbox = Sandbox::new();
    let tag = marker("crash-undo");
    sandbox.write(
        "pb.yaml",
        &format!(
            r#"name: undo-crash
steps:
  - id: a
    action: shell
    with: {{ run: "echo a >> log.txt" }}
    rollback: {{ action: shell, with: {{ run: "echo undo-a >> log.txt" }} }}
  - id: b
    action: shell
    with: {{ run: "echo b >> log.txt" }}
    rollback: {{ action: shell, with: {{ run: "if mkdir undo-b-first 2>/dev/null; then touch undo-b-started; exec -a {tag} sleep 60; fi; echo undo-b >> log.txt" }} }}
  - id: boom
    action: shell
    with: {{ run: "exit 1" }}
"#
        ),
    );
    let mut child = sandbox.spawn(&["run", "pb.yaml"]);
    sandbox.wait_for_file("undo-b-started", Duration::from_secs(10));
    let id = sandbox.last_run();
    // The first attempt of undo-b never finishes (it sleeps until the
    // resume ends it); the resumed one does. No file the test writes after
    // the kill decides it, so a slow shell cannot finish the first attempt.
    kill9(&mut child);
    sandbox.run(&["resume", &id]).expect_code(3);
    assert_eq!(sandbox.read("log.txt"), "a\nb\nundo-b\nundo-a\n");
    assert!(!process_running(&tag));
    sandbox.run(&["audit", "verify", &id]).expect_code(0);
}

#[test]
fn a_line_cut_short_by_a_crash_is_set_aside_and_the_chain_goes_on() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", &playbook(&marker("partial"), true));
    sandbox.write("slow-may-finish", "");
    sandbox.run(&["run", "pb.yaml", "--dry-run"]).expect_code(0);
    let id = sandbox.last_run();
    // Simulate power loss mid-write of a next record, then an unfinished run.
    let path = sandbox.journal_path(&id);
    let text = sandbox.journal_text(&id);
    let without_end: String = text.lines().take(4).map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, format!("{without_end}{{\"seq\":5,\"ts\":\"2026")).unwrap();
    std::fs::remove_file(path.with_file_name("head")).unwrap();
    sandbox.run(&["audit", "verify", &id]).expect_code(1);
    sandbox.run(&["resume", &id]).expect_code(0);
    sandbox.run(&["audit", "verify", &id]).expect_code(0);
    assert!(path.with_extension("jsonl.partial").exists());
}
