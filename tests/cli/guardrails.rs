//! Guardrails: windows (fixed clock, daylight saving, midnight, end of week),
//! refusals and overrides, the checklist, rehearsal estimates, webhooks.

use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::Sandbox;

const WINDOW: &str = r#"window:
  timezone: Europe/Zurich
  allow: ["Sat 22:00 - Sun 06:00"]
  deny: ["Mon-Fri 07:00 - 19:00"]
  margin: 30m
"#;

fn windowed(estimate: &str) -> String {
    format!(
        "name: windowed\n{WINDOW}steps:\n  - id: copy\n    action: shell\n    with: {{ run: \"echo copied >> log.txt\" }}\n    estimate: {estimate}\n"
    )
}

fn outcome(sandbox: &Sandbox) -> serde_json::Value {
    let journal = sandbox.journal(&sandbox.last_run());
    journal
        .iter()
        .rev()
        .find(|r| r["event"] == "run_finished")
        .expect("run_finished")["data"]["outcome"]
        .clone()
}

#[test]
fn outside_the_window_is_refused_with_the_next_start_that_fits() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", &windowed("2h"));
    // Saturday 2026-12-05 14:00 in Zurich: before the night window.
    let output = sandbox.run(&["run", "pb.yaml", "--now", "2026-12-05T14:00"]);
    output.expect_code(5);
    assert!(
        output.stderr.contains("outside the allowed window"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("now: Sat 2026-12-05 14:00 CET"),
        "{}",
        output.stderr
    );
    assert!(
        output
            .stderr
            .contains("next start that fits: Sat 2026-12-05 22:00 CET"),
        "{}",
        output.stderr
    );
    assert!(output.stderr.contains("estimate: 2h"), "{}", output.stderr);
    assert!(!sandbox.path().join("log.txt").exists(), "nothing ran");
    assert_eq!(outcome(&sandbox), "refused");
}

#[test]
fn inside_the_window_across_midnight_runs() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", &windowed("2h"));
    sandbox
        .run(&["run", "pb.yaml", "--now", "2026-12-06T01:00"])
        .expect_code(0);
    assert_eq!(sandbox.read("log.txt"), "copied\n");
}

#[test]
fn an_estimate_that_overruns_the_window_end_minus_margin_is_refused() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", &windowed("5h"));
    // Sunday 01:00: 5 hours left, 4h30 with the margin.
    let output = sandbox.run(&["run", "pb.yaml", "--now", "2026-12-06T01:00"]);
    output.expect_code(5);
    assert!(
        output
            .stderr
            .contains("does not fit before the window closes at Sun 2026-12-06 06:00 CET"),
        "{}",
        output.stderr
    );
    // The next Saturday night has 8 hours: that is the next fit.
    assert!(
        output
            .stderr
            .contains("next start that fits: Sat 2026-12-12 22:00 CET"),
        "{}",
        output.stderr
    );
}

#[test]
fn the_night_the_clocks_go_back_fits_an_hour_more() {
    // Separate state: a first run's measured duration would replace the estimate.
    let (first, second) = (Sandbox::new(), Sandbox::new());
    first.write("pb.yaml", &windowed("8h15m"));
    second.write("pb.yaml", &windowed("8h15m"));
    // 2026-10-25: CEST → CET at 03:00, the night lasts 9 hours.
    first
        .run(&["run", "pb.yaml", "--now", "2026-10-24T22:00"])
        .expect_code(0);
    // A week later the same night lasts 8 hours: 8h15m + 30m margin does not fit.
    second
        .run(&["run", "pb.yaml", "--now", "2026-10-31T22:00"])
        .expect_code(5);
}

