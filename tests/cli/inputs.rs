//! Issue 12, inputs: values `validate` must refuse — each answered with exit 2,
//! the problem at its `FILE:LINE:COL`, what was expected and a hint — and a
//! byte order mark, which must be accepted.

use crate::support::Sandbox;
use crate::validate::{assert_cases, Case};

const STEP: &[&str] = &["name: x", "steps:", "  - id: a", "    action: shell"];

const CASES: &[Case] = &[
    Case {
        name: "step-timeout-zero",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"true\" }",
            "    timeout: 0s",
        ],
        line: 6,
        col: 14,
        message: "`timeout`: `0s` is no time at all: expected a duration above zero",
        hint: Some("leave `timeout` out for no limit"),
    },
    Case {
        name: "rollback-timeout-zero",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"true\" }",
            "    rollback: { action: shell, with: { run: \"true\" }, timeout: 0ms }",
            "  - id: b",
            "    action: shell",
            "    with: { run: \"true\" }",
        ],
        line: 6,
        col: 64,
        message: "`timeout`: `0ms` is no time at all",
        hint: Some("leave `timeout` out for no limit"),
    },
    Case {
        name: "verify-timeout-zero",
        lines: &[
            "name: x",
            "checklist:",
            "  - id: backup",
            "    text: a backup exists",
            "    verify: { action: shell, with: { run: \"true\" }, timeout: 0s }",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"true\" }",
        ],
        line: 5,
        col: 62,
        message: "`timeout`: `0s` is no time at all",
        hint: Some("leave `timeout` out for no limit"),
    },
    Case {
        name: "param-timeout-zero",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: tcp.check",
            "    with: { address: \"127.0.0.1:5432\", timeout: 0s }",
        ],
        line: 5,
        col: 49,
        message: "`tcp.check` parameters: `0s` is no time at all",
        hint: None,
    },
    Case {
        name: "step-timeout-beyond-the-maximum",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"true\" }",
            "    timeout: 7d1s",
        ],
        line: 6,
        col: 14,
        message: "`timeout`: `7d1s` is longer than the longest duration accepted, 7d (7 days)",
        hint: None,
    },
    Case {
        // 2^64 ms and more: once wrapped to "0s" and then not applied.
        name: "step-timeout-that-overflows",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"true\" }",
            "    timeout: 18446744073709551616ms",
        ],
        line: 6,
        col: 14,
        message: "is longer than the longest duration accepted, 7d",
        hint: None,
    },
    Case {
        name: "param-duration-beyond-the-maximum",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: wait",
            "    with: { duration: 213503982334601d }",
        ],
        line: 5,
        col: 23,
        message: "`wait` parameters: `213503982334601d` is longer than the longest duration accepted, 7d",
        hint: None,
    },
    Case {
        name: "attempts-as-a-string",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"true\" }",
            "    retries: { attempts: \"3\" }",
        ],
        line: 6,
        col: 26,
        message: "`attempts` must be a whole number from 1 to 100, found the text `\"3\"`",
        hint: Some("a quoted value is text, not a number: write it without quotes, such as `attempts: 3`"),
    },
    Case {
        name: "param-number-as-a-string",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: http.check",
            "    with: { url: \"http://127.0.0.1:1/\", requests: '3' }",
        ],
        line: 5,
        col: 51,
        message: "`http.check` parameters: invalid type: string \"3\", expected u32",
        hint: Some("a quoted value is text, not a number"),
    },
    Case {
        name: "role-name-with-a-comma",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: postgres.read_only",
            "    with:",
            "      url: postgres://admin@127.0.0.1:5432/app",
            "      roles: [app, \"a,b\"]",
        ],
        line: 7,
        col: 20,
        message: "role name `a,b` holds `,`",
        hint: None,
    },
    Case {
        name: "role-name-with-a-quote",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: postgres.read_write",
            "    with:",
            "      url: postgres://admin@127.0.0.1:5432/app",
            "      roles: [\"app\\\"; DROP ROLE x\"]",
        ],
        line: 7,
        col: 15,
        message: "role name `app\\\"; DROP ROLE x` holds `\\\"`",
        hint: None,
    },
    Case {
        name: "haproxy-backend-with-a-second-command",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: haproxy.swap",
            "    with:",
            "      socket: /run/haproxy/admin.sock",
            "      backend: \"pg; disable server pg/old\"",
            "      from: [old]",
            "      to: [new]",
        ],
        line: 7,
        col: 16,
        message: "expected a backend name of letters, digits, `.`, `:`, `-` and `_` (as HAProxy accepts), found `pg; disable server pg/old`",
        hint: None,
    },
    Case {
        name: "haproxy-server-with-a-newline",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: haproxy.weights",
            "    with:",
            "      socket: /run/haproxy/admin.sock",
            "      backend: pg",
            "      from: [old]",
            "      to: [\"new\\nset server pg/old state maint\"]",
        ],
        line: 9,
        col: 12,
        message: "expected a server name of letters, digits",
        hint: None,
    },
];

