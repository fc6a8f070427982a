//! Decoding the sections that prove and bound the switch: `canary` (the
//! write canary) and `downtime_budget`. URLs are checked when the plan is
//! compiled, where their templates are resolved.

use super::expect::{check_keys, expect_bool, expect_duration, expect_map, expect_string};
use super::model::Canary;
use super::{Diagnostics, Node, Playbook};

const CANARY_KEYS: &[&str] = &["url", "every", "verify_url", "table", "keep"];

pub fn decode_proof(root: &Node, playbook: &mut Playbook, diagnostics: &mut Diagnostics) {
    if let Some(node) = root.get("canary").filter(|n| !n.is_null()) {
        playbook.canary = decode_canary(node, diagnostics);
    }
    if let Some(node) = root.get("downtime_budget").filter(|n| !n.is_null()) {
        playbook.downtime_budget = expect_duration(node, "`downtime_budget`", diagnostics);
        if playbook.downtime_budget.is_some_and(|b| b.0.is_zero()) {
            diagnostics
                .error(node.span, "`downtime_budget` must be longer than 0s")
                .hint("write the longest writes may stay stopped, e.g. `downtime_budget: 5s`");
        }
    }
}

fn decode_canary(node: &Node, diagnostics: &mut Diagnostics) -> Option<Canary> {
    check_keys(
        expect_map(node, "`canary`", diagnostics)?,
        CANARY_KEYS,
        "canary",
        diagnostics,
    );
    let Some(url) = node.get("url") else {
        diagnostics
            .error(node.span, "`canary` without `url`")
            .hint("give the application's address, e.g. `url: postgres://app@proxy:5432/shop`");
        return None;
    };
    let every = node
        .get("every")
        .and_then(|n| expect_duration(n, "`every`", diagnostics));
    if let (Some(every), Some(n)) = (every, node.get("every")) {
        if every.0.is_zero() {
            diagnostics
                .error(n.span, "`every` must be longer than 0s")
                .hint("the canary commits once per `every`; `10ms` is the default");
        }
    }
    let table = node
        .get("table")
        .and_then(|n| expect_string(n, "`table`", diagnostics));
    if let (Some(name), Some(n)) = (&table, node.get("table")) {
        if !is_plain_identifier(name) {
            diagnostics
                .error(
                    n.span,
                    format!("`table` must be a plain name, not `{name}`"),
                )
                .hint("letters, digits and `_`, starting with a letter or `_` (at most 63)");
        }
    }
    Some(Canary {
        url: expect_string(url, "`url`", diagnostics)?,
        every,
        verify_url: node
            .get("verify_url")
            .and_then(|n| expect_string(n, "`verify_url`", diagnostics)),
        table,
        keep: node
            .get("keep")
            .and_then(|n| expect_bool(n, "`keep`", diagnostics))
            .unwrap_or(false),
        span: url.span,
    })
}

/// A table name both engines take unquoted: spliced into SQL, so nothing else.
pub fn is_plain_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 63
}
