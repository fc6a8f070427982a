//! `decode`: spanned YAML tree → `Playbook`, collecting every problem rather than
//! stopping at the first, each at the position of the node it concerns.

use super::model::{Checkpoint, PlaybookSpans, StepSpans};
use super::{
    did_you_mean, ActionCall, Diagnostics, Entry, Node, NodeKind, Playbook, Retries, RollbackSpec,
    Step,
};
use crate::duration::{parse_duration, DurationText};

/// Keys a playbook's top level accepts.
pub const TOP_KEYS: &[&str] = &[
    "name",
    "description",
    "vars",
    "secrets",
    "checklist",
    "window",
    "notify",
    "steps",
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
];
const CALL_KEYS: &[&str] = &["action", "with", "timeout", "retries"];
const RETRY_KEYS: &[&str] = &["attempts", "backoff"];
/// What a rollback gets when it does not say: compensations matter more than
/// forward steps, so they get a few tries.
pub const ROLLBACK_RETRIES: Retries = Retries {
    attempts: 3,
    backoff: DurationText(std::time::Duration::from_secs(2)),
};

/// Decodes the document root; problems go into `diagnostics`, and the returned
/// playbook holds whatever could be decoded (only used when there were none).
pub fn decode(root: &Node, diagnostics: &mut Diagnostics) -> Playbook {
    let mut playbook = Playbook {
        name: String::new(),
        description: None,
        vars: Vec::new(),
        secrets: Vec::new(),
        steps: Vec::new(),
        checklist: Vec::new(),
        window: None,
        notify: Vec::new(),
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
    super::decode_guardrails::decode_guardrails(root, &mut playbook, diagnostics);
    match root.get("steps") {
        Some(steps) => playbook.steps = decode_steps(steps, diagnostics),
        None => {
            diagnostics
                .error(root.span, "missing `steps`")
                .hint("add `steps:` with at least one step");
        }
    }
    playbook
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
            .and_then(|n| expect_duration(n, "`timeout`", diagnostics)),
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

fn decode_with(node: &Node, diagnostics: &mut Diagnostics) -> Option<serde_json::Value> {
    if node.is_null() {
        return None;
    }
    check_unique_keys(node, diagnostics);
    expect_map(node, "`with`", diagnostics)?;
    Some(node.to_json())
}

pub(super) fn decode_rollback(node: &Node, diagnostics: &mut Diagnostics) -> RollbackSpec {
    if node.as_scalar() == Some("none") {
        return RollbackSpec::None;
    }
    if let NodeKind::Scalar { text, .. } = &node.kind {
        diagnostics
            .error(
                node.span,
                format!("`rollback` must be an action call or `none`, found `{text}`"),
            )
            .hint("write `rollback: none`, or `rollback: { action: shell, with: { run: … } }`");
        return RollbackSpec::None;
    }
    match decode_call(node, "rollback", ROLLBACK_RETRIES, diagnostics) {
        Some(call) => RollbackSpec::Call(call),
        None => RollbackSpec::None,
    }
}

/// `{ action, with, timeout, retries }` under `what` (`rollback`, `verify`).
pub(super) fn decode_call(
    node: &Node,
    what: &str,
    retry_defaults: Retries,
    diagnostics: &mut Diagnostics,
) -> Option<ActionCall> {
    let entries = expect_map(node, &format!("`{what}`"), diagnostics)?;
    check_keys(entries, CALL_KEYS, what, diagnostics);
    let Some(action_node) = node.get("action") else {
        diagnostics
            .error(node.span, format!("`{what}` has no `action`"))
            .hint(format!(
                "write `{what}: {{ action: shell, with: {{ run: … }} }}`"
            ));
        return None;
    };
    let with_node = node.get("with");
    Some(ActionCall {
        action: expect_string(action_node, "`action`", diagnostics).unwrap_or_default(),
        with: with_node.and_then(|w| decode_with(w, diagnostics)),
        timeout: node
            .get("timeout")
            .and_then(|n| expect_duration(n, "`timeout`", diagnostics)),
        retries: node
            .get("retries")
            .and_then(|n| decode_retries(n, retry_defaults, diagnostics)),
        action_span: action_node.span,
        with_node: with_node.cloned(),
    })
}

/// `defaults` fills what the playbook leaves out: a rollback that only sets
/// `backoff` keeps its three attempts.
fn decode_retries(
    node: &Node,
    defaults: Retries,
    diagnostics: &mut Diagnostics,
) -> Option<Retries> {
    let entries = expect_map(node, "`retries`", diagnostics)?;
    check_keys(entries, RETRY_KEYS, "retries", diagnostics);
    let mut retries = defaults;
    if let Some(attempts) = node.get("attempts") {
        match attempts.as_scalar().map(str::parse::<u32>) {
            Some(Ok(n)) if (1..=100).contains(&n) => retries.attempts = n,
            _ => {
                diagnostics
                    .error(attempts.span, "`attempts` must be a whole number from 1 to 100")
                    .hint("`attempts` counts every try, the first included: `attempts: 3` tries up to three times");
            }
        }
    }
    if let Some(backoff) = node.get("backoff") {
        retries.backoff = expect_duration(backoff, "`backoff`", diagnostics).unwrap_or_default();
    }
    Some(retries)
}

pub(super) fn check_keys(
    entries: &[(Node, Node)],
    allowed: &[&str],
    what: &str,
    diagnostics: &mut Diagnostics,
) {
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for (key, _) in entries {
        let Some(name) = key.as_scalar() else {
            diagnostics.error(
                key.span,
                format!(
                    "a {what} key must be a plain name, found {}",
                    key.kind_name()
                ),
            );
            continue;
        };
        if seen.contains(&name) {
            diagnostics.error(
                key.span,
                format!("key `{name}` appears twice in this {what}"),
            );
            continue;
        }
        seen.insert(name);
        if !allowed.contains(&name) {
            let diagnostic = diagnostics.error(key.span, format!("unknown {what} key `{name}`"));
            match did_you_mean(name, allowed.iter().copied()) {
                Some(suggestion) => diagnostic.hint(format!("did you mean `{suggestion}`?")),
                None => diagnostic.hint(format!("a {what} accepts: {}", allowed.join(", "))),
            };
        }
    }
}

pub(super) fn expect_map<'a>(
    node: &'a Node,
    what: &str,
    diagnostics: &mut Diagnostics,
) -> Option<&'a [(Node, Node)]> {
    match &node.kind {
        NodeKind::Map(entries) => Some(entries),
        _ => {
            diagnostics.error(
                node.span,
                format!(
                    "{what} must be a mapping (`key: value` lines), found {}",
                    node.kind_name()
                ),
            );
            None
        }
    }
}

