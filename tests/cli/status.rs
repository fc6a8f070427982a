//! `cutover status`: the runs of a state directory that have not ended, with
//! their step, operator, host and the time their estimates say is left.

use std::time::Duration;

use crate::support::{kill9, Sandbox};

const PLAYBOOK: &str = "name: status-test
steps:
  - id: first
    action: shell
    with: { run: \"true\" }
    estimate: 1s
  - id: slow
    action: shell
    with: { run: \"touch slow-started; sleep 30\" }
    estimate: 2m
  - id: last
    action: wait
    with: { duration: 1s }
    estimate: 30s
";

#[test]
fn status_lists_a_running_run_then_the_stopped_one_and_never_a_finished_one() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", PLAYBOOK);
    sandbox.write(
        "done.yaml",
        "name: finished\nsteps:\n  - id: a\n    action: wait\n    with: { duration: 10ms }\n",
    );
    sandbox.run(&["run", "done.yaml"]).expect_code(0);
    let out = sandbox.run(&["status"]);
    out.expect_code(0);
    assert!(out.stderr.contains("no run in progress"), "{}", out.all());

    let mut child = sandbox.spawn(&["run", "pb.yaml"]);
    sandbox.wait_for_file("slow-started", Duration::from_secs(10));
    let out = sandbox.run(&["status", "--output", "json"]);
    out.expect_code(0);
    let lines: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{}", out.stdout);
    let run = &lines[0];
    assert_eq!(run["playbook"], "status-test", "{run}");
    assert_eq!(run["state"], "running", "{run}");
    assert_eq!(run["step"], "slow", "{run}");
    assert_eq!(run["position"], serde_json::json!([2, 3]), "{run}");
    assert_eq!(run["operator"], "tester", "{run}");
    // `slow` and `last` are left: 2m + 30s.
    assert_eq!(run["remaining_ms"], 150_000, "{run}");
    let text = sandbox.run(&["status"]);
    assert!(
        text.stdout.contains("running")
            && text.stdout.contains("slow (2/3)")
            && text.stdout.contains("~2m30s"),
        "{}",
        text.stdout
    );

    kill9(&mut child);
    let out = sandbox.run(&["status", "--output", "json"]);
    let run: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(run["state"], "stopped", "{run}");
    assert_eq!(run["step"], "slow", "{run}");
}
