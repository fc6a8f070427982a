//! `on_slow`: after a rehearsal measured a step, a live run where the same
//! step is made slow on purpose warns (and goes on), pauses after it for an
//! operator (and `resume` goes on), or ends it and rolls back.

use std::time::{Duration, Instant};

use crate::support::Sandbox;

fn playbook(on_slow: &str) -> String {
    format!(
        "name: slow-{on_slow}\non_slow: {on_slow}\nslow_factor: 2\nsteps:\n\
         \x20 - id: marker\n    action: maintenance.file\n    with: {{ path: started.flag, state: on }}\n\
         \x20 - id: load\n    action: shell\n    with: {{ run: \"sleep $LOAD_SECONDS\" }}\n\
         \x20 - id: after\n    action: shell\n    with: {{ run: touch after }}\n"
    )
}

/// A rehearsal with the step at 0.2 s: its p90 is then 0.2 s, slow past
/// 1.2 s (p90 × 2 is less than the 1 s that a step may always run past its p90).
fn rehearsed(on_slow: &str) -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", &playbook(on_slow));
    sandbox
        .run_with_env(
            &["run", "pb.yaml", "--rehearsal"],
            &[("LOAD_SECONDS", "0.2")],
        )
        .expect_code(0);
    std::fs::remove_file(sandbox.path().join("after")).unwrap();
    std::fs::remove_file(sandbox.path().join("started.flag")).unwrap();
    sandbox
}

fn slow_events(sandbox: &Sandbox) -> Vec<serde_json::Value> {
    sandbox
        .journal(&sandbox.last_run())
        .into_iter()
        .filter(|r| r["event"] == "step_slow")
        .map(|r| r["data"].clone())
        .collect()
}

#[test]
fn a_slow_step_warns_and_the_run_goes_on() {
    let sandbox = rehearsed("warn");
    let plan = sandbox.run(&["plan", "pb.yaml"]);
    assert!(
        plan.stdout.contains("on_slow   warn past ") && plan.stdout.contains("× 2)"),
        "{}",
        plan.stdout
    );
    let out = sandbox.run_with_env(&["run", "pb.yaml"], &[("LOAD_SECONDS", "2.5")]);
    out.expect_code(0);
    assert!(
        out.all()
            .contains("SLOW: `load` ran past its rehearsed p90"),
        "{}",
        out.all()
    );
    let slow = slow_events(&sandbox);
    assert_eq!(slow.len(), 1, "{slow:?}");
    assert_eq!(slow[0]["on_slow"], "warn");
    assert_eq!(slow[0]["factor"], 2.0);
    assert!(sandbox.path().join("after").exists());
}

#[test]
fn a_slow_step_with_pause_stops_after_it_for_an_operator_and_resume_goes_on() {
    let sandbox = rehearsed("pause");
    let out = sandbox.run_with_env(&["run", "pb.yaml"], &[("LOAD_SECONDS", "2.5")]);
    out.expect_code(4);
    assert!(out.all().contains("paused after `load`"), "{}", out.all());
    assert!(
        !sandbox.path().join("after").exists(),
        "stopped before the next step"
    );
    let run = sandbox.last_run();
    sandbox
        .run_with_env(&["resume", &run], &[("LOAD_SECONDS", "0")])
        .expect_code(0);
    assert!(sandbox.path().join("after").exists());
}

#[test]
fn a_slow_step_with_rollback_is_ended_and_the_run_rolls_back() {
    let sandbox = rehearsed("rollback");
    let started = Instant::now();
    let out = sandbox.run_with_env(&["run", "pb.yaml"], &[("LOAD_SECONDS", "30")]);
    out.expect_code(3);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "ended at the slow limit"
    );
    assert!(
        out.all().contains("ran past its rehearsed p90") && out.all().contains("on_slow: rollback"),
        "{}",
        out.all()
    );
    assert!(!sandbox.path().join("started.flag").exists(), "rolled back");
    assert_eq!(slow_events(&sandbox)[0]["on_slow"], "rollback");
}
