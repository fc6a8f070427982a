//! The holes an attacker with write access to a directory cutover writes in
//! would try, each written as the attack: the victim file must stay untouched.

use crate::support::Sandbox;

#[test]
fn a_symlink_planted_at_the_maintenance_flag_is_refused_and_its_victim_untouched() {
    let sandbox = Sandbox::new();
    let victim = sandbox.write("etc/passwd-like", "root:x:0:0\n");
    std::fs::create_dir_all(sandbox.path().join("www")).unwrap();
    std::os::unix::fs::symlink(&victim, sandbox.path().join("www/maintenance.on")).unwrap();
    sandbox.write(
        "pb.yaml",
        "name: m\nsteps:\n  - id: on\n    action: maintenance.file\n    with: { path: www/maintenance.on, state: on, content: owned }\n",
    );
    let output = sandbox.run(&["run", "pb.yaml"]);
    output.expect_code(3);
    assert!(
        output
            .all()
            .contains("is a symbolic link: refusing to write through it"),
        "{}",
        output.all()
    );
    assert_eq!(sandbox.read("etc/passwd-like"), "root:x:0:0\n");
    // No temporary file was left beside the flag; the rollback (maintenance
    // off) removed the planted link itself, never what it pointed to.
    let names: Vec<String> = std::fs::read_dir(sandbox.path().join("www"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn state_is_private_under_umask_022_even_when_the_inputs_are_readable() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        "name: private\nvars:\n  token: none\nsteps:\n  - id: one\n    action: shell\n    with: { run: 'true' }\n",
    );
    let vars = sandbox.write("vars.yaml", "token: hunter2\n");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&vars, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 022 && exec '{}' run pb.yaml --vars vars.yaml",
            crate::support::BIN
        ))
        .current_dir(sandbox.path())
        .env("USER", "tester")
        .env_remove("CUTOVER_STATE_DIR")
        .env("CUTOVER_LOCK_DIR", sandbox.path().join("host-locks"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let state = sandbox.state_dir();
    let run = state.join("runs").join(sandbox.last_run());
    for dir in [
        state.clone(),
        state.join("runs"),
        run.clone(),
        state.join("locks"),
    ] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    let lock = std::fs::read_dir(state.join("locks"))
        .unwrap()
        .next()
        .expect("a lock file")
        .unwrap()
        .path();
    for file in [
        run.join("journal.jsonl"),
        run.join("playbook.yaml"),
        run.join("vars.yaml"),
        run.join("head"),
        lock,
    ] {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
}

#[test]
fn a_symlink_planted_at_the_lock_file_is_not_followed_and_its_victim_untouched() {
    let sandbox = Sandbox::new();
    let victim = sandbox.write("etc/shadow-like", "root:$6$precious\n");
    sandbox.write(
        "pb.yaml",
        "name: victim\nsteps:\n  - id: one\n    action: shell\n    with: { run: 'touch ran' }\n",
    );
    std::fs::create_dir_all(sandbox.state_dir().join("locks")).unwrap();
    std::os::unix::fs::symlink(&victim, sandbox.state_dir().join("locks/victim.lock")).unwrap();
    let output = sandbox.run(&["run", "pb.yaml"]);
    assert_ne!(output.code, 0, "{}", output.all());
    assert!(output.all().contains("victim.lock"), "{}", output.all());
    assert_eq!(sandbox.read("etc/shadow-like"), "root:$6$precious\n");
    assert!(
        !sandbox.path().join("ran").exists(),
        "no step ran without the lock"
    );
}

#[test]
fn audit_refuses_a_state_dir_others_can_write_and_says_why() {
    use std::os::unix::fs::PermissionsExt;
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        "name: shared\nsteps:\n  - id: one\n    action: shell\n    with: { run: 'true' }\n",
    );
    sandbox.run(&["run", "pb.yaml"]).expect_code(0);
    let run = sandbox.last_run();
    sandbox.run(&["audit", "verify", &run]).expect_code(0);
    let state = sandbox.state_dir();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
    for args in [
        vec!["audit", "list"],
        vec!["audit", "verify", &run],
        vec!["audit", "show", &run],
    ] {
        let output = sandbox.run(&args);
        output.expect_code(5);
        assert!(
            output.stderr.contains("writable by every user")
                && output.stderr.contains("chmod go-w"),
            "{}",
            output.stderr
        );
    }
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    let run_dir = state.join("runs").join(&run);
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o770)).unwrap();
    let output = sandbox.run(&["audit", "verify", &run]);
    output.expect_code(5);
    assert!(
        output.stderr.contains("writable by its group"),
        "{}",
        output.stderr
    );
}

