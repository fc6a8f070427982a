//! `cutover run`: order, rollback to checkpoints, the point of no return,
//! failed rollbacks, timeouts, dry runs, approvals and signals.

use std::time::Duration;

use crate::support::{marker, process_running, signal, wait_gone, Sandbox};

/// Steps that log what they do (and undo) into `log.txt`, so tests assert on
/// real side effects, not on the engine's account of them.
fn logging_playbook(tail: &str) -> String {
    format!(
        r#"name: logged
steps:
  - id: a
    action: shell
    with: {{ run: "echo a >> log.txt" }}
    rollback: {{ action: shell, with: {{ run: "echo undo-a >> log.txt" }} }}
  - id: b
    action: shell
    with: {{ run: "echo b >> log.txt" }}
    rollback: {{ action: shell, with: {{ run: "echo undo-b >> log.txt" }} }}
{tail}"#
    )
}

fn log(sandbox: &Sandbox) -> Vec<String> {
    sandbox
        .read("log.txt")
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_failure_undoes_completed_steps_newest_first_and_exits_3() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &logging_playbook(
            r#"  - id: c
    action: shell
    with: { run: "echo c >> log.txt" }
    rollback: { action: shell, with: { run: "echo undo-c >> log.txt" } }
  - id: boom
    action: shell
    with: { run: "echo about to fail; exit 7" }
  - id: never
    action: shell
    with: { run: "echo never >> log.txt" }
"#,
        ),
    );
    let output = sandbox.run(&["run", "pb.yaml"]);
    output.expect_code(3);
    assert_eq!(log(&sandbox), ["a", "b", "c", "undo-c", "undo-b", "undo-a"]);
    assert!(output.stderr.contains("rolled back"), "{}", output.stderr);
    let id = sandbox.last_run();
    let events = sandbox.events(&id);
    assert!(events.contains(&"step_failed:boom".to_string()));
    assert_eq!(events.last().unwrap(), "run_finished");
    let failed = sandbox
        .journal(&id)
        .into_iter()
        .find(|r| r["event"] == "step_failed")
        .unwrap();
    assert_eq!(failed["data"]["exit_status"], 7);
    assert!(failed["data"]["output_tail"]
        .as_str()
        .unwrap()
        .contains("about to fail"));
}

#[test]
fn rollback_stops_at_the_most_recent_checkpoint() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &logging_playbook(
            r#"  - checkpoint: after-b
  - id: c
    action: shell
    with: { run: "echo c >> log.txt" }
    rollback: { action: shell, with: { run: "echo undo-c >> log.txt" } }
  - id: d
    action: shell
    with: { run: "echo d >> log.txt" }
    rollback: none
  - id: boom
    action: shell
    with: { run: "exit 1" }
"#,
        ),
    );
    sandbox.run(&["run", "pb.yaml"]).expect_code(3);
    assert_eq!(log(&sandbox), ["a", "b", "c", "d", "undo-c"]);
    let rollback = sandbox
        .journal(&sandbox.last_run())
        .into_iter()
        .find(|r| r["event"] == "rollback_started")
        .unwrap();
    assert_eq!(rollback["data"]["checkpoint"], "after-b");
    assert_eq!(rollback["data"]["steps"], serde_json::json!(["c"]));
}

#[test]
fn implied_rollback_turns_maintenance_off_again() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        r#"name: implied
steps:
  - id: maintenance
    action: maintenance.file
    with: { path: maintenance.on, state: on }
  - id: boom
    action: shell
    with: { run: "test -f maintenance.on && exit 1" }
"#,
    );
    sandbox.run(&["run", "pb.yaml"]).expect_code(3);
    assert!(
        !sandbox.path().join("maintenance.on").exists(),
        "the implied inverse removed the flag file"
    );
    let plan = sandbox.run(&["plan", "pb.yaml"]);
    assert!(
        plan.stdout.contains("implied: turn maintenance off"),
        "{}",
        plan.stdout
    );
}

