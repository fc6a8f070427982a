//! `cutover validate`: one bad playbook per rule, each answered with exit 2 and the
//! problem at its exact `FILE:LINE:COL` (human and JSON output alike); a playbook
//! with several problems lists them all in file order; the reference playbooks
//! under `playbooks/` are valid.

use std::path::{Path, PathBuf};

use crate::support::{Output, Sandbox};

/// One bad playbook and the single problem `validate` must report for it.
pub(crate) struct Case {
    /// Names the rule; the playbook is written to `NAME.yaml`.
    pub name: &'static str,
    pub lines: &'static [&'static str],
    pub line: usize,
    pub col: usize,
    pub message: &'static str,
    pub hint: Option<&'static str>,
}

const CASES: &[Case] = &[
    // The text itself.
    Case {
        name: "yaml-syntax",
        lines: &["name: x", "steps: [a, b}", "foo: bar"],
        line: 2,
        col: 13,
        message: "invalid YAML: while parsing a flow sequence",
        hint: None,
    },
    Case {
        name: "yaml-bad-indentation",
        lines: &["name: x", "steps:", "  - id: a", "   action: shell"],
        line: 4,
        col: 10,
        message: "invalid YAML:",
        hint: None,
    },
    Case {
        name: "unknown-anchor",
        lines: &["name: x", "steps: *nope"],
        line: 2,
        col: 8,
        message: "unknown anchor",
        hint: None,
    },
    Case {
        name: "not-a-mapping",
        lines: &["- name: x", "- steps: []"],
        line: 1,
        col: 1,
        message: "the playbook must be a mapping (`key: value` lines), found a list",
        hint: None,
    },
    Case {
        name: "scalar-document",
        lines: &["just some words"],
        line: 1,
        col: 1,
        message: "the playbook must be a mapping (`key: value` lines), found a scalar",
        hint: None,
    },
    Case {
        name: "empty-file",
        lines: &[],
        line: 1,
        col: 1,
        message: "the playbook is empty",
        hint: Some("at least `name` and `steps`"),
    },
    Case {
        name: "only-comments",
        lines: &["# a playbook will go here"],
        line: 1,
        col: 1,
        message: "the playbook is empty",
        hint: Some("at least `name` and `steps`"),
    },
    Case {
        name: "second-document",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"true\" }",
            "---",
            "name: y",
        ],
        line: 6,
        col: 1,
        message: "a playbook is one YAML document, found a second one",
        hint: Some("remove the `---` separator"),
    },
    // The top level.
    Case {
        name: "missing-name",
        lines: &[
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"true\" }",
        ],
        line: 1,
        col: 1,
        message: "missing `name`",
        hint: Some("`name: my-cutover`"),
    },
    Case {
        name: "name-not-text",
        lines: &[
            "name: [a]",
            "steps:",
            "  - id: a",
            "    action: wait",
            "    with: { duration: 1s }",
        ],
        line: 1,
        col: 7,
        message: "name must be text, found a list",
        hint: None,
    },
    Case {
        name: "name-empty",
        lines: &[
            "name: \"\"",
            "steps:",
            "  - id: a",
            "    action: wait",
            "    with: { duration: 1s }",
        ],
        line: 1,
        col: 7,
        message: "`` is not a valid playbook name",
        hint: Some("letters, digits"),
    },
    Case {
        name: "missing-steps",
        lines: &["name: x", "description: nothing to do"],
        line: 1,
        col: 1,
        message: "missing `steps`",
        hint: Some("add `steps:`"),
    },
    Case {
        name: "steps-not-a-list",
        lines: &["name: x", "steps: 5"],
        line: 2,
        col: 8,
        message: "`steps` must be a list, found a scalar",
        hint: Some("`- id: …`"),
    },
    Case {
        name: "steps-empty",
        lines: &["name: x", "steps: []"],
        line: 2,
        col: 8,
        message: "`steps` is empty",
        hint: Some("at least one step"),
    },
    Case {
        name: "unknown-top-level-key",
        lines: &[
            "name: x",
            "descriptio: moves the orders database",
            "steps:",
            "  - id: a",
            "    action: wait",
            "    with: { duration: 1s }",
        ],
        line: 2,
        col: 1,
        message: "unknown playbook key `descriptio`",
        hint: Some("did you mean `description`?"),
    },
    Case {
        name: "description-not-text",
        lines: &[
            "name: x",
            "description: { a: b }",
            "steps:",
            "  - id: a",
            "    action: wait",
            "    with: { duration: 1s }",
        ],
        line: 2,
        col: 16,
        message: "`description` must be text, found a mapping",
        hint: None,
    },
    // Vars and secrets.
    Case {
        name: "vars-not-a-mapping",
        lines: &[
            "name: x",
            "vars: [a]",
            "steps:",
            "  - id: a",
            "    action: wait",
            "    with: { duration: 1s }",
        ],
        line: 2,
        col: 7,
        message: "`vars` must be a mapping",
        hint: None,
    },
    Case {
        name: "var-defined-twice",
        lines: &[
            "name: x",
            "vars:",
            "  host: a",
            "  host: b",
            "steps:",
            "  - id: a",
            "    action: wait",
            "    with: { duration: 1s }",
        ],
        line: 4,
        col: 3,
        message: "var `host` is defined twice",
        hint: None,
    },
    Case {
        name: "var-not-text",
        lines: &[
            "name: x",
            "vars:",
            "  hosts: [a, b]",
            "steps:",
            "  - id: a",
            "    action: wait",
            "    with: { duration: 1s }",
        ],
        line: 3,
        col: 10,
        message: "var `hosts` must be text, found a list",
        hint: None,
    },
    Case {
        name: "var-name-invalid",
        lines: &[
            "name: x",
            "vars:",
            "  \"db host\": a",
            "steps:",
            "  - id: a",
            "    action: wait",
            "    with: { duration: 1s }",
        ],
        line: 3,
        col: 3,
        message: "`db host` is not a valid var name",
        hint: Some("letters, digits"),
    },
    Case {
        name: "var-refers-to-var",
        lines: &[
            "name: x",
            "vars:",
            "  host: db",
            "  url: \"postgres://${{ vars.host }}/orders\"",
            "steps:",
            "  - id: a",
            "    action: wait",
            "    with: { duration: 1s }",
        ],
        line: 4,
        col: 3,
        message: "var `url` refers to var `host`",
        hint: Some("not other vars"),
    },
    Case {
        name: "var-uses-unlisted-secret",
        lines: &[
            "name: x",
            "vars:",
            "  url: \"postgres://app:${{ secrets.PW }}@db/orders\"",
            "steps:",
            "  - id: a",
            "    action: wait",
            "    with: { duration: 1s }",
        ],
        line: 3,
        col: 3,
        message: "var `url` uses `secrets.PW`, which is not listed under `secrets`",
        hint: Some("add `PW` to `secrets:`"),
    },
    Case {
        name: "var-malformed-template",
        lines: &[
            "name: x",
            "vars:",
            "  url: \"${{ env.DB_URL\"",
            "steps:",
            "  - id: a",
            "    action: wait",
            "    with: { duration: 1s }",
        ],
        line: 3,
        col: 3,
        message: "var `url`: `${{` is never closed with `}}`",
        hint: None,
    },
    Case {
        name: "secrets-not-a-list",
        lines: &[
            "name: x",
            "secrets: TOKEN",
            "steps:",
            "  - id: a",
            "    action: wait",
            "    with: { duration: 1s }",
        ],
        line: 2,
        col: 10,
        message: "`secrets` must be a list of environment variable names, found a scalar",
        hint: Some("`secrets: [DB_PASSWORD, API_TOKEN]`"),
    },
    Case {
        name: "secret-listed-twice",
        lines: &[
            "name: x",
            "secrets: [TOKEN, TOKEN]",
            "steps:",
            "  - id: a",
            "    action: wait",
            "    with: { duration: 1s }",
        ],
        line: 2,
        col: 18,
        message: "secret `TOKEN` is listed twice",
        hint: None,
    },
    // Steps.
    Case {
        name: "step-not-a-mapping",
        lines: &["name: x", "steps:", "  - just-a-string"],
        line: 3,
        col: 5,
        message: "a step must be a mapping (`key: value` lines), found a scalar",
        hint: None,
    },
    Case {
        name: "unknown-step-key",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"true\" }",
            "    timout: 5s",
        ],
        line: 6,
        col: 5,
        message: "unknown step key `timout`",
        hint: Some("did you mean `timeout`?"),
    },
    Case {
        name: "step-key-twice",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"true\" }",
            "    id: b",
        ],
        line: 6,
        col: 5,
        message: "key `id` appears twice in this step",
        hint: None,
    },
    Case {
        name: "step-key-not-a-name",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"true\" }",
            "    [k]: v",
        ],
        line: 6,
        col: 5,
        message: "a step key must be a plain name, found a list",
        hint: None,
    },
    Case {
        name: "step-without-id",
        lines: &[
            "name: x",
            "steps:",
            "  - action: shell",
            "    with: { run: \"true\" }",
        ],
        line: 3,
        col: 5,
        message: "step without `id`",
        hint: Some("`id: freeze-writes`"),
    },
    Case {
        name: "step-id-invalid",
        lines: &[
            "name: x",
            "steps:",
            "  - id: \"freeze writes\"",
            "    action: shell",
            "    with: { run: \"true\" }",
        ],
        line: 3,
        col: 9,
        message: "`freeze writes` is not a valid step id",
        hint: Some("letters, digits"),
    },
    Case {
        name: "step-without-action",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    with: { run: \"true\" }",
        ],
        line: 3,
        col: 5,
        message: "step `a` has no `action`",
        hint: Some("add `action: shell`"),
    },
    Case {
        name: "action-not-text",
        lines: &["name: x", "steps:", "  - id: a", "    action: [shell]"],
        line: 4,
        col: 13,
        message: "`action` must be text, found a list",
        hint: None,
    },
    Case {
        name: "with-not-a-mapping",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: echo hi",
        ],
        line: 5,
        col: 11,
        message: "`with` must be a mapping (`key: value` lines), found a scalar",
        hint: None,
    },
    Case {
        name: "point-of-no-return-not-a-bool",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"true\" }",
            "    point_of_no_return: maybe",
        ],
        line: 6,
        col: 25,
        message: "`point_of_no_return` must be `true` or `false`",
        hint: None,
    },
    Case {
        name: "idempotent-quoted",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"true\" }",
            "    idempotent: \"yes\"",
        ],
        line: 6,
        col: 17,
        message: "`idempotent` must be `true` or `false`",
        hint: None,
    },
    // Durations and retries.
    Case {
        name: "duration-in-words",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"true\" }",
            "    timeout: 5 minutes",
        ],
        line: 6,
        col: 14,
        message: "`timeout`: `5 minutes` is not a duration: expected a number and a unit (`ms`, `s`, `m`, `h`, `d`), such as `90s`",
        // No `hint:` line: the examples (`90s`, `5m`, `1h30m`) are in the message.
        hint: None,
    },
    Case {
        name: "duration-without-unit",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"true\" }",
            "    estimate: 5",
        ],
        line: 6,
        col: 15,
        message: "`estimate`: `5` has no unit: write `5s`, `5m` or `5ms`",
        hint: None,
    },
    Case {
        name: "retries-zero-attempts",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"true\" }",
            "    retries: { attempts: 0 }",
        ],
        line: 6,
        col: 26,
        message: "`attempts` must be a whole number from 1 to 100",
        hint: Some("`attempts: 3` tries up to three times"),
    },
    Case {
        name: "retries-unknown-key",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"true\" }",
            "    retries: { attempts: 2, delay: 1s }",
        ],
        line: 6,
        col: 29,
        message: "unknown retries key `delay`",
        hint: Some("attempts, backoff"),
    },
    Case {
        name: "retries-bad-backoff",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"true\" }",
            "    retries: { attempts: 2, backoff: soon }",
        ],
        line: 6,
        col: 38,
        message: "`backoff`: `soon` is not a duration",
        hint: None,
    },
    // Names that must be unique.
    Case {
        name: "duplicate-step-id",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"true\" }",
            "  - id: a",
            "    action: wait",
            "    with: { duration: 1s }",
        ],
        line: 6,
        col: 9,
        message: "duplicate step id `a`",
        hint: Some("first used on line 3"),
    },
    Case {
        name: "duplicate-checkpoint",
        lines: &[
            "name: x",
            "steps:",
            "  - checkpoint: before",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"true\" }",
            "  - checkpoint: before",
            "  - id: b",
            "    action: wait",
            "    with: { duration: 1s }",
        ],
        line: 7,
        col: 17,
        message: "duplicate checkpoint `before`",
        hint: Some("first used on line 3"),
    },
    Case {
        name: "checkpoint-extra-key",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"true\" }",
            "  - checkpoint: c",
            "    id: c",
            "  - id: b",
            "    action: wait",
            "    with: { duration: 1s }",
        ],
        line: 7,
        col: 5,
        message: "unknown checkpoint entry key `id`",
        hint: Some("accepts: checkpoint"),
    },
    Case {
        name: "checkpoint-name-invalid",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"true\" }",
            "  - checkpoint: \"before downtime\"",
            "  - id: b",
            "    action: wait",
            "    with: { duration: 1s }",
        ],
        line: 6,
        col: 17,
        message: "`before downtime` is not a valid checkpoint name",
        hint: Some("letters, digits"),
    },
    // Actions and their parameters.
    Case {
        name: "unknown-action",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shel",
            "    with: { run: \"true\" }",
        ],
        line: 4,
        col: 13,
        message: "unknown action `shel`",
        hint: Some("did you mean `shell`?"),
    },
    Case {
        name: "unknown-action-far-from-any",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: kubernetes.rollout",
        ],
        line: 4,
        col: 13,
        message: "unknown action `kubernetes.rollout`",
        hint: Some("available actions: shell, wait, approve, maintenance.file"),
    },
    Case {
        name: "param-wrong-type-nested",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with:",
            "      run: \"true\"",
            "      env:",
            "        A: ok",
            "        B: [1, 2]",
        ],
        line: 9,
        col: 12,
        message: "`shell` parameters: invalid type: sequence, expected a string",
        hint: None,
    },
    Case {
        name: "param-wrong-type-in-rollback",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"true\" }",
            "    rollback:",
            "      action: shell",
            "      with:",
            "        run: [undo]",
            "  - id: b",
            "    action: wait",
            "    with: { duration: 1s }",
        ],
        line: 9,
        col: 14,
        message: "`shell` parameters: invalid type: sequence, expected a string",
        hint: None,
    },
    Case {
        name: "param-bad-enum",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: maintenance.file",
            "    with: { path: m.on, state: maybe }",
        ],
        line: 5,
        col: 32,
        message: "expected `on` or `off`",
        hint: None,
    },
    Case {
        name: "param-bad-duration",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: wait",
            "    with: { duration: 5 minutes }",
        ],
        line: 5,
        col: 23,
        message: "`wait` parameters: `5 minutes` is not a duration",
        hint: None,
    },
    Case {
        name: "param-missing",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: wait",
            "    with: {}",
        ],
        line: 5,
        col: 11,
        message: "`wait` parameters: missing field `duration`",
        hint: None,
    },
    Case {
        name: "param-missing-without-with",
        lines: &["name: x", "steps:", "  - id: a", "    action: wait"],
        line: 4,
        col: 13,
        message: "`wait` parameters: missing field `duration`",
        hint: Some("add `with:` with the parameters of `wait`"),
    },
    Case {
        name: "duplicate-param",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with:",
            "      run: ./migrate --check",
            "      run: ./migrate --apply",
        ],
        line: 7,
        col: 7,
        message: "`run` appears twice",
        hint: None,
    },
    // Templates.
    Case {
        name: "undefined-var",
        lines: &[
            "name: x",
            "vars:",
            "  target: db2",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"pg_dump ${{ vars.targt }}\" }",
        ],
        line: 7,
        col: 27,
        message: "undefined var `targt`",
        hint: Some("did you mean `target`?"),
    },
    Case {
        name: "undefined-var-far-from-any",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"echo ${{ vars.zzz }}\" }",
        ],
        line: 5,
        col: 24,
        message: "undefined var `zzz`",
        hint: Some("define it under `vars:`"),
    },
    Case {
        name: "secret-not-listed",
        lines: &[
            "name: x",
            "secrets: [OTHER]",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"echo ${{ secrets.TOKEN }}\" }",
        ],
        line: 6,
        col: 24,
        message: "`secrets.TOKEN` is not listed under `secrets`",
        hint: Some("add `TOKEN` to `secrets:`"),
    },
    Case {
        name: "template-never-closed",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"echo ${{ vars.x\" }",
        ],
        line: 5,
        col: 24,
        message: "`${{` is never closed with `}}`",
        hint: None,
    },
    Case {
        name: "template-unknown-scope",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"echo ${{ foo.x }}\" }",
        ],
        line: 5,
        col: 24,
        message: "unknown scope `foo`: expected `vars`, `env` or `secrets`",
        hint: None,
    },
    Case {
        name: "template-plain-scalar",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with:",
            "      run: echo ${{ vars.nope }}",
        ],
        line: 6,
        col: 17,
        message: "undefined var `nope`",
        hint: Some("define it under `vars:`"),
    },
    // Rollbacks.
    Case {
        name: "rollback-never-runs",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: wait",
            "    with: { duration: 1s }",
            "  - id: last",
            "    action: shell",
            "    with: { run: \"true\" }",
            "    rollback:",
            "      action: shell",
            "      with: { run: \"true\" }",
        ],
        line: 10,
        col: 7,
        message: "the rollback of `last` can never run",
        hint: Some("no step comes after this one"),
    },
    Case {
        name: "rollback-scalar",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"true\" }",
            "    rollback: undo",
            "  - id: b",
            "    action: wait",
            "    with: { duration: 1s }",
        ],
        line: 6,
        col: 15,
        message: "`rollback` must be an action call or `none`, found `undo`",
        hint: Some("`rollback: none`"),
    },
    Case {
        name: "rollback-without-action",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"true\" }",
            "    rollback: { with: { run: \"true\" } }",
            "  - id: b",
            "    action: wait",
            "    with: { duration: 1s }",
        ],
        line: 6,
        col: 17,
        message: "`rollback` has no `action`",
        hint: Some("write `rollback: { action: shell"),
    },
    Case {
        name: "rollback-unknown-key",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"true\" }",
            "    rollback: { action: shell, with: { run: \"true\" }, when: always }",
            "  - id: b",
            "    action: wait",
            "    with: { duration: 1s }",
        ],
        line: 6,
        col: 55,
        message: "unknown rollback key `when`",
        hint: Some("action, with, timeout, retries"),
    },
    Case {
        name: "rollback-unknown-action",
        lines: &[
            "name: x",
            "steps:",
            "  - id: a",
            "    action: shell",
            "    with: { run: \"true\" }",
            "    rollback: { action: shel }",
            "  - id: b",
            "    action: wait",
            "    with: { duration: 1s }",
        ],
        line: 6,
        col: 25,
        message: "unknown action `shel`",
        hint: Some("did you mean `shell`?"),
    },
];