#[test]
fn peak_hours_are_denied_even_without_allow_ranges() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        "name: peak\nwindow:\n  timezone: Europe/Zurich\n  deny: [\"Mon-Fri 07:00 - 19:00\"]\nsteps:\n  - id: a\n    action: shell\n    with: { run: 'true' }\n",
    );
    let output = sandbox.run(&["run", "pb.yaml", "--now", "2026-12-07T09:00"]);
    output.expect_code(5);
    assert!(
        output
            .stderr
            .contains("next start that fits: Mon 2026-12-07 19:00 CET"),
        "{}",
        output.stderr
    );
    sandbox
        .run(&["run", "pb.yaml", "--now", "2026-12-07T20:00"])
        .expect_code(0);
}

#[test]
fn an_override_runs_and_is_journaled_with_its_reason() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", &windowed("2h"));
    sandbox
        .run(&[
            "run",
            "pb.yaml",
            "--now",
            "2026-12-07T09:00",
            "--override-window",
            "--reason",
            "CHG-42 disk failing",
            "--operator",
            "dana",
        ])
        .expect_code(0);
    let journal = sandbox.journal(&sandbox.last_run());
    let overridden = journal
        .iter()
        .find(|r| r["event"] == "window_overridden")
        .expect("journaled");
    assert_eq!(overridden["data"]["reason"], "CHG-42 disk failing");
    assert_eq!(overridden["data"]["operator"], "dana");
    let report = sandbox.run(&[
        "audit",
        "report",
        &sandbox.last_run(),
        "--format",
        "markdown",
        "--out",
        "-",
    ]);
    assert!(
        report
            .stdout
            .contains("**Overridden** by dana: CHG-42 disk failing"),
        "{}",
        report.stdout
    );
}

#[test]
fn a_rehearsal_outside_the_window_only_warns() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", &windowed("2h"));
    let output = sandbox.run(&["run", "pb.yaml", "--rehearsal", "--now", "2026-12-07T09:00"]);
    output.expect_code(0);
    assert!(
        output.all().contains("a live run would be refused"),
        "{}",
        output.all()
    );
    assert_eq!(
        sandbox.journal(&sandbox.last_run())[0]["data"]["mode"],
        "rehearsal"
    );
}

/// The window closes a second after the run starts; the first step outlasts it.
fn overrun_playbook(on_overrun: &str) -> String {
    format!(
        r#"name: overrun
window:
  timezone: UTC
  allow: ["2026-12-06T04:00 - 2026-12-06T06:00"]
  on_overrun: {on_overrun}
steps:
  - id: first
    action: shell
    with: {{ run: "sleep 1.5; echo first >> log.txt" }}
    rollback: {{ action: shell, with: {{ run: "echo undo-first >> log.txt" }} }}
    estimate: 300ms
  - id: second
    action: shell
    with: {{ run: "echo second >> log.txt" }}
    estimate: 300ms
"#
    )
}

#[test]
fn overrunning_the_window_mid_run_rolls_back_by_default() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", &overrun_playbook("rollback"));
    sandbox
        .run(&["run", "pb.yaml", "--now", "2026-12-06T05:59:59Z"])
        .expect_code(3);
    assert_eq!(sandbox.read("log.txt"), "first\nundo-first\n");
    assert!(sandbox
        .events(&sandbox.last_run())
        .contains(&"window_overrun:second".to_string()));
}

#[test]
fn overrunning_with_pause_stops_for_an_operator_who_can_resume() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", &overrun_playbook("pause"));
    let output = sandbox.run(&["run", "pb.yaml", "--now", "2026-12-06T05:59:59Z"]);
    output.expect_code(4);
    assert!(
        output.stderr.contains("paused before `second`"),
        "{}",
        output.stderr
    );
    assert_eq!(sandbox.read("log.txt"), "first\n");
    let id = sandbox.last_run();
    sandbox
        .run(&["resume", &id, "--override-window", "--reason", "finish it"])
        .expect_code(0);
    assert_eq!(sandbox.read("log.txt"), "first\nsecond\n");
}

const CHECKLIST: &str = r#"name: checked
checklist:
  - id: backup-restored
    text: Last night's backup was restored on staging and opened.
  - id: disk-free
    text: The target has room for the copy.
    verify: { action: shell, with: { run: "test ! -f full" } }