#[test]
fn a_failure_past_the_point_of_no_return_rolls_nothing_back_and_exits_4() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &logging_playbook(
            r#"  - id: swap
    action: shell
    with: { run: "echo swap >> log.txt" }
    rollback: { action: shell, with: { run: "echo undo-swap >> log.txt" } }
    point_of_no_return: true
  - id: smoke
    action: shell
    with: { run: "test -f healthy" }
"#,
        ),
    );
    let output = sandbox.run(&["run", "pb.yaml"]);
    output.expect_code(4);
    assert_eq!(
        log(&sandbox),
        ["a", "b", "swap"],
        "nothing undone by itself"
    );
    let id = sandbox.last_run();
    assert!(
        output.stderr.contains("point of no return"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains(&format!("cutover rollback {id}")),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("`swap`, then `b`, then `a`"),
        "{}",
        output.stderr
    );

    // The operator decides to go back.
    sandbox.run(&["rollback", &id]).expect_code(3);
    assert_eq!(
        log(&sandbox),
        ["a", "b", "swap", "undo-swap", "undo-b", "undo-a"]
    );
    sandbox.run(&["audit", "verify", &id]).expect_code(0);
}

#[test]
fn resume_retries_the_failed_step_past_the_point_of_no_return() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &logging_playbook(
            r#"  - id: swap
    action: shell
    with: { run: "echo swap >> log.txt" }
    point_of_no_return: true
  - id: smoke
    action: shell
    with: { run: "test -f healthy && echo smoke >> log.txt" }
"#,
        ),
    );
    sandbox.run(&["run", "pb.yaml"]).expect_code(4);
    let id = sandbox.last_run();
    sandbox.write("healthy", "");
    sandbox.run(&["resume", &id]).expect_code(0);
    assert_eq!(
        log(&sandbox),
        ["a", "b", "swap", "smoke"],
        "completed steps are not repeated"
    );
    sandbox.run(&["audit", "verify", &id]).expect_code(0);
}

#[test]
fn a_rollback_that_keeps_failing_exits_4_with_an_account_and_resume_finishes_it() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        r#"name: stuck
steps:
  - id: a
    action: shell
    with: { run: "echo a >> log.txt" }
    rollback: { action: shell, with: { run: "echo undo-a >> log.txt" } }
  - id: b
    action: shell
    with: { run: "echo b >> log.txt" }
    rollback:
      action: shell
      with: { run: "test -f fixed && echo undo-b >> log.txt" }
      retries: { attempts: 2, backoff: 10ms }
  - id: boom
    action: shell
    with: { run: "exit 1" }
"#,
    );
    let output = sandbox.run(&["run", "pb.yaml"]);
    output.expect_code(4);
    assert!(
        output.stderr.contains("the rollback of `b` failed"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("not undone: `b`, `a`"),
        "{}",
        output.stderr
    );
    assert_eq!(
        log(&sandbox),
        ["a", "b"],
        "older compensations wait for the failed one"
    );
    let id = sandbox.last_run();
    let failures = sandbox
        .events(&id)
        .iter()
        .filter(|e| *e == "compensation_failed:b")
        .count();
    assert_eq!(failures, 2, "retried as configured");

    sandbox.write("fixed", "");
    sandbox.run(&["resume", &id]).expect_code(3);
    assert_eq!(log(&sandbox), ["a", "b", "undo-b", "undo-a"]);
    sandbox.run(&["audit", "verify", &id]).expect_code(0);
}

#[test]
fn retries_then_success_completes_the_run() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        r#"name: flaky
steps:
  - id: flaky
    action: shell
    with: { run: "echo x >> tries; test $(wc -l < tries) -ge 3" }
    retries: { attempts: 3, backoff: 10ms }
"#,
    );
    sandbox.run(&["run", "pb.yaml"]).expect_code(0);
    assert_eq!(sandbox.read("tries").lines().count(), 3);
    let events = sandbox.events(&sandbox.last_run());
    assert_eq!(
        events
            .iter()
            .filter(|e| *e == "step_retrying:flaky")
            .count(),
        2
    );
}