/// Cases whose expectation is right and whose answer today is not; see each
/// `#[ignore]` reason. Kept apart so the table above stays green.
const UNKNOWN_PARAM_AT_ITS_KEY: Case = Case {
    name: "unknown-param",
    lines: &[
        "name: x",
        "steps:",
        "  - id: a",
        "    action: shell",
        "    with:",
        "      run: \"true\"",
        "      shell: zsh",
    ],
    line: 7,
    col: 7,
    message: "`shell` parameters: unknown field `shell`, expected one of `run`, `cwd`, `env`",
    hint: None,
};

const TEMPLATE_IN_BLOCK_SCALAR: Case = Case {
    name: "template-in-block-scalar",
    lines: &[
        "name: x",
        "steps:",
        "  - id: a",
        "    action: shell",
        "    with:",
        "      run: |",
        "        echo start",
        "        echo ${{ vars.nope }}",
    ],
    line: 8,
    col: 14,
    message: "undefined var `nope`",
    hint: Some("define it under `vars:`"),
};

impl Case {
    fn text(&self) -> String {
        self.lines.iter().map(|line| format!("{line}\n")).collect()
    }

    fn file(&self) -> String {
        format!("{}.yaml", self.name)
    }

    /// Every way the answer differs from the expectation, or nothing.
    fn check(&self, sandbox: &Sandbox) -> Vec<String> {
        let file = self.file();
        sandbox.write(&file, &self.text());
        let mut wrong = Vec::new();
        let human = sandbox.run(&["validate", &file]);
        wrong.extend(self.check_human(&human));
        let json = sandbox.run(&["validate", "--output", "json", &file]);
        wrong.extend(self.check_json(&json));
        wrong
            .into_iter()
            .map(|problem| format!("{}: {problem}", self.name))
            .collect()
    }

