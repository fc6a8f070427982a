//! One run of a playbook at a time: a second `run` is refused with exit 5 and
//! told who holds the lock; the lock dies with its holder, even under kill -9.

use std::time::Duration;

use crate::support::{kill9, Sandbox};

const LONG: &str = r#"name: locked
steps:
  - id: hold
    action: shell
    with: { run: "touch holding; sleep 60" }
"#;

#[test]
fn a_second_run_is_refused_and_told_who_holds_the_lock() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", LONG);
    let mut first = sandbox
        .command(&["run", "pb.yaml", "--operator", "alice"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    sandbox.wait_for_file("holding", Duration::from_secs(10));

    let second = sandbox.run(&["run", "pb.yaml", "--operator", "bob"]);
    second.expect_code(5);
    assert!(second.stderr.contains("locked"), "{}", second.stderr);
    assert!(second.stderr.contains("alice"), "{}", second.stderr);
    assert!(
        second.stderr.contains(&format!("pid {}", first.id())),
        "{}",
        second.stderr
    );
    assert_eq!(
        sandbox.run_ids().len(),
        1,
        "the refused run left no run behind"
    );

    kill9(&mut first);
    std::fs::remove_file(sandbox.path().join("holding")).unwrap();
    sandbox.write(
        "pb.yaml",
        "name: locked\nsteps:\n  - id: quick\n    action: shell\n    with: { run: 'true' }\n",
    );
    sandbox.run(&["run", "pb.yaml"]).expect_code(0);
}

#[test]
fn racing_runs_let_exactly_one_through() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        "name: race\nsteps:\n  - id: hold\n    action: shell\n    with: { run: 'sleep 1' }\n",
    );
    let children: Vec<_> = (0..6)
        .map(|_| {
            sandbox
                .command(&["run", "pb.yaml"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let codes: Vec<i32> = children
        .into_iter()
        .map(|mut c| c.wait().unwrap().code().unwrap())
        .collect();
    assert_eq!(codes.iter().filter(|c| **c == 0).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 5).count(), 5, "{codes:?}");
}

#[test]
fn dry_runs_take_no_lock() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", LONG);
    let mut live = sandbox.spawn(&["run", "pb.yaml"]);
    sandbox.wait_for_file("holding", Duration::from_secs(10));
    sandbox.run(&["run", "pb.yaml", "--dry-run"]).expect_code(0);
    kill9(&mut live);
}
