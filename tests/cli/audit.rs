//! `cutover audit`: list, show, and verify — which must name the first line
//! that was edited, removed, reordered or cut off.

use crate::support::Sandbox;

fn finished_run(sandbox: &Sandbox) -> String {
    sandbox.write(
        "pb.yaml",
        r#"name: audited
steps:
  - id: one
    action: shell
    with: { run: "echo one" }
  - checkpoint: middle
  - id: two
    action: shell
    with: { run: "echo two" }
"#,
    );
    sandbox
        .run(&["run", "pb.yaml", "--operator", "carol"])
        .expect_code(0);
    sandbox.last_run()
}

fn rewrite(sandbox: &Sandbox, id: &str, edit: impl FnOnce(&mut Vec<String>)) {
    let mut lines: Vec<String> = sandbox
        .journal_text(id)
        .lines()
        .map(str::to_string)
        .collect();
    edit(&mut lines);
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(sandbox.journal_path(id), text).unwrap();
}

#[test]
fn list_and_show_tell_who_ran_what_and_how_it_ended() {
    let sandbox = Sandbox::new();
    let id = finished_run(&sandbox);
    let list = sandbox.run(&["audit", "list"]);
    list.expect_code(0);
    let row = list
        .stdout
        .lines()
        .find(|l| l.starts_with(&id))
        .expect("the run is listed");
    for field in ["audited", "live", "carol", "done"] {
        assert!(row.contains(field), "{row}");
    }
    let show = sandbox.run(&["audit", "show", &id[id.len() - 4..]]);
    show.expect_code(0);
    assert!(
        show.stdout.contains("checkpoint `middle` passed"),
        "{}",
        show.stdout
    );
    assert!(
        show.stdout
            .lines()
            .any(|l| l.trim_start().starts_with("two") && l.contains("done")),
        "{}",
        show.stdout
    );
    let json = sandbox.run(&["audit", "list", "--output", "json"]);
    let summary: serde_json::Value =
        serde_json::from_str(json.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(summary["outcome"], "done");
}

#[test]
fn verify_passes_an_untouched_journal() {
    let sandbox = Sandbox::new();
    let id = finished_run(&sandbox);
    let output = sandbox.run(&["audit", "verify", &id]);
    output.expect_code(0);
    assert!(output.stdout.contains("hash chain verifies"));
}

#[test]
fn verify_names_an_edited_line() {
    let sandbox = Sandbox::new();
    let id = finished_run(&sandbox);
    rewrite(&sandbox, &id, |lines| {
        assert!(lines[1].contains("\"attempt\":1"));
        lines[1] = lines[1].replace("\"attempt\":1", "\"attempt\":2");
    });
    let output = sandbox.run(&["audit", "verify", &id]);
    output.expect_code(1);
    assert!(output.stderr.contains("line 2"), "{}", output.stderr);
}

#[test]
fn verify_names_a_removed_line() {
    let sandbox = Sandbox::new();
    let id = finished_run(&sandbox);
    rewrite(&sandbox, &id, |lines| {
        lines.remove(3);
    });
    let output = sandbox.run(&["audit", "verify", &id]);
    output.expect_code(1);
    assert!(output.stderr.contains("line 4"), "{}", output.stderr);
}

#[test]
fn verify_names_reordered_lines() {
    let sandbox = Sandbox::new();
    let id = finished_run(&sandbox);
    rewrite(&sandbox, &id, |lines| lines.swap(4, 5));
    let output = sandbox.run(&["audit", "verify", &id]);
    output.expect_code(1);
    assert!(output.stderr.contains("line 5"), "{}", output.stderr);
}

#[test]
fn verify_notices_lines_cut_from_the_end() {
    let sandbox = Sandbox::new();
    let id = finished_run(&sandbox);
    let total = sandbox.journal_text(&id).lines().count();
    rewrite(&sandbox, &id, |lines| lines.truncate(total - 2));
    let output = sandbox.run(&["audit", "verify", &id]);
    output.expect_code(1);
    assert!(
        output.stderr.contains("removed from the end"),
        "{}",
        output.stderr
    );
}

#[test]
fn a_tampered_journal_is_not_resumed() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", "name: t\nsteps:\n  - id: a\n    action: shell\n    with: { run: 'exit 1' }\n  - id: b\n    action: shell\n    with: { run: 'true' }\n    point_of_no_return: true\n");
    sandbox.run(&["run", "pb.yaml"]).expect_code(3);
    let id = sandbox.last_run();
    rewrite(&sandbox, &id, |lines| {
        lines[1] = lines[1].replace("exit 1", "exit 0")
    });
    let output = sandbox.run(&["resume", &id]);
    assert_ne!(output.code, 0);
}