steps:
  - id: copy
    action: shell
    with: { run: "echo copied >> log.txt" }
"#;

#[test]
fn an_unconfirmed_checklist_refuses_and_lists_what_is_missing() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", CHECKLIST);
    let output = sandbox.run(&["run", "pb.yaml", "--confirm", "disk-free"]);
    output.expect_code(5);
    assert!(
        output.stderr.contains("not confirmed: `backup-restored`"),
        "{}",
        output.stderr
    );
    assert!(
        !output.stderr.contains("`disk-free` ("),
        "{}",
        output.stderr
    );
    assert!(!sandbox.path().join("log.txt").exists());
}

#[test]
fn a_checklist_file_confirms_and_each_confirmation_is_journaled() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", CHECKLIST);
    sandbox.write(
        "confirmed.txt",
        "# signed off in CHG-42\nbackup-restored\ndisk-free\n",
    );
    sandbox
        .run(&[
            "run",
            "pb.yaml",
            "--checklist-file",
            "confirmed.txt",
            "--operator",
            "erin",
        ])
        .expect_code(0);
    let journal = sandbox.journal(&sandbox.last_run());
    let confirmed: Vec<_> = journal
        .iter()
        .filter(|r| r["event"] == "checklist_confirmed")
        .collect();
    assert_eq!(confirmed.len(), 2);
    assert_eq!(confirmed[0]["data"]["operator"], "erin");
    assert!(confirmed[0]["data"]["how"]
        .as_str()
        .unwrap()
        .contains("confirmed.txt"));
    let verified = journal
        .iter()
        .find(|r| r["event"] == "checklist_verified")
        .unwrap();
    assert_eq!(verified["data"]["ok"], true);
}

#[test]
fn a_failing_verify_refuses_even_when_confirmed() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", CHECKLIST);
    sandbox.write("full", "");
    let output = sandbox.run(&[
        "run",
        "pb.yaml",
        "--confirm",
        "backup-restored",
        "--confirm",
        "disk-free",
    ]);
    output.expect_code(5);
    assert!(
        output.stderr.contains("checks failed: `disk-free`"),
        "{}",
        output.stderr
    );
    assert!(!sandbox.path().join("log.txt").exists());
}

#[test]
fn a_dry_run_shows_the_missing_checklist_without_blocking() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", CHECKLIST);
    let output = sandbox.run(&["run", "pb.yaml", "--dry-run"]);
    output.expect_code(0);
    assert!(
        output.all().contains("not confirmed: `backup-restored`"),
        "{}",
        output.all()
    );
}

#[test]
fn rehearsals_become_the_estimates_of_later_runs() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        "name: measured\nvars:\n  target: prod\nsteps:\n  - id: copy\n    action: shell\n    with: { run: \"sleep 0.3; echo ${{ vars.target }} >> targets.txt\" }\n    estimate: 4h\n",
    );
    sandbox.write("staging.yaml", "target: staging\n");
    let before = sandbox.run(&["plan", "pb.yaml"]);
    assert!(
        before.stdout.contains("estimate 4h (playbook)"),
        "{}",
        before.stdout
    );
    for _ in 0..2 {
        sandbox
            .run(&["run", "pb.yaml", "--rehearsal", "--vars", "staging.yaml"])
            .expect_code(0);
    }
    sandbox.run(&["run", "pb.yaml", "--dry-run"]).expect_code(0); // measures nothing
    assert_eq!(
        sandbox.read("targets.txt"),
        "staging\nstaging\n",
        "--vars replaced the target"
    );
    let after = sandbox.run(&["plan", "pb.yaml", "--output", "json"]);
    let plan: serde_json::Value = serde_json::from_str(&after.stdout).unwrap();
    let copy = &plan["items"][0];
    assert_eq!(copy["estimate_source"]["from"], "history");
    assert_eq!(copy["estimate_source"]["runs"], 2);
    let estimate = copy["estimate_ms"].as_u64().unwrap();
    assert!(
        (300..2000).contains(&estimate),
        "median of the rehearsals, not the 4h guess: {estimate}"
    );
    let list = sandbox.run(&["audit", "list", "--mode", "rehearsal"]);
    assert_eq!(
        list.stdout.lines().count(),
        3,
        "header + 2 rehearsals:\n{}",
        list.stdout
    );
}