    fn check_human(&self, output: &Output) -> Vec<String> {
        let mut wrong = Vec::new();
        let Case { line, col, .. } = *self;
        if output.code != 2 {
            wrong.push(format!("exit {} instead of 2", output.code));
        }
        let stderr = &output.stderr;
        let lines: Vec<&str> = stderr.lines().collect();
        let first = lines.first().copied().unwrap_or_default();
        let location = format!("{}:{line}:{col}: error: ", self.file());
        if !first.starts_with(&location) {
            wrong.push(format!("first line is not at {location}:\n{stderr}"));
        }
        if !first.contains(self.message) {
            wrong.push(format!("message lacks `{}`:\n{stderr}", self.message));
        }
        if !stderr.contains(&format!("{}: 1 problem found", self.file())) {
            wrong.push(format!("not exactly one problem:\n{stderr}"));
        }
        // The block of this diagnostic ends at the first blank line.
        let block: Vec<&str> = lines
            .iter()
            .copied()
            .take_while(|l| !l.is_empty())
            .collect();
        let hint = block.iter().find(|l| l.starts_with("hint: "));
        match (self.hint, hint) {
            (Some(expected), Some(found)) if !found.contains(expected) => {
                wrong.push(format!("hint lacks `{expected}`: {found}"));
            }
            (Some(expected), None) => wrong.push(format!("no hint, expected `{expected}`")),
            (None, Some(found)) => wrong.push(format!("unexpected {found}")),
            _ => {}
        }
        if let Some(source_line) = self.lines.get(line - 1) {
            wrong.extend(check_caret(&block, line, col, source_line));
        }
        wrong
    }

