//! `decode`: spanned YAML tree → `Playbook`, collecting every problem rather than
//! stopping at the first, each at the position of the node it concerns.

use super::call::{decode_retries, decode_rollback, decode_with};
use super::decode_guardrails::decode_guardrails;
use super::decode_proof::decode_proof;
use super::decode_slow::{decode_on_slow, decode_slow_factor};
use super::expect::{
    check_keys, expect_bool, expect_duration, expect_map, expect_name, expect_string,
    expect_timeout,
};
use super::model::{Checkpoint, PlaybookSpans, StepSpans};
use super::{Diagnostics, Entry, Node, NodeKind, Playbook, Retries, RollbackSpec, Step};

/// Keys a playbook's top level accepts.
pub const TOP_KEYS: &[&str] = &[
    "name",
    "description",
    "vars",
    "secrets",
    "checklist",
    "window",
    "notify",
    "canary",
    "downtime_budget",
    "on_slow",
    "slow_factor",
    "steps",
    "go_back",
];
/// Keys a step accepts.
pub const STEP_KEYS: &[&str] = &[
    "id",
    "name",
    "action",
    "with",
    "timeout",
    "retries",
    "rollback",
    "estimate",
    "idempotent",
    "point_of_no_return",
    "on_slow",
    "slow_factor",
];

/// Decodes the document root; problems go into `diagnostics`, and the returned
/// playbook holds whatever could be decoded (only used when there were none).
pub fn decode(root: &Node, diagnostics: &mut Diagnostics) -> Playbook {
    let mut playbook = Playbook {
        name: String::new(),
        description: None,
        vars: Vec::new(),
        secrets: Vec::new(),
        steps: Vec::new(),
        go_back: Vec::new(),
        checklist: Vec::new(),
        window: None,
        notify: Vec::new(),
        canary: None,
        downtime_budget: None,
        on_slow: None,
        slow_factor: None,
        spans: PlaybookSpans::default(),
    };
    let Some(entries) = expect_map(root, "the playbook", diagnostics) else {
        return playbook;
    };
    check_keys(entries, TOP_KEYS, "playbook", diagnostics);
    match root.get("name") {
        Some(node) => {
            playbook.spans.name = node.span;
            playbook.name = expect_name(node, "playbook name", diagnostics).unwrap_or_default();
        }
        None => {
            diagnostics
                .error(root.span, "missing `name`")
                .hint("add `name: my-cutover` at the top");
        }
    }
    playbook.description = root
        .get("description")
        .and_then(|n| expect_string(n, "`description`", diagnostics));
    if let Some(vars) = root.get("vars") {
        decode_vars(vars, &mut playbook, diagnostics);
    }
    if let Some(secrets) = root.get("secrets") {
        decode_secrets(secrets, &mut playbook, diagnostics);
    }
    decode_guardrails(root, &mut playbook, diagnostics);
    decode_proof(root, &mut playbook, diagnostics);
    playbook.on_slow = root
        .get("on_slow")
        .and_then(|n| decode_on_slow(n, diagnostics));
    playbook.slow_factor = root
        .get("slow_factor")
        .and_then(|n| decode_slow_factor(n, diagnostics));
    match root.get("steps") {
        Some(steps) => playbook.steps = decode_steps(steps, diagnostics),
        None => {
            diagnostics
                .error(root.span, "missing `steps`")
                .hint("add `steps:` with at least one step");
        }
    }
    if let Some(go_back) = root.get("go_back") {
        playbook.go_back = decode_go_back(go_back, diagnostics);
    }
    playbook
}

/// `go_back:`: steps only. Its failure undoes the go-back's own steps, so a
/// checkpoint has no meaning there.
fn decode_go_back(node: &Node, diagnostics: &mut Diagnostics) -> Vec<Entry> {
    if node.is_null() {
        return Vec::new();
    }
    let NodeKind::Seq(items) = &node.kind else {
        diagnostics
            .error(
                node.span,
                format!(
                    "`go_back` must be a list of steps, found {}",
                    node.kind_name()
                ),
            )
            .hint("start each step with `- id: …`, as under `steps`");
        return Vec::new();
    };
    if items.is_empty() {
        diagnostics
            .error(node.span, "`go_back` is empty")
            .hint("list the steps of the way back (freeze the new server, reverse catch-up, swap back, thaw the old one), or remove `go_back`");
    }
    let mut steps = Vec::new();
    for item in items {
        if let Some(checkpoint) = item.get("checkpoint") {
            diagnostics
                .error(checkpoint.span, "a checkpoint cannot be part of `go_back`")
                .hint("a go-back that fails undoes all of its own steps so far; remove the checkpoint");
            continue;
        }
        if let Some(entry) = decode_entry(item, diagnostics) {
            steps.push(entry);
        }
    }
    steps
}

