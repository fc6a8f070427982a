//! Whole outputs, byte for byte: what `validate` prints for a playbook with
//! several problems (each `FILE:LINE:COL: error: …`, the source line, the caret,
//! the `hint:`, the closing count) and what `plan` prints for a small playbook
//! (steps, estimates, every kind of rollback, a checkpoint, the point of no
//! return, the rollback map, the window). The other tests look for fragments;
//! these catch a shifted caret, a lost blank line or a misaligned column.
//!
//! The playbooks are written and the binary run inside the sandbox with relative
//! paths, so nothing varies between runs but the sandbox's own path, which is
//! replaced by `[SANDBOX]` should it ever appear.

use crate::support::{Output, Sandbox};

/// The output of a run with the sandbox's path normalised.
fn normalise(sandbox: &Sandbox, text: &str) -> String {
    text.replace(&sandbox.path().display().to_string(), "[SANDBOX]")
}

/// Fails with both texts in full and the first line that differs.
#[track_caller]
fn assert_text(what: &str, actual: &str, expected: &str) {
    if actual == expected {
        return;
    }
    let first = actual
        .lines()
        .zip(expected.lines())
        .position(|(a, e)| a != e)
        .unwrap_or_else(|| actual.lines().count().min(expected.lines().count()));
    panic!(
        "{what} differs from line {}:\n  actual:   {:?}\n  expected: {:?}\n--- actual\n{actual}--- expected\n{expected}---",
        first + 1,
        actual.lines().nth(first).unwrap_or("<end>"),
        expected.lines().nth(first).unwrap_or("<end>"),
    );
}

#[track_caller]
fn assert_output(sandbox: &Sandbox, output: &Output, code: i32, stdout: &str, stderr: &str) {
    assert_text("stdout", &normalise(sandbox, &output.stdout), stdout);
    assert_text("stderr", &normalise(sandbox, &output.stderr), stderr);
    output.expect_code(code);
}

/// Problems from both passes (decoding, then checking), on one- and two-digit
/// lines so the gutter changes width, with and without hints.
const INVALID: &str = r#"name: orders
vars:
  source: postgres://app@old-db:5432/orders
notify:
  - url: "https://hooks.example/${{ vars.hook }}"
steps:
  - id: maintenance-on
    action: maintenance.fil
    with: { path: maintenance.on, state: on }
  - id: dump
    action: shell
    timeout: 5 minutes
    with: { run: "pg_dump ${{ vars.sorce }}" }
  - id: dump
    action: wait
    with: { duraton: 1s }
    retries: { attempts: 0 }
    idempotant: true
  - id: smoke
    action: http.check
    with: { url: "https://app/health" }
    rollback: { action: shell, with: { run: "true" } }
"#;

const INVALID_STDERR: &str = r#"orders.yaml:5:10: error: webhook refers to unknown `vars.hook`
  |
5 |   - url: "https://hooks.example/${{ vars.hook }}"
  |          ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
hint: define it under `vars:`, e.g. `hook: …`

orders.yaml:8:13: error: unknown action `maintenance.fil`
  |
8 |     action: maintenance.fil
  |             ^^^^^^^^^^^^^^^
hint: did you mean `maintenance.file`?

orders.yaml:12:14: error: `timeout`: `5 minutes` is not a duration: expected a number and a unit (`ms`, `s`, `m`, `h`, `d`), such as `90s`, `5m` or `1h30m`
   |
12 |     timeout: 5 minutes
   |              ^^^^^^^^^

orders.yaml:13:27: error: undefined var `sorce`
   |
13 |     with: { run: "pg_dump ${{ vars.sorce }}" }
   |                           ^^^^^^^^^^^^^^^^^
hint: did you mean `source`?

orders.yaml:14:9: error: duplicate step id `dump`
   |
14 |   - id: dump
   |         ^^^^
hint: it is first used on line 10; ids must be unique

orders.yaml:16:13: error: `wait` parameters: unknown field `duraton`, expected `duration`
   |
16 |     with: { duraton: 1s }
   |             ^^^^^^^

orders.yaml:17:26: error: `attempts` must be a whole number from 1 to 100, found `0`
   |
17 |     retries: { attempts: 0 }
   |                          ^
hint: `attempts` counts every try, the first included: `attempts: 3` tries up to three times

orders.yaml:18:5: error: unknown step key `idempotant`
   |
18 |     idempotant: true
   |     ^^^^^^^^^^
hint: did you mean `idempotent`?

orders.yaml:22:17: error: the rollback of `smoke` can never run
   |