    fn check_json(&self, output: &Output) -> Vec<String> {
        let mut wrong = Vec::new();
        if output.code != 2 {
            wrong.push(format!("--output json: exit {} instead of 2", output.code));
        }
        let value: serde_json::Value = match serde_json::from_str(&output.stdout) {
            Ok(value) => value,
            Err(error) => {
                return vec![format!(
                    "--output json: not JSON ({error}): {}",
                    output.stdout
                )]
            }
        };
        let problems = value["problems"].as_array().cloned().unwrap_or_default();
        if value["valid"] != false || value["file"] != self.file() || problems.len() != 1 {
            wrong.push(format!(
                "--output json: expected one problem in an invalid file: {value}"
            ));
            return wrong;
        }
        let problem = &problems[0];
        let at = (problem["line"].as_u64(), problem["col"].as_u64());
        if problem["severity"] != "error" || at != (Some(self.line as u64), Some(self.col as u64)) {
            wrong.push(format!(
                "--output json: expected an error at {}:{}: {problem}",
                self.line, self.col
            ));
        }
        if !problem["message"]
            .as_str()
            .unwrap_or_default()
            .contains(self.message)
        {
            wrong.push(format!(
                "--output json: message lacks `{}`: {problem}",
                self.message
            ));
        }
        match (self.hint, problem["hint"].as_str()) {
            (Some(expected), Some(found)) if found.contains(expected) => {}
            (None, None) => {}
            _ => wrong.push(format!(
                "--output json: hint should be {:?}: {problem}",
                self.hint
            )),
        }
        wrong
    }
}

