//! Decoding `on_slow` and `slow_factor`, on a step and as the playbook's
//! default: what to do when a step runs past its rehearsed p90 × the factor.

use super::expect::expect_string;
use super::{Diagnostics, Node, NodeKind};

/// `warn`, `pause` or `rollback`.
pub fn decode_on_slow(node: &Node, diagnostics: &mut Diagnostics) -> Option<String> {
    let text = expect_string(node, "`on_slow`", diagnostics)?;
    if matches!(text.as_str(), "warn" | "pause" | "rollback") {
        return Some(text);
    }
    diagnostics
        .error(
            node.span,
            format!("`on_slow` must be `warn`, `pause` or `rollback`, found `{text}`"),
        )
        .hint("`warn` journals it, `pause` stops after the step for an operator, `rollback` ends the step and rolls back");
    None
}

/// A plain number above 1 (1.5 = half again the rehearsed p90).
pub fn decode_slow_factor(node: &Node, diagnostics: &mut Diagnostics) -> Option<f64> {
    let expected = "`slow_factor` must be a number above 1, such as `slow_factor: 1.5`";
    match &node.kind {
        NodeKind::Scalar {
            text,
            quoted: false,
        } => match text.trim().parse::<f64>() {
            Ok(factor) if factor.is_finite() && factor > 1.0 && factor <= 100.0 => Some(factor),
            _ => {
                diagnostics
                    .error(node.span, format!("{expected}, found `{text}`"))
                    .hint("at most 100; a step is slow when it runs past its rehearsed p90 × this");
                None
            }
        },
        _ => {
            diagnostics
                .error(node.span, format!("{expected}, found {}", node.kind_name()))
                .hint("write it without quotes");
            None
        }
    }
}