22 |     rollback: { action: shell, with: { run: "true" } }
   |                 ^^^^^^
hint: rollbacks undo completed steps when a later step fails, and no step comes after this one; remove the rollback or add the step that needs it

orders.yaml: 9 problems found
"#;

#[test]
fn validate_prints_every_problem_in_full() {
    let sandbox = Sandbox::new();
    sandbox.write("orders.yaml", INVALID);
    let output = sandbox.run(&["validate", "orders.yaml"]);
    assert_output(&sandbox, &output, 2, "", INVALID_STDERR);
}

#[test]
fn validate_json_is_one_line_with_every_problem() {
    let sandbox = Sandbox::new();
    sandbox.write("orders.yaml", INVALID);
    let output = sandbox.run(&["validate", "--output", "json", "orders.yaml"]);
    let expected = concat!(
        r#"{"file":"orders.yaml","problems":["#,
        r#"{"col":10,"hint":"define it under `vars:`, e.g. `hook: …`","line":5,"message":"webhook refers to unknown `vars.hook`","severity":"error"},"#,
        r#"{"col":13,"hint":"did you mean `maintenance.file`?","line":8,"message":"unknown action `maintenance.fil`","severity":"error"},"#,
        r#"{"col":14,"hint":null,"line":12,"message":"`timeout`: `5 minutes` is not a duration: expected a number and a unit (`ms`, `s`, `m`, `h`, `d`), such as `90s`, `5m` or `1h30m`","severity":"error"},"#,
        r#"{"col":27,"hint":"did you mean `source`?","line":13,"message":"undefined var `sorce`","severity":"error"},"#,
        r#"{"col":9,"hint":"it is first used on line 10; ids must be unique","line":14,"message":"duplicate step id `dump`","severity":"error"},"#,
        r#"{"col":13,"hint":null,"line":16,"message":"`wait` parameters: unknown field `duraton`, expected `duration`","severity":"error"},"#,
        r#"{"col":26,"hint":"`attempts` counts every try, the first included: `attempts: 3` tries up to three times","line":17,"message":"`attempts` must be a whole number from 1 to 100, found `0`","severity":"error"},"#,
        r#"{"col":5,"hint":"did you mean `idempotent`?","line":18,"message":"unknown step key `idempotant`","severity":"error"},"#,
        r#"{"col":17,"hint":"rollbacks undo completed steps when a later step fails, and no step comes after this one; remove the rollback or add the step that needs it","line":22,"message":"the rollback of `smoke` can never run","severity":"error"}"#,
        r#"],"valid":false}"#,
        "\n",
    );
    assert_output(&sandbox, &output, 2, expected, "");
}

/// A checkpoint, an explicit rollback, implied ones, `rollback: none`, an action
/// without an inverse, estimates and steps without, retries, a point of no
/// return, a checklist and a window.
const PLAYBOOK: &str = r#"name: orders-move
description: Move the orders database to the new server.
window:
  timezone: Europe/Zurich
  allow: ["Sat 22:00 - Sun 06:00"]
  margin: 30m
checklist:
  - id: backup
    text: Last night's backup was restored on staging.
steps:
  - id: copy
    name: Copy the data
    action: shell
    with: { run: "echo copy" }
    estimate: 20m
    rollback: { action: shell, with: { run: "echo drop copy" } }
  - checkpoint: before-downtime
  - id: maintenance-on
    action: maintenance.file
    with: { path: maintenance.on, state: on }
    timeout: 10s
    estimate: 5s
  - id: settle
    action: wait
    with: { duration: 30s }
    rollback: none
  - id: swap
    action: shell
    with: { run: "echo swap" }
    timeout: 2m
    retries: { attempts: 3, backoff: 10s }
    estimate: 1m
    point_of_no_return: true
  - id: maintenance-off
    action: maintenance.file
    with: { path: maintenance.on, state: off }
"#;