/// The source line is shown under the location, with the caret under column `col`.
fn check_caret(block: &[&str], line: usize, col: usize, source_line: &str) -> Vec<String> {
    let gutter = format!("{line} | ");
    let Some(shown) = block.iter().position(|l| l.starts_with(&gutter)) else {
        return vec![format!(
            "source line {line} not shown:\n{}",
            block.join("\n")
        )];
    };
    let mut wrong = Vec::new();
    if block[shown][gutter.len()..] != *source_line {
        wrong.push(format!(
            "shows `{}` for line {line}",
            &block[shown][gutter.len()..]
        ));
    }
    let caret_line = block.get(shown + 1).copied().unwrap_or_default();
    let prefix = format!("{} | ", " ".repeat(line.to_string().len()));
    let caret = caret_line.strip_prefix(&prefix).and_then(|c| c.find('^'));
    if caret != Some(col - 1) {
        wrong.push(format!(
            "caret not under column {col}:\n{}",
            block.join("\n")
        ));
    }
    wrong
}

#[track_caller]
pub(crate) fn assert_cases(cases: &[&Case]) {
    let sandbox = Sandbox::new();
    let wrong: Vec<String> = cases.iter().flat_map(|case| case.check(&sandbox)).collect();
    assert!(
        wrong.is_empty(),
        "{} problem(s) in {} case(s):\n\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n\n")
    );
}

