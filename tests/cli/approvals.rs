//! Two-person approvals: an `approve` gate with `approvers: 2` waits until
//! two different operators approved — the run's own (`--approve` or the
//! prompt) and another with `cutover approve RUN STEP --operator NAME` from
//! another shell — each journaled with who and how; the same name never
//! counts twice, and `from` limits who may.

use std::time::Duration;

use crate::support::Sandbox;

fn playbook(gate: &str) -> String {
    format!(
        "name: two-person\nsteps:\n  - id: prepare\n    action: wait\n    with: {{ duration: 10ms }}\n  - id: gate\n    action: approve\n    with: {{ text: \"Swap now?\"{gate} }}\n    timeout: 1m\n  - id: swap\n    action: shell\n    with: {{ run: \"touch swapped\" }}\n"
    )
}

/// The operators whose approvals the run journaled, in order.
fn approvals(sandbox: &Sandbox) -> Vec<(String, String)> {
    sandbox
        .journal(&sandbox.last_run())
        .into_iter()
        .filter(|r| r["event"] == "step_noted" && r["step"] == "gate")
        .map(|r| {
            let approval = &r["data"]["note"]["approval"];
            (
                approval["operator"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                approval["how"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// `cutover run pb.yaml ARGS…` in the background, its output kept.
fn start(sandbox: &Sandbox, args: &[&str]) -> std::process::Child {
    let mut all = vec!["run", "pb.yaml"];
    all.extend_from_slice(args);
    sandbox
        .command(&all)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for the run and checks it completed.
#[track_caller]
fn expect_done(child: std::process::Child) {
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn approve_as(sandbox: &Sandbox, run: &str, name: &str) -> crate::support::Output {
    sandbox.run(&["approve", run, "gate", "--operator", name])
}

#[test]
fn a_two_person_gate_waits_for_a_second_operator_and_refuses_the_same_name_twice() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", &playbook(", approvers: 2"));
    let child = start(&sandbox, &["--approve", "gate", "--operator", "alice"]);
    let run = sandbox.wait_for_journal(
        "\"approval\":{\"count\":1,\"how\":\"--approve\",\"operator\":\"alice\"}",
        Duration::from_secs(20),
    );
    assert!(
        !sandbox.path().join("swapped").exists(),
        "the gate let one operator through"
    );
    // alice approved by `--approve`; she cannot be the second.
    let out = approve_as(&sandbox, &run, "alice");
    out.expect_code(5);
    assert!(
        out.stderr.contains("alice has approved `gate` already"),
        "{}",
        out.stderr
    );
    approve_as(&sandbox, &run, "bob").expect_code(0);
    // bob cannot count twice either.
    approve_as(&sandbox, &run, "bob").expect_code(5);
    expect_done(child);
    assert!(sandbox.path().join("swapped").exists());
    let given = approvals(&sandbox);
    assert_eq!(given.len(), 2, "{given:?}");
    assert_eq!(given[0], ("alice".to_string(), "--approve".to_string()));
    assert_eq!(given[1].0, "bob");
    assert!(given[1].1.starts_with("`cutover approve` on "), "{given:?}");
    // A gate of an ended run takes no more approvals.
    approve_as(&sandbox, &run, "carol").expect_code(2);
    sandbox.run(&["audit", "verify", &run]).expect_code(0);
}

#[test]
fn only_the_operators_a_gate_names_may_approve_it_and_no_terminal_is_needed() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", &playbook(", approvers: 2, from: [carol, dave]"));
    let child = start(&sandbox, &["--operator", "alice"]);
    let run = sandbox.wait_for_journal(
        "\"step\":\"gate\",\"event\":\"step_started\"",
        Duration::from_secs(20),
    );
    let out = approve_as(&sandbox, &run, "mallory");
    out.expect_code(5);
    assert!(
        out.stderr.contains("only carol, dave may"),
        "{}",
        out.stderr
    );
    approve_as(&sandbox, &run, "carol").expect_code(0);
    approve_as(&sandbox, &run, "dave").expect_code(0);
    expect_done(child);
    let names: Vec<String> = approvals(&sandbox)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names, ["carol", "dave"]);
}

#[test]
fn approvers_zero_is_refused_at_its_position() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", &playbook(", approvers: 0"));
    let out = sandbox.run(&["validate", "pb.yaml"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("`approvers` must be at least 1"),
        "{}",
        out.stderr
    );
}