/// A webhook receiver: answers 200 and keeps each request body.
fn receiver() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/hook/secret-token",
        listener.local_addr().unwrap()
    );
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let (_, body) = crate::support::read_http_request(&mut stream);
            if let Ok(body) = serde_json::from_slice(&body) {
                seen.lock().unwrap().push(body);
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    (url, bodies)
}

#[test]
fn webhooks_hear_about_start_failure_rollback_and_end() {
    let sandbox = Sandbox::new();
    let (url, bodies) = receiver();
    sandbox.write(
        "pb.yaml",
        "name: noisy\nsecrets: [HOOK_URL]\nnotify:\n  - url: \"${{ secrets.HOOK_URL }}\"\n    headers: { X-Team: dba }\nsteps:\n  - id: a\n    action: shell\n    with: { run: 'true' }\n    rollback: { action: shell, with: { run: 'true' } }\n  - id: boom\n    action: shell\n    with: { run: 'exit 1' }\n",
    );
    sandbox
        .run_with_env(&["run", "pb.yaml"], &[("HOOK_URL", &url)])
        .expect_code(3);
    let bodies = bodies.lock().unwrap().clone();
    let events: Vec<&str> = bodies.iter().filter_map(|b| b["event"].as_str()).collect();
    for expected in [
        "run_started",
        "step_failed",
        "rollback_started",
        "rollback_finished",
        "run_finished",
    ] {
        assert!(
            events.contains(&expected),
            "{expected} missing from {events:?}"
        );
    }
    let finished = bodies
        .iter()
        .find(|b| b["event"] == "run_finished")
        .unwrap();
    assert_eq!(finished["outcome"], "rolled_back");
    assert!(finished["text"]
        .as_str()
        .unwrap()
        .contains("cutover `noisy`"));
    let journal = sandbox.journal_text(&sandbox.last_run());
    assert!(journal.contains("notification_sent"));
    // The head exported: seq and hash of the `run_finished` line itself, which
    // the journal must still carry (a chain rewritten later would not).
    let seq = finished["head"]["seq"].as_u64().expect("head.seq") as usize;
    let hash = finished["head"]["hash"].as_str().expect("head.hash");
    let line = journal.lines().nth(seq - 1).unwrap();
    assert!(line.contains("\"event\":\"run_finished\""), "{line}");
    assert!(
        line.ends_with(&format!("\"hash\":\"{hash}\"}}")),
        "{line} / {hash}"
    );
    assert!(
        !journal.contains("secret-token"),
        "the webhook URL came from a secret"
    );
}

#[test]
fn a_dead_webhook_never_fails_the_run() {
    let sandbox = Sandbox::new();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    sandbox.write(
        "pb.yaml",
        &format!("name: quiet\nnotify:\n  - url: http://127.0.0.1:{port}/hook\nsteps:\n  - id: a\n    action: shell\n    with: {{ run: 'true' }}\n"),
    );
    sandbox.run(&["run", "pb.yaml"]).expect_code(0);
    let failures = sandbox
        .events(&sandbox.last_run())
        .iter()
        .filter(|e| *e == "notification_failed")
        .count();
    assert!(
        failures >= 2,
        "start and finish were attempted and journaled"
    );
}