#[test]
fn every_rule_is_reported_at_its_position() {
    let names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "case names must be unique");
    assert_cases(&CASES.iter().collect::<Vec<_>>());
}

#[test]
fn unknown_param_is_reported_at_its_key() {
    assert_cases(&[&UNKNOWN_PARAM_AT_ITS_KEY]);
}

const PARAM_WITH_THE_WORD_SECRETS: Case = Case {
    name: "param-mentions-secrets",
    lines: &[
        "name: x",
        "steps:",
        "  - id: a",
        "    action: wait",
        "    with: { duration: \"ask secrets.team\" }",
        "  - id: b",
        "    action: shell",
        "    with: { run: \"true\" }",
    ],
    line: 5,
    col: 23,
    message: "`wait` parameters: `ask secrets.team` is not a duration",
    hint: None,
};

#[test]
fn param_error_is_not_hidden_by_the_word_secrets() {
    assert_cases(&[&PARAM_WITH_THE_WORD_SECRETS]);
}

#[test]
fn template_in_block_scalar_is_reported_at_its_line() {
    assert_cases(&[&TEMPLATE_IN_BLOCK_SCALAR]);
}

#[test]
fn lone_carriage_returns_show_the_reported_line() {
    let sandbox = Sandbox::new();
    sandbox.write("cr.yaml", "# old editor\rname: x\nsteps: 5\nfoo: 1\n");
    let output = sandbox.run(&["validate", "cr.yaml"]);
    output.expect_code(2);
    assert!(
        output
            .stderr
            .starts_with("cr.yaml:3:8: error: `steps` must be a list"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("3 | steps: 5\n"),
        "{}",
        output.stderr
    );
}

/// Problems of every phase (YAML structure, keys, types, actions, parameters,
/// names, templates, rollbacks): each in the order of the file.
const SEVERAL_PROBLEMS: &str = include_str!("../data/validate/several-problems.yaml");

/// Only problems that the checks after decoding find.
const SEVERAL_CHECK_PROBLEMS: &str = include_str!("../data/validate/several-check-problems.yaml");

/// `(line, col, message fragment)` of every problem in `several-check-problems.yaml`.
const CHECK_PROBLEMS: &[(usize, usize, &str)] = &[
    (9, 13, "unknown action `shel`"),
    (11, 9, "duplicate step id `copy`"),
    (13, 23, "`5 minutes` is not a duration"),
    (17, 27, "undefined var `hots`"),
    (21, 37, "`secrets.TOKEN` is not listed under `secrets`"),
    (22, 17, "duplicate checkpoint `before-switch`"),
    (24, 13, "`wait` parameters: missing field `duration`"),
    (30, 7, "the rollback of `switch` can never run"),
];

/// `(line, col, message fragment)` of every problem in `several-problems.yaml`: the
/// same file with four lines broken for the decoder.
const ALL_PROBLEMS: &[(usize, usize, &str)] = &[
    (2, 1, "unknown playbook key `descriptin`"),
    (9, 13, "unknown action `shel`"),
    (11, 9, "duplicate step id `copy`"),
    (13, 23, "`5 minutes` is not a duration"),
    (14, 5, "unknown step key `timout`"),
    (17, 27, "undefined var `hots`"),
    (18, 26, "`attempts` must be a whole number"),
    (21, 37, "`secrets.TOKEN` is not listed under `secrets`"),
    (22, 17, "duplicate checkpoint `before-switch`"),
    (24, 13, "`wait` parameters: missing field `duration`"),
    (28, 25, "`point_of_no_return` must be `true` or `false`"),
    (30, 7, "the rollback of `switch` can never run"),
];

#[track_caller]
fn assert_lists_all(text: &str, expected: &[(usize, usize, &str)]) {
    let sandbox = Sandbox::new();
    sandbox.write("several.yaml", text);
    let output = sandbox.run(&["validate", "several.yaml"]);
    output.expect_code(2);
    let found: Vec<&str> = output
        .stderr
        .lines()
        .filter(|l| l.starts_with("several.yaml:") && l.contains(": error: "))
        .collect();
    let wanted: Vec<String> = expected
        .iter()
        .map(|(line, col, message)| format!("several.yaml:{line}:{col}: error: …{message}…"))
        .collect();
    let matches = found.len() == expected.len()
        && found.iter().zip(expected).all(|(f, (line, col, message))| {
            f.starts_with(&format!("several.yaml:{line}:{col}: error: ")) && f.contains(message)
        });
    assert!(
        matches,
        "expected, in this order:\n{}\n\nfound:\n{}",
        wanted.join("\n"),
        found.join("\n")
    );
    let count = format!("several.yaml: {} problems found", expected.len());
    assert!(
        output.stderr.contains(&count),
        "no `{count}`:\n{}",
        output.stderr
    );

    let json = sandbox.run(&["validate", "--output", "json", "several.yaml"]);
    json.expect_code(2);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON on stdout");
    let at: Vec<(u64, u64)> = value["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| (p["line"].as_u64().unwrap(), p["col"].as_u64().unwrap()))
        .collect();
    let expected_at: Vec<(u64, u64)> = expected
        .iter()
        .map(|(l, c, _)| (*l as u64, *c as u64))
        .collect();
    assert_eq!(at, expected_at, "JSON problems in file order");
}

#[test]
fn several_problems_are_all_listed_in_file_order() {
    assert_lists_all(SEVERAL_CHECK_PROBLEMS, CHECK_PROBLEMS);
}

#[test]
fn several_decode_problems_are_all_listed_in_file_order() {
    let text = "name: x\ndescriptin: y\nsteps:\n  - id: a\n    action: shell\n    with: { run: \"true\" }\n    timout: 5s\n    retries: { attempts: 0 }\n  - id: \"b c\"\n    action: wait\n    with: { duration: 1s }\n    point_of_no_return: maybe\n";
    assert_lists_all(
        text,
        &[
            (2, 1, "unknown playbook key `descriptin`"),
            (7, 5, "unknown step key `timout`"),
            (8, 26, "`attempts` must be a whole number"),
            (9, 9, "`b c` is not a valid"),
            (12, 25, "`point_of_no_return` must be `true` or `false`"),
        ],
    );
}

#[test]
fn problems_of_every_phase_are_listed_together() {
    assert_lists_all(SEVERAL_PROBLEMS, ALL_PROBLEMS);
}

fn reference_playbooks() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no playbooks in {}", dir.display());
    files
}

#[test]
fn a_step_without_a_timeout_inside_the_write_freeze_is_warned_about() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        "name: freeze\nsteps:\n  - id: before\n    action: wait\n    with: { duration: 1s }\n  - id: freeze\n    action: postgres.read_only\n    with: { url: \"postgres://app@old/db\" }\n    timeout: 30s\n  - id: catch-up\n    action: postgres.catch_up\n    with: { source: \"postgres://app@old/db\", target: \"postgres://app@new/db\", timeout: 1m }\n  - id: gate\n    action: approve\n    with: { text: go? }\n  - id: swap\n    action: shell\n    with: { run: \"true\" }\n    point_of_no_return: true\n  - id: after\n    action: wait\n    with: { duration: 1s }\n",
    );
    let out = sandbox.run(&["validate", "pb.yaml"]);
    out.expect_code(0);
    let all = out.all();
    // The gate and the swap hold the freeze without a bound; the freeze and
    // the catch-up (its own `timeout`) do not, nor do the steps outside it.
    for step in ["gate", "swap"] {
        assert!(
            all.contains(&format!("`{step}` runs while writes are frozen (from `freeze` to `swap`) and has no `timeout`")),
            "{step}: {all}"
        );
    }
    for step in ["before", "freeze", "catch-up", "after"] {
        assert!(
            !all.contains(&format!("`{step}` runs while writes are frozen")),
            "{step}: {all}"
        );
    }
    assert!(all.contains("pb.yaml:13:5: warning"), "{all}");
}

