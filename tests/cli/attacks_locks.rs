//! The lock cannot be sidestepped: the same cutover started through a
//! symlink, a copy (renamed, another URL spelling of the same database) or
//! another state directory is refused with exit 5, naming what is held and by
//! whom, while the first run holds it.

use std::time::Duration;

use crate::support::{kill9, Sandbox};

/// Holds its locks for a minute, then would check a database (never reached).
fn playbook(name: &str, url: &str, sandbox: &Sandbox) -> String {
    let holding = sandbox.path().join("holding");
    format!(
        "name: {name}\nsteps:\n  - id: hold\n    action: shell\n    with: {{ run: \"touch '{}'; sleep 60\" }}\n  - id: health\n    action: postgres.health\n    with: {{ url: \"{url}\" }}\n",
        holding.display()
    )
}

#[test]
fn the_same_cutover_through_a_symlink_a_copy_or_another_state_dir_is_refused() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "ops/orders.yaml",
        &playbook("orders", "postgres://app@127.0.0.1:1/orders", &sandbox),
    );
    let mut first = sandbox
        .command(&["run", "ops/orders.yaml", "--operator", "alice"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    sandbox.wait_for_file("holding", Duration::from_secs(10));

    // A symlink from another directory: another default state dir, same file.
    std::fs::create_dir_all(sandbox.path().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(
        sandbox.path().join("ops/orders.yaml"),
        sandbox.path().join("elsewhere/link.yaml"),
    )
    .unwrap();
    // A renamed copy whose URL spells the same database another way.
    sandbox.write(
        "copy/renamed.yaml",
        &playbook(
            "renamed",
            "postgresql://other:hunter2@127.0.0.1:1/orders?sslmode=disable",
            &sandbox,
        ),
    );
    let attempts: [(&[&str], &str); 4] = [
        (
            &["run", "elsewhere/link.yaml", "--operator", "bob"],
            "playbook:",
        ),
        (
            &[
                "run",
                "ops/orders.yaml",
                "--state-dir",
                "other-state",
                "--operator",
                "bob",
            ],
            "playbook:",
        ),
        (
            &["run", "copy/renamed.yaml", "--operator", "bob"],
            "db:127.0.0.1:1/orders",
        ),
        (
            &[
                "run",
                "copy/renamed.yaml",
                "--rehearsal",
                "--operator",
                "bob",
            ],
            "db:127.0.0.1:1/orders",
        ),
    ];
    for (args, held) in attempts {
        let output = sandbox.run(args);
        output.expect_code(5);
        assert!(output.stderr.contains(held), "{args:?}: {}", output.stderr);
        assert!(
            output.stderr.contains("alice")
                && output.stderr.contains(&format!("pid {}", first.id())),
            "{args:?}: {}",
            output.stderr
        );
        assert!(!output.all().contains("hunter2"), "{}", output.all());
    }
    // None of them started a run, in any state dir.
    for runs in [
        "elsewhere/.cutover/runs",
        "other-state/runs",
        "copy/.cutover/runs",
    ] {
        let count = std::fs::read_dir(sandbox.path().join(runs))
            .map(|entries| entries.count())
            .unwrap_or(0);
        assert_eq!(count, 0, "{runs}");
    }

    // A cutover of something else runs meanwhile: the lock is not global.
    sandbox.write(
        "other/unrelated.yaml",
        "name: unrelated\nsteps:\n  - id: one\n    action: shell\n    with: { run: 'true' }\n",
    );
    sandbox.run(&["run", "other/unrelated.yaml"]).expect_code(0);

    // The locks die with their holder: the same database is free again (the
    // step then fails on the closed port, which is not a refusal).
    kill9(&mut first);
    sandbox.write(
        "copy/quick.yaml",
        "name: quick\nsteps:\n  - id: health\n    action: postgres.health\n    with: { url: \"postgres://app@127.0.0.1:1/orders\" }\n",
    );
    let output = sandbox.run(&["run", "copy/quick.yaml"]);
    assert_ne!(output.code, 5, "{}", output.all());
    assert!(
        !output.stderr.contains("in use by another run"),
        "{}",
        output.stderr
    );
}