#[test]
fn audit_diff_compares_a_rehearsal_with_the_live_run() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        "name: diffed\nsteps:\n  - id: copy\n    action: shell\n    with: { run: 'sleep 0.2' }\n",
    );
    sandbox
        .run(&["run", "pb.yaml", "--rehearsal"])
        .expect_code(0);
    sandbox.write("pb.yaml", "name: diffed\nsteps:\n  - id: copy\n    action: shell\n    with: { run: 'sleep 0.4' }\n  - id: smoke\n    action: shell\n    with: { run: 'true' }\n");
    sandbox.run(&["run", "pb.yaml"]).expect_code(0);
    let ids = sandbox.run_ids();
    let diff = sandbox.run(&["audit", "diff", &ids[0], &ids[1]]);
    diff.expect_code(0);
    let copy = diff.stdout.lines().find(|l| l.starts_with("copy")).unwrap();
    assert!(copy.contains('+') && copy.contains('%'), "{copy}");
    assert!(
        diff.stdout
            .lines()
            .any(|l| l.starts_with("smoke") && l.contains("only in B")),
        "{}",
        diff.stdout
    );
}

#[test]
fn the_html_report_carries_the_key_facts() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", CHECKLIST);
    sandbox
        .run(&[
            "run",
            "pb.yaml",
            "--confirm",
            "backup-restored",
            "--confirm",
            "disk-free",
            "--operator",
            "frank",
        ])
        .expect_code(0);
    let id = sandbox.last_run();
    let output = sandbox.run(&["audit", "report", &id]);
    output.expect_code(0);
    let html = sandbox.read(&format!("cutover-{id}.html"));
    for fact in [
        "checked",
        "frank",
        "backup-restored",
        "hash chain verifies",
        "<svg",
        "done",
    ] {
        assert!(html.contains(fact), "{fact} missing");
    }
    assert!(!html.contains("<script"), "self-contained and inert");
}

#[test]
fn fail_at_in_a_rehearsal_rolls_back_for_real() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        "name: rehearsed\nsteps:\n  - id: a\n    action: shell\n    with: { run: 'echo a >> log.txt' }\n    rollback: { action: shell, with: { run: 'echo undo-a >> log.txt' } }\n  - id: b\n    action: shell\n    with: { run: 'echo b >> log.txt' }\n",
    );
    sandbox
        .run(&["run", "pb.yaml", "--rehearsal", "--fail-at", "b"])
        .expect_code(3);
    assert_eq!(
        sandbox.read("log.txt"),
        "a\nundo-a\n",
        "b never ran; a's rollback did"
    );
    sandbox
        .run(&["run", "pb.yaml", "--fail-at", "b"])
        .expect_code(2); // not in a live run
}

#[test]
fn a_verify_gets_its_retries() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        "name: flaky-check\nchecklist:\n  - id: ready\n    text: The target is ready\n    verify: { action: shell, with: { run: 'echo x >> tries; test $(wc -l < tries) -ge 3' }, retries: { attempts: 3, backoff: 10ms } }\nsteps:\n  - id: a\n    action: shell\n    with: { run: 'true' }\n",
    );
    sandbox
        .run(&["run", "pb.yaml", "--confirm", "ready"])
        .expect_code(0);
    assert_eq!(sandbox.read("tries").lines().count(), 3);
}

#[test]
fn a_run_killed_before_its_first_step_passes_the_guardrails_again_on_resume() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        "name: guarded-resume\nchecklist:\n  - id: ready\n    text: The target is ready\n    verify: { action: shell, with: { run: 'touch verifying; test -f fast || sleep 30' } }\nsteps:\n  - id: a\n    action: shell\n    with: { run: 'echo a >> log.txt' }\n",
    );
    let mut child = sandbox.spawn(&["run", "pb.yaml", "--confirm", "ready"]);
    sandbox.wait_for_file("verifying", Duration::from_secs(10));
    crate::support::kill9(&mut child);
    let id = sandbox.last_run();
    sandbox.write("fast", "");
    let refused = sandbox.run(&["resume", &id]);
    refused.expect_code(5);
    assert!(
        refused.stderr.contains("not confirmed: `ready`"),
        "{}",
        refused.stderr
    );
    assert!(
        !sandbox.path().join("log.txt").exists(),
        "no step ran without the checklist"
    );
}
