//! Decoding an action call — `{ action, with, timeout, retries }` — wherever one
//! appears: a step's `with` and `retries`, a `rollback`, a checklist `verify`.

use super::expect::{
    check_keys, expect_count, expect_duration, expect_map, expect_string, expect_timeout,
};
use super::{ActionCall, Diagnostics, Node, NodeKind, Retries, RollbackSpec};
use crate::duration::DurationText;

const CALL_KEYS: &[&str] = &["action", "with", "timeout", "retries"];
const RETRY_KEYS: &[&str] = &["attempts", "backoff"];
/// What a rollback gets when it does not say: compensations matter more than
/// forward steps, so they get a few tries.
pub const ROLLBACK_RETRIES: Retries = Retries {
    attempts: 3,
    backoff: DurationText(std::time::Duration::from_secs(2)),
};

pub(super) fn decode_with(node: &Node, diagnostics: &mut Diagnostics) -> Option<serde_json::Value> {
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
            .and_then(|n| expect_timeout(n, "`timeout`", diagnostics)),
        retries: node
            .get("retries")
            .and_then(|n| decode_retries(n, retry_defaults, diagnostics)),
        action_span: action_node.span,
        with_node: with_node.cloned(),
    })
}

/// `defaults` fills what the playbook leaves out: a rollback that only sets
/// `backoff` keeps its three attempts.
pub(super) fn decode_retries(
    node: &Node,
    defaults: Retries,
    diagnostics: &mut Diagnostics,
) -> Option<Retries> {
    let entries = expect_map(node, "`retries`", diagnostics)?;
    check_keys(entries, RETRY_KEYS, "retries", diagnostics);
    let mut retries = defaults;
    if let Some(attempts) = node.get("attempts") {
        let hint = "`attempts` counts every try, the first included: `attempts: 3` tries up to three times";
        if let Some(n) = expect_count(attempts, "`attempts`", 1..=100, hint, diagnostics) {
            retries.attempts = n;
        }
    }
    if let Some(backoff) = node.get("backoff") {
        retries.backoff = expect_duration(backoff, "`backoff`", diagnostics).unwrap_or_default();
    }
    Some(retries)
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