#[test]
fn every_input_rule_is_reported_at_its_position() {
    assert_cases(&CASES.iter().collect::<Vec<_>>());
}

/// A playbook and a `--vars` file saved with a UTF-8 byte order mark (as
/// Windows editors write them) are read as if it were not there: no
/// "unknown key" with an invisible character, positions as the editor shows.
#[test]
fn a_byte_order_mark_is_accepted() {
    let sandbox = Sandbox::new();
    let mut text = String::from("\u{FEFF}");
    for line in STEP {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str("    with: { run: \"echo ${{ vars.greeting }}\" }\nvars:\n  greeting: hello\n");
    sandbox.write("bom.yaml", &text);
    sandbox.write("vars.yaml", "\u{FEFF}greeting: bonjour\n");
    let validate = sandbox.run(&["validate", "bom.yaml"]);
    assert_eq!(validate.code, 0, "{}", validate.stderr);
    let run = sandbox.run(&["run", "bom.yaml", "--vars", "vars.yaml", "--output", "text"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("bonjour"), "{}", run.stdout);

    // A problem on the first line is at column 1, the mark not counted.
    sandbox.write("bom-typo.yaml", &text.replacen("name: x", "nam: x", 1));
    let typo = sandbox.run(&["validate", "bom-typo.yaml"]);
    assert_eq!(typo.code, 2);
    assert!(
        typo.stderr
            .starts_with("bom-typo.yaml:1:1: error: unknown playbook key `nam`"),
        "{}",
        typo.stderr
    );
    assert!(!typo.stderr.contains('\u{FEFF}'), "{}", typo.stderr);
}

/// Expansion with many references gives every value, in order (correctness
/// only: the timing is `bench/templates.sh`).
#[test]
fn many_references_expand_in_order() {
    let sandbox = Sandbox::new();
    let count = 20_000;
    let mut run = String::new();
    for i in 0..count {
        run.push_str(&format!("${{{{ vars.v{} }}}}", i % 3));
    }
    let text = format!(
        "name: many\nvars:\n  v0: a\n  v1: b\n  v2: c\nsteps:\n  - id: a\n    action: shell\n    with: {{ run: \"echo {run} | wc -c; echo {run} | cut -c1-9\" }}\n"
    );
    sandbox.write("many.yaml", &text);
    let validate = sandbox.run(&["validate", "many.yaml"]);
    assert_eq!(validate.code, 0, "{}", validate.stderr);
    let out = sandbox.run(&["run", "many.yaml", "--output", "text"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&format!("{}", count + 1)),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("abcabcabc"), "{}", out.stdout);

    // An undefined one among them is found, at its own column.
    let bad = text.replacen("${{ vars.v2 }}", "${{ vars.nope }}", 1);
    sandbox.write("many-bad.yaml", &bad);
    let validate = sandbox.run(&["validate", "many-bad.yaml"]);
    assert_eq!(validate.code, 2);
    let col = bad.lines().nth(8).unwrap().find("${{ vars.nope").unwrap() + 1;
    assert!(
        validate.stderr.starts_with(&format!(
            "many-bad.yaml:9:{col}: error: undefined var `nope`"
        )),
        "{}",
        &validate.stderr[..validate.stderr.len().min(400)]
    );
}