pub(super) fn expect_string(
    node: &Node,
    what: &str,
    diagnostics: &mut Diagnostics,
) -> Option<String> {
    match &node.kind {
        NodeKind::Scalar { text, .. } if !node.is_null() => Some(text.clone()),
        _ => {
            diagnostics.error(
                node.span,
                format!("{what} must be text, found {}", node.kind_name()),
            );
            None
        }
    }
}

/// Ids and names: referenced from the command line and file names, so kept simple.
pub(super) fn expect_name(
    node: &Node,
    what: &str,
    diagnostics: &mut Diagnostics,
) -> Option<String> {
    let text = expect_string(node, what, diagnostics)?;
    // Names referenced from templates cannot hold a dot (`vars.a.b` is ambiguous);
    // ids and the playbook name can, but never lead with one: they become file
    // names (`locks/NAME.lock`).
    let referenced = matches!(what, "var name" | "environment variable name");
    let valid = !text.is_empty()
        && text.len() <= 128
        && !text.starts_with('.')
        && text.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_') || (c == '.' && !referenced)
        });
    if valid {
        Some(text)
    } else {
        let allowed = if referenced {
            "letters, digits, `-` and `_`"
        } else {
            "letters, digits, `-`, `_` and `.` (not first)"
        };
        diagnostics
            .error(
                node.span,
                format!("`{}` is not a valid {what}", shorten(&text)),
            )
            .hint(format!("use {allowed}, at most 128 characters"));
        None
    }
}

fn expect_bool(node: &Node, what: &str, diagnostics: &mut Diagnostics) -> Option<bool> {
    match node.as_scalar() {
        Some("true" | "True" | "TRUE") if !is_quoted(node) => Some(true),
        Some("false" | "False" | "FALSE") if !is_quoted(node) => Some(false),
        _ => {
            diagnostics.error(node.span, format!("{what} must be `true` or `false`"));
            None
        }
    }
}

fn is_quoted(node: &Node) -> bool {
    matches!(node.kind, NodeKind::Scalar { quoted: true, .. })
}

pub(super) fn expect_duration(
    node: &Node,
    what: &str,
    diagnostics: &mut Diagnostics,
) -> Option<DurationText> {
    let text = expect_string(node, what, diagnostics)?;
    match parse_duration(&text) {
        Ok(duration) => Some(DurationText(duration)),
        Err(message) => {
            diagnostics.error(node.span, format!("{what}: {message}"));
            None
        }
    }
}

fn shorten(text: &str) -> String {
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text.to_string()
    }
}

/// A key written twice inside `with` would silently keep the last value: an
/// error everywhere else, so here too.
fn check_unique_keys(node: &Node, diagnostics: &mut Diagnostics) {
    match &node.kind {
        NodeKind::Map(entries) => {
            let mut seen = std::collections::HashSet::new();
            for (key, value) in entries {
                if let Some(name) = key.as_scalar() {
                    if !seen.insert(name) {
                        diagnostics.error(key.span, format!("key `{name}` appears twice"));
                    }
                }
                check_unique_keys(value, diagnostics);
            }
        }
        NodeKind::Seq(items) => items
            .iter()
            .for_each(|item| check_unique_keys(item, diagnostics)),
        NodeKind::Scalar { .. } => {}
    }
}