#[test]
fn a_timeout_fails_the_step_and_kills_its_processes() {
    let sandbox = Sandbox::new();
    let tag = marker("timeout");
    sandbox.write(
        "pb.yaml",
        &format!(
            r#"name: slow
steps:
  - id: slow
    action: shell
    with: {{ run: "echo working hard; (exec -a {tag} sleep 30) & (exec -a {tag} sleep 31); wait" }}
    timeout: 300ms
"#
        ),
    );
    let started = std::time::Instant::now();
    sandbox.run(&["run", "pb.yaml"]).expect_code(3);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        wait_gone(&tag, Duration::from_secs(5)),
        "the step's processes outlived its timeout"
    );
    let failed = sandbox
        .journal(&sandbox.last_run())
        .into_iter()
        .find(|r| r["event"] == "step_failed")
        .unwrap();
    assert_eq!(failed["data"]["timed_out"], true);
    assert_eq!(
        failed["data"]["output_tail"], "working hard",
        "the output of a timed-out attempt is kept"
    );
}

#[test]
fn dry_run_runs_nothing_and_rehearses_the_rollback() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &logging_playbook(
            r#"  - id: gate
    action: approve
    with: { text: "go?" }
  - id: c
    action: shell
    with: { run: "echo c >> log.txt" }
"#,
        ),
    );
    let output = sandbox.run(&["run", "pb.yaml", "--dry-run", "--fail-at", "c"]);
    output.expect_code(3);
    assert!(
        !sandbox.path().join("log.txt").exists(),
        "a dry run ran a command"
    );
    assert!(
        output.stdout.contains("would run `echo a >> log.txt`"),
        "{}",
        output.stdout
    );
    let id = sandbox.last_run();
    let journal = sandbox.journal(&id);
    assert_eq!(journal[0]["data"]["mode"], "dry_run");
    let undone: Vec<String> = sandbox
        .events(&id)
        .into_iter()
        .filter(|e| e.starts_with("compensation_finished"))
        .collect();
    assert_eq!(
        undone,
        ["compensation_finished:b", "compensation_finished:a"]
    );

    sandbox.run(&["run", "pb.yaml", "--dry-run"]).expect_code(0);
    assert!(!sandbox.path().join("log.txt").exists());
}

#[test]
fn approval_gates_need_an_operator() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        r#"name: gated
steps:
  - id: before
    action: shell
    with: { run: "echo before >> log.txt" }
  - id: go-ahead
    action: approve
    with: { text: "Swap traffic?" }
  - id: after
    action: shell
    with: { run: "echo after >> log.txt" }
"#,
    );
    let refused = sandbox.run(&["run", "pb.yaml"]);
    refused.expect_code(5);
    assert!(
        refused.stderr.contains("--approve go-ahead"),
        "{}",
        refused.stderr
    );
    assert!(
        !sandbox.path().join("log.txt").exists(),
        "refused before doing anything"
    );

    sandbox
        .run(&[
            "run",
            "pb.yaml",
            "--approve",
            "go-ahead",
            "--operator",
            "alice",
        ])
        .expect_code(0);
    assert_eq!(sandbox.read("log.txt"), "before\nafter\n");
    let approval = sandbox
        .journal(&sandbox.last_run())
        .into_iter()
        .find(|r| r["step"] == "go-ahead" && r["event"] == "step_finished")
        .unwrap();
    assert_eq!(approval["data"]["applied"]["operator"], "alice");
    assert_eq!(approval["data"]["applied"]["how"], "--approve");
}

