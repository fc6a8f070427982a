//! The `expect_*` helpers every decoder shares: a node of the wanted kind, or a
//! diagnostic at its position saying what was expected and what was found.

use super::{did_you_mean, Diagnostics, Node, NodeKind};
use crate::duration::{parse_bounded, parse_positive, DurationText};

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

pub(super) fn expect_bool(node: &Node, what: &str, diagnostics: &mut Diagnostics) -> Option<bool> {
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
    match parse_bounded(&text) {
        Ok(duration) => Some(DurationText(duration)),
        Err(message) => {
            diagnostics.error(node.span, format!("{what}: {message}"));
            None
        }
    }
}

/// A `timeout`: a duration above zero (`0s` would fail every attempt before
/// it starts; leaving `timeout` out is how to say "no limit").
pub(super) fn expect_timeout(
    node: &Node,
    what: &str,
    diagnostics: &mut Diagnostics,
) -> Option<DurationText> {
    let text = expect_string(node, what, diagnostics)?;
    match parse_positive(&text) {
        Ok(duration) => Some(DurationText(duration)),
        Err(message) => {
            let zero = message.contains("no time at all");
            let diagnostic = diagnostics.error(node.span, format!("{what}: {message}"));
            if zero {
                diagnostic.hint("a timeout of zero would fail every attempt before it starts; leave `timeout` out for no limit");
            }
            None
        }
    }
}

/// A whole number written plainly: `attempts: "3"` is text (quoted scalars
/// stay strings, as everywhere else in the playbook), so it is refused by
/// name rather than read as 3.
pub(super) fn expect_count(
    node: &Node,
    what: &str,
    range: std::ops::RangeInclusive<u32>,
    hint: &str,
    diagnostics: &mut Diagnostics,
) -> Option<u32> {
    let expected = format!(
        "{what} must be a whole number from {} to {}",
        range.start(),
        range.end()
    );
    match &node.kind {
        NodeKind::Scalar { text, quoted: true } => {
            diagnostics
                .error(
                    node.span,
                    format!("{expected}, found the text `\"{}\"`", shorten(text)),
                )
                .hint(format!(
                    "a quoted value is text, not a number: write it without quotes, such as `{}: {}`",
                    what.trim_matches('`'),
                    text.trim().parse::<u32>().ok().filter(|n| range.contains(n)).unwrap_or(*range.start())
                ));
            None
        }
        NodeKind::Scalar {
            text,
            quoted: false,
        } if !node.is_null() => match text.parse::<u32>() {
            Ok(n) if range.contains(&n) => Some(n),
            _ => {
                diagnostics
                    .error(node.span, format!("{expected}, found `{}`", shorten(text)))
                    .hint(hint);
                None
            }
        },
        _ => {
            diagnostics
                .error(node.span, format!("{expected}, found {}", node.kind_name()))
                .hint(hint);
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