#[test]
fn mysql_reverse_replication_after_the_swap_is_warned_about() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        "name: late\nsteps:\n  - id: swap\n    action: wait\n    with: { duration: 1s }\n    point_of_no_return: true\n  - id: reverse\n    action: mysql.reverse_replicate\n    with: { source: \"mysql://root@old/shop\", target: \"mysql://root@new/shop\" }\n",
    );
    let out = sandbox.run(&["validate", "pb.yaml"]);
    out.expect_code(0);
    assert!(
        out.all()
            .contains("`reverse` starts reverse replication after the point of no return (`swap`)"),
        "{}",
        out.all()
    );
}

#[test]
fn reference_playbooks_are_valid() {
    let sandbox = Sandbox::new();
    let mut wrong = Vec::new();
    for path in reference_playbooks() {
        let path = path.to_str().expect("UTF-8 path");
        let human = sandbox.run(&["validate", path]);
        if human.code != 0 || !human.stdout.contains(&format!("{path}: valid")) {
            wrong.push(format!("{path}: exit {}\n{}", human.code, human.all()));
        }
        let json = sandbox.run(&["validate", "--output", "json", path]);
        let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap_or_default();
        if json.code != 0 || value["valid"] != true {
            wrong.push(format!(
                "{path}: --output json: exit {}\n{}",
                json.code,
                json.all()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}