#[test]
fn sigterm_mid_step_rolls_back_to_the_last_checkpoint() {
    let sandbox = Sandbox::new();
    let tag = marker("sigterm");
    sandbox.write(
        "pb.yaml",
        &format!(
            r#"name: interrupted
steps:
  - id: a
    action: shell
    with: {{ run: "echo a >> log.txt" }}
    rollback: {{ action: shell, with: {{ run: "echo undo-a >> log.txt" }} }}
  - id: long
    action: shell
    with: {{ run: "touch started; exec -a {tag} sleep 60" }}
"#
        ),
    );
    let mut child = sandbox.spawn(&["run", "pb.yaml"]);
    sandbox.wait_for_file("started", Duration::from_secs(10));
    signal(&child, 15);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3));
    assert_eq!(log(&sandbox), ["a", "undo-a"]);
    assert!(
        !process_running(&tag) || wait_gone(&tag, Duration::from_secs(5)),
        "the step's process survived"
    );
    let events = sandbox.events(&sandbox.last_run());
    assert!(events.contains(&"interrupted".to_string()), "{events:?}");
    sandbox
        .run(&["audit", "verify", &sandbox.last_run()])
        .expect_code(0);
}

#[test]
fn json_output_streams_the_journal_records() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        "name: j\nsteps:\n  - id: one\n    action: shell\n    with: { run: echo hi }\n",
    );
    let output = sandbox.run(&["run", "pb.yaml", "--output", "json"]);
    output.expect_code(0);
    let records: Vec<serde_json::Value> = output
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events: Vec<&str> = records
        .iter()
        .filter_map(|r| r["event"].as_str())
        .filter(|e| *e != "process_spawned")
        .collect();
    assert_eq!(
        events,
        [
            "run_started",
            "step_started",
            "step_finished",
            "run_finished"
        ]
    );
    assert!(records
        .iter()
        .any(|r| r["progress"] == "output" && r["line"] == "hi"));
}

#[test]
fn a_rollback_that_only_sets_backoff_keeps_its_three_attempts() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        r#"name: backoff-only
steps:
  - id: a
    action: shell
    with: { run: "true" }
    rollback: { action: shell, with: { run: "echo try >> undo.txt; exit 1" }, retries: { backoff: 10ms } }
  - id: boom
    action: shell
    with: { run: "exit 1" }
"#,
    );
    sandbox.run(&["run", "pb.yaml"]).expect_code(4);
    assert_eq!(sandbox.read("undo.txt").lines().count(), 3);
}

#[test]
fn a_playbook_name_cannot_escape_the_state_directory() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        "name: ../escape\nsteps:\n  - id: a\n    action: shell\n    with: { run: 'true' }\n",
    );
    let output = sandbox.run(&["run", "pb.yaml"]);
    output.expect_code(2);
    assert!(output.stderr.contains("pb.yaml:1:7"), "{}", output.stderr);
    assert!(
        !sandbox.path().join("escape.lock").exists() && !sandbox.path().join(".cutover").exists()
    );
}

#[test]
fn resume_without_a_terminal_refuses_before_an_unapproved_gate() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        r#"name: gate-after-crash
steps:
  - id: a
    action: shell
    with: { run: "echo a >> log.txt" }
  - id: swap
    action: shell
    with: { run: "echo swap >> log.txt" }
    point_of_no_return: true
  - id: check
    action: shell
    with: { run: "echo check >> log.txt; test -f ok" }
  - id: gate
    action: approve
  - id: b
    action: shell
    with: { run: "echo b >> log.txt" }
"#,
    );
    sandbox
        .run(&["run", "pb.yaml", "--approve", "gate"])
        .expect_code(4);
    let id = sandbox.last_run();
    sandbox.write("ok", "");
    let refused = sandbox.run(&["resume", &id]);
    refused.expect_code(5);
    assert!(
        refused.stderr.contains("--approve gate"),
        "{}",
        refused.stderr
    );
    assert_eq!(sandbox.read("log.txt"), "a\nswap\ncheck\n", "nothing ran");
    sandbox
        .run(&["resume", &id, "--approve", "gate"])
        .expect_code(0);
    assert_eq!(sandbox.read("log.txt"), "a\nswap\ncheck\ncheck\nb\n");
}