#[test]
fn a_rewritten_journal_that_grew_past_its_head_or_an_edited_playbook_copy_fails_verify() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        "name: forged\nsteps:\n  - id: one\n    action: shell\n    with: { run: 'true' }\n  - id: two\n    action: shell\n    with: { run: 'true' }\n",
    );
    sandbox.run(&["run", "pb.yaml"]).expect_code(0);
    let run = sandbox.last_run();
    sandbox.run(&["audit", "verify", &run]).expect_code(0);
    let path = sandbox.journal_path(&run);
    let original = std::fs::read_to_string(&path).unwrap();

    // The forger rewrites line 1 (the operator) and recomputes every hash, then
    // adds a line, so the head's line count no longer equals the journal's.
    let mut prev = "0".repeat(64);
    let mut forged = String::new();
    let mut lines: Vec<String> = original.lines().map(str::to_string).collect();
    lines[0] = lines[0].replace("\"operator\":\"tester\"", "\"operator\":\"mallory\"");
    lines.push(lines.last().unwrap().clone());
    for (index, line) in lines.iter().enumerate() {
        let body = format!("{}}}", &line[..line.len() - 75]);
        let body = body.replacen(
            &format!("\"seq\":{}", original.lines().count().min(index + 1)),
            &format!("\"seq\":{}", index + 1),
            1,
        );
        let hash = {
            use std::io::Write;
            let mut child = std::process::Command::new("sha256sum")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("{prev}{body}").as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            String::from_utf8(out.stdout).unwrap()[..64].to_string()
        };
        forged.push_str(&format!(
            "{},\"hash\":\"{hash}\"}}\n",
            &body[..body.len() - 1]
        ));
        prev = hash;
    }
    assert!(forged.contains("mallory"));
    std::fs::write(&path, &forged).unwrap();
    let output = sandbox.run(&["audit", "verify", &run]);
    output.expect_code(1);
    assert!(
        output.stderr.contains("does not match the recorded head"),
        "{}",
        output.stderr
    );

    // The journal restored, the stored playbook copy edited: refused too.
    std::fs::write(&path, &original).unwrap();
    sandbox.run(&["audit", "verify", &run]).expect_code(0);
    let copy = sandbox
        .state_dir()
        .join("runs")
        .join(&run)
        .join("playbook.yaml");
    std::fs::write(&copy, "name: forged\nsteps: []\n").unwrap();
    let output = sandbox.run(&["audit", "verify", &run]);
    output.expect_code(1);
    assert!(
        output.stderr.contains("does not match the sha256"),
        "{}",
        output.stderr
    );
}

#[test]
fn html_headings_and_escape_sequences_from_operators_and_steps_are_shown_inert() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        "name: inject\nsteps:\n  - id: loud\n    action: shell\n    with: { run: \"printf 'ok \\\\033]0;owned\\\\007 \\\\033[2Jcleared\\\\n'; printf '\\\\302\\\\233 c1\\\\n'; exit 3\" }\n",
    );
    let operator = "eve\n# Approved by the CISO <script>alert(1)</script>";
    let output = sandbox.run(&["run", "pb.yaml", "--operator", operator]);
    output.expect_code(3);
    for shown in [&output.stdout, &output.stderr] {
        assert!(
            !shown.contains('\u{1b}'),
            "raw ESC in run output: {shown:?}"
        );
        assert!(
            !shown.contains('\u{9b}'),
            "raw CSI in run output: {shown:?}"
        );
    }
    assert!(output.all().contains("\\x1b]0;owned"), "{}", output.all());
    let run = sandbox.last_run();
    let show = sandbox.run(&["audit", "show", &run]);
    show.expect_code(0);
    assert!(
        !show.stdout.contains('\u{1b}') && !show.stdout.contains('\u{7}'),
        "{:?}",
        show.stdout
    );
    let report = sandbox.run(&[
        "audit", "report", &run, "--format", "markdown", "--out", "-",
    ]);
    report.expect_code(0);
    assert!(!report.stdout.contains("<script>"), "{}", report.stdout);
    assert!(
        !report.stdout.lines().any(|l| l.starts_with("# Approved")),
        "a forged heading:\n{}",
        report.stdout
    );
    assert!(
        report.stdout.contains("&lt;script&gt;"),
        "{}",
        report.stdout
    );
    // An empty run id matches no run (it used to match the only one).
    let empty = sandbox.run(&["audit", "show", ""]);
    empty.expect_code(2);
    assert!(
        empty.stderr.contains("the run id is empty"),
        "{}",
        empty.stderr
    );
}