fn decode_vars(node: &Node, playbook: &mut Playbook, diagnostics: &mut Diagnostics) {
    if node.is_null() {
        return;
    }
    let Some(entries) = expect_map(node, "`vars`", diagnostics) else {
        return;
    };
    let mut seen = std::collections::HashSet::new();
    for (key, value) in entries {
        let Some(name) = expect_name(key, "var name", diagnostics) else {
            continue;
        };
        if !seen.insert(name.clone()) {
            diagnostics.error(key.span, format!("var `{name}` is defined twice"));
            continue;
        }
        let Some(value) = expect_string(value, &format!("var `{name}`"), diagnostics) else {
            continue;
        };
        playbook.vars.push((name, value));
        playbook.spans.vars.push(key.span);
    }
}

fn decode_secrets(node: &Node, playbook: &mut Playbook, diagnostics: &mut Diagnostics) {
    if node.is_null() {
        return;
    }
    let NodeKind::Seq(items) = &node.kind else {
        diagnostics
            .error(
                node.span,
                format!(
                    "`secrets` must be a list of environment variable names, found {}",
                    node.kind_name()
                ),
            )
            .hint("write `secrets: [DB_PASSWORD, API_TOKEN]`");
        return;
    };
    let mut seen = std::collections::HashSet::new();
    for item in items {
        if let Some(name) = expect_name(item, "environment variable name", diagnostics) {
            if !seen.insert(name.clone()) {
                diagnostics.error(item.span, format!("secret `{name}` is listed twice"));
            } else {
                playbook.secrets.push(name);
                playbook.spans.secrets.push(item.span);
            }
        }
    }
}

fn decode_steps(node: &Node, diagnostics: &mut Diagnostics) -> Vec<Entry> {
    let NodeKind::Seq(items) = &node.kind else {
        diagnostics
            .error(
                node.span,
                format!("`steps` must be a list, found {}", node.kind_name()),
            )
            .hint("start each step with `- id: …`");
        return Vec::new();
    };
    if items.is_empty() {
        diagnostics
            .error(node.span, "`steps` is empty")
            .hint("a playbook needs at least one step");
    }
    items
        .iter()
        .filter_map(|item| decode_entry(item, diagnostics))
        .collect()
}

fn decode_entry(node: &Node, diagnostics: &mut Diagnostics) -> Option<Entry> {
    let entries = expect_map(node, "a step", diagnostics)?;
    if let Some(name_node) = node.get("checkpoint") {
        check_keys(entries, &["checkpoint"], "checkpoint entry", diagnostics);
        let name = expect_name(name_node, "checkpoint name", diagnostics)?;
        return Some(Entry::Checkpoint(Checkpoint {
            checkpoint: name,
            span: name_node.span,
        }));
    }
    check_keys(entries, STEP_KEYS, "step", diagnostics);
    let mut step = Step {
        id: String::new(),
        name: node
            .get("name")
            .and_then(|n| expect_string(n, "`name`", diagnostics)),
        action: String::new(),
        with: None,
        timeout: node
            .get("timeout")
            .and_then(|n| expect_timeout(n, "`timeout`", diagnostics)),
        retries: node
            .get("retries")
            .and_then(|n| decode_retries(n, Retries::default(), diagnostics)),
        rollback: RollbackSpec::Implied,
        estimate: node
            .get("estimate")
            .and_then(|n| expect_duration(n, "`estimate`", diagnostics)),
        idempotent: node
            .get("idempotent")
            .and_then(|n| expect_bool(n, "`idempotent`", diagnostics)),
        point_of_no_return: false,
        on_slow: node
            .get("on_slow")
            .and_then(|n| decode_on_slow(n, diagnostics)),
        slow_factor: node
            .get("slow_factor")
            .and_then(|n| decode_slow_factor(n, diagnostics)),
        spans: StepSpans {
            entry: node.span,
            ..StepSpans::default()
        },
        with_node: None,
    };
    match node.get("id") {
        Some(id) => {
            step.spans.id = id.span;
            step.id = expect_name(id, "step id", diagnostics).unwrap_or_default();
        }
        None => {
            diagnostics
                .error(node.span, "step without `id`")
                .hint("every step needs a unique `id`, such as `id: freeze-writes`");
        }
    }
    match node.get("action") {
        Some(action) => {
            step.spans.action = action.span;
            step.action = expect_string(action, "`action`", diagnostics).unwrap_or_default();
        }
        None => {
            diagnostics
                .error(node.span, format!("step `{}` has no `action`", step.id))
                .hint("add `action: shell` (or another action) to the step");
        }
    }
    if let Some(with) = node.get("with") {
        step.with = decode_with(with, diagnostics);
        step.with_node = Some(with.clone());
    }
    if let Some(rollback) = node.get("rollback") {
        step.spans.rollback = rollback.span;
        step.rollback = decode_rollback(rollback, diagnostics);
    }
    if let Some(ponr) = node.get("point_of_no_return") {
        step.spans.point_of_no_return = ponr.span;
        step.point_of_no_return =
            expect_bool(ponr, "`point_of_no_return`", diagnostics).unwrap_or(false);
    }
    Some(Entry::Step(Box::new(step)))
}