const PLAN_STDOUT: &str = r#"playbook  orders-move (pb.yaml)
sha256    198d6e84aa6509adb9c7724063b69bb852046cde10f35a102d256809a46f1de8
about     Move the orders database to the new server.
steps     5, estimated 21m5s + 2 step(s) without an estimate
check     [ ] backup: Last night's backup was restored on staging.

  1. copy [shell]
      name      Copy the data
      does      run `echo copy`
      timeout   none   estimate 20m (playbook)   not idempotent
      rollback  explicit: run `echo drop copy`
    ── checkpoint `before-downtime` (rollback point)
  2. maintenance-on [maintenance.file]
      does      turn maintenance on: create maintenance.on
      timeout   10s   estimate 5s (playbook)   idempotent
      rollback  implied: turn maintenance off: remove maintenance.on
      stops the application's writes
  3. settle [wait]
      does      wait 30s
      timeout   none   estimate -   idempotent
      rollback  none (rollback: none)
  4. swap [shell]
      does      run `echo swap`
      timeout   2m, 3 attempts 10s apart   estimate 1m (playbook)   not idempotent
      rollback  none (the action has no inverse)
    ▲ POINT OF NO RETURN: after `swap` completes, failures are not rolled back automatically
  5. maintenance-off [maintenance.file]
      does      turn maintenance off: remove maintenance.on
      timeout   none   estimate -   idempotent
      rollback  implied: turn maintenance on: create maintenance.on

rollback map (if a step fails):
  copy                     nothing to undo (back to the start)
  maintenance-on           undo `maintenance-on` → back to checkpoint `before-downtime`
  settle                   undo `maintenance-on` → back to checkpoint `before-downtime`
  swap                     undo `maintenance-on` → back to checkpoint `before-downtime`
  maintenance-off          STOP, exit 4 (past `swap`); `cutover rollback` would undo `maintenance-off`, `maintenance-on`

window (Europe/Zurich, margin 30m, on overrun: rollback)
  allow  Sat 22:00 - Sun 06:00
  now    Sat 2026-12-05 21:00 CET: outside the window (estimate 21m5s, 3 from the playbook, 2 unknown)
  next start that fits: Sat 2026-12-05 22:00 CET
  next windows:
    Sat 2026-12-05 22:00 CET → Sun 2026-12-06 06:00 CET (8h)
    Sat 2026-12-12 22:00 CET → Sun 2026-12-13 06:00 CET (8h)
    Sat 2026-12-19 22:00 CET → Sun 2026-12-20 06:00 CET (8h)
"#;

#[test]
fn plan_prints_steps_rollbacks_and_window_in_full() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", PLAYBOOK);
    // A fresh state dir: no earlier runs, so every estimate is the playbook's.
    let output = sandbox.run(&[
        "plan",
        "pb.yaml",
        "--state-dir",
        "fresh-state",
        "--now",
        "2026-12-05T21:00",
    ]);
    assert_output(&sandbox, &output, 0, PLAN_STDOUT, "");
}

#[test]
fn plan_columns_the_rollback_map_by_its_longest_id() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        "name: long-ids\nsteps:\n  - id: a-step-id-longer-than-the-column\n    action: wait\n    with: { duration: 1s }\n  - id: b\n    action: wait\n    with: { duration: 1s }\n",
    );
    let output = sandbox.run(&["plan", "pb.yaml", "--state-dir", "fresh-state"]);
    output.expect_code(0);
    let map = output
        .stdout
        .split("rollback map (if a step fails):\n")
        .nth(1)
        .expect("a rollback map");
    assert_text(
        "rollback map",
        map,
        "  a-step-id-longer-than-the-column nothing to undo (back to the start)\n  b                                nothing to undo (back to the start)\n",
    );
}

#[test]
fn a_valid_playbook_says_so_on_stdout_and_nothing_else() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", PLAYBOOK);
    let output = sandbox.run(&["validate", "pb.yaml"]);
    assert_output(&sandbox, &output, 0, "pb.yaml: valid\n", "");
}

/// The exit-code section `--help` ends with, generated from `ExitCode`.
const EXIT_CODES: &str = "Exit codes:
  0  done
  1  internal error (I/O), or `audit verify` found a line or a head signature
     that does not verify
  2  invalid playbook or command line
  3  rolled back: a step failed, the run was interrupted, or `cutover rollback`
     ran
  4  an operator must decide: a failure past the point of no return, a rollback
     that failed, or a resume without a decision
  5  refused before the first step: outside the window, the checklist not
     confirmed or a check failed, the playbook locked by another run, or an
     approval gate with no terminal and no --approve
";

#[test]
fn help_ends_with_the_exit_codes_and_exits_0() {
    let sandbox = Sandbox::new();
    for args in [&["--help"][..], &["run", "--help"], &["resume", "--help"]] {
        let output = sandbox.run(args);
        output.expect_code(0);
        let section = output
            .stdout
            .find("Exit codes:")
            .map(|at| &output.stdout[at..])
            .unwrap_or_default();
        assert_text(&format!("{args:?}"), section, EXIT_CODES);
    }
    sandbox.run(&["--version"]).expect_code(0);
    sandbox.run(&["no-such-command"]).expect_code(2);
}
