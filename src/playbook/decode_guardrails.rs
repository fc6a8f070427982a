//! Decoding the guardrail sections of a playbook: `checklist`, `window`, `notify`.
//! Range syntax and time zones are checked later, in `plan::check`.

use super::call::decode_call;
use super::expect::{check_keys, expect_duration, expect_map, expect_name, expect_string};
use super::model::{ChecklistItem, Notify, Window, WindowSpans};
use super::{Diagnostics, Node, NodeKind, Playbook, Retries, Span};

const ITEM_KEYS: &[&str] = &["id", "text", "verify"];
const WINDOW_KEYS: &[&str] = &["timezone", "allow", "deny", "margin", "on_overrun"];
const NOTIFY_KEYS: &[&str] = &["url", "headers"];

pub fn decode_guardrails(root: &Node, playbook: &mut Playbook, diagnostics: &mut Diagnostics) {
    if let Some(node) = root.get("checklist").filter(|n| !n.is_null()) {
        playbook.checklist = list(node, "`checklist`", diagnostics)
            .iter()
            .filter_map(|item| decode_item(item, diagnostics))
            .collect();
    }
    if let Some(node) = root.get("window").filter(|n| !n.is_null()) {
        playbook.window = decode_window(node, diagnostics);
    }
    if let Some(node) = root.get("notify").filter(|n| !n.is_null()) {
        playbook.notify = list(node, "`notify`", diagnostics)
            .iter()
            .filter_map(|hook| decode_notify(hook, diagnostics))
            .collect();
    }
}

fn list<'a>(node: &'a Node, what: &str, diagnostics: &mut Diagnostics) -> &'a [Node] {
    match &node.kind {
        NodeKind::Seq(items) => items,
        _ => {
            diagnostics.error(
                node.span,
                format!("{what} must be a list, found {}", node.kind_name()),
            );
            &[]
        }
    }
}

fn decode_item(node: &Node, diagnostics: &mut Diagnostics) -> Option<ChecklistItem> {
    check_keys(
        expect_map(node, "a checklist item", diagnostics)?,
        ITEM_KEYS,
        "checklist item",
        diagnostics,
    );
    let Some(id) = node.get("id") else {
        diagnostics
            .error(node.span, "checklist item without `id`")
            .hint("give each item an `id`, used by `--confirm ID`");
        return None;
    };
    let Some(text) = node.get("text") else {
        diagnostics
            .error(node.span, "checklist item without `text`")
            .hint("say what the operator confirms, as a sentence");
        return None;
    };
    // A verify is a check, not a change: one try unless it says otherwise.
    let verify = node
        .get("verify")
        .and_then(|v| decode_call(v, "verify", Retries::default(), diagnostics));
    Some(ChecklistItem {
        id: expect_name(id, "checklist id", diagnostics)?,
        text: expect_string(text, "`text`", diagnostics)?,
        verify,
        span: id.span,
    })
}

fn strings(node: &Node, what: &str, diagnostics: &mut Diagnostics) -> Vec<(String, Span)> {
    list(node, what, diagnostics)
        .iter()
        .filter_map(|item| expect_string(item, what, diagnostics).map(|text| (text, item.span)))
        .collect()
}

fn decode_window(node: &Node, diagnostics: &mut Diagnostics) -> Option<Window> {
    check_keys(
        expect_map(node, "`window`", diagnostics)?,
        WINDOW_KEYS,
        "window",
        diagnostics,
    );
    let mut spans = WindowSpans::default();
    let timezone = match node.get("timezone") {
        Some(tz) => {
            spans.timezone = tz.span;
            expect_string(tz, "`timezone`", diagnostics)?
        }
        None => {
            diagnostics
                .error(node.span, "`window` without `timezone`")
                .hint("name the zone the ranges are written in, e.g. `timezone: Europe/Zurich`");
            return None;
        }
    };
    let allow = node
        .get("allow")
        .map(|n| strings(n, "`allow`", diagnostics))
        .unwrap_or_default();
    let deny = node
        .get("deny")
        .map(|n| strings(n, "`deny`", diagnostics))
        .unwrap_or_default();
    spans.allow = allow.iter().map(|(_, s)| *s).collect();
    spans.deny = deny.iter().map(|(_, s)| *s).collect();
    if allow.is_empty() && deny.is_empty() {
        diagnostics
            .error(node.span, "`window` has neither `allow` nor `deny`")
            .hint(
                "add `allow: [\"Sat 22:00 - Sun 06:00\"]` or `deny: [\"Mon-Fri 07:00 - 19:00\"]`",
            );
    }
    let on_overrun = node.get("on_overrun").and_then(|n| {
        spans.on_overrun = n.span;
        let text = expect_string(n, "`on_overrun`", diagnostics)?;
        if matches!(text.as_str(), "rollback" | "pause" | "continue") {
            Some(text)
        } else {
            diagnostics.error(
                n.span,
                format!("`on_overrun` must be `rollback`, `pause` or `continue`, found `{text}`"),
            );
            None
        }
    });
    Some(Window {
        timezone,
        allow: allow.into_iter().map(|(t, _)| t).collect(),
        deny: deny.into_iter().map(|(t, _)| t).collect(),
        margin: node
            .get("margin")
            .and_then(|n| expect_duration(n, "`margin`", diagnostics)),
        on_overrun,
        spans,
    })
}

fn decode_notify(node: &Node, diagnostics: &mut Diagnostics) -> Option<Notify> {
    check_keys(
        expect_map(node, "a webhook", diagnostics)?,
        NOTIFY_KEYS,
        "webhook",
        diagnostics,
    );
    let Some(url) = node.get("url") else {
        diagnostics.error(node.span, "webhook without `url`");
        return None;
    };
    let mut headers = std::collections::BTreeMap::new();
    if let Some(map) = node
        .get("headers")
        .and_then(|h| expect_map(h, "`headers`", diagnostics))
    {
        for (key, value) in map {
            if let (Some(k), Some(v)) = (
                expect_string(key, "a header name", diagnostics),
                expect_string(value, "a header value", diagnostics),
            ) {
                headers.insert(k, v);
            }
        }
    }
    Some(Notify {
        url: expect_string(url, "`url`", diagnostics)?,
        headers,
        span: url.span,
    })
}
