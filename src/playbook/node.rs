//! `Node`: a YAML document as a tree whose every node knows its line and column.
//!
//! Built from yaml-rust2's marked events rather than a typed deserializer so that
//! decoding can report every problem in a playbook, each at its own position.
//! Aliases are expanded with a budget so an alias bomb is an error, not an OOM.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::source::BOM;
use super::{Diagnostic, Span};

/// Most weight one document may expand to, aliases included: a node weighs 1,
/// plus 1 per 64 bytes of text, so aliases of a large string count by size
/// too (at most about 64 MB of expanded text).
const NODE_BUDGET: usize = 1_000_000;

fn text_weight(text: &str) -> usize {
    1 + text.len() / 64
}
/// Deepest nesting accepted; a playbook needs a handful of levels.
const MAX_DEPTH: usize = 256;

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar's text; `quoted` is true for any non-plain style, which makes it a
    /// string whatever it looks like (`"true"`, `'5'`).
    Scalar {
        text: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

impl Node {
    /// The scalar's text when this node is a scalar.
    pub fn as_scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// True for `~`, `null` and an empty plain scalar.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { text, quoted: false }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// A word for "what was found", used in "expected X, found Y" messages.
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar { .. } if self.is_null() => "nothing (null)",
            NodeKind::Scalar { .. } => "a scalar",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }

    /// The key node named `key` in a mapping (for errors about the key itself).
    pub fn key(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .map(|(k, _)| k)
                .find(|k| k.as_scalar() == Some(key)),
            _ => None,
        }
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_scalar() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Converts to JSON following YAML 1.2's core schema (plain `true`, `5`, `1.5`,
    /// `null` are typed; quoted scalars are strings). Map keys become strings.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Scalar { text, quoted: true } => Value::String(text.clone()),
            NodeKind::Scalar {
                text,
                quoted: false,
            } => plain_scalar_to_json(text),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.as_scalar().unwrap_or_default().to_string(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Finds the node at a JSON path (`a.b[2].c` as segments), for locating errors
    /// that serde reports by path inside an action's `with`.
    pub fn find<'a>(&self, path: impl IntoIterator<Item = &'a str>) -> &Node {
        let mut node = self;
        for segment in path {
            let next = match &node.kind {
                NodeKind::Map(entries) => entries
                    .iter()
                    .find(|(k, _)| k.as_scalar() == Some(segment))
                    .map(|(_, v)| v),
                NodeKind::Seq(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
                NodeKind::Scalar { .. } => None,
            };
            match next {
                Some(next) => node = next,
                None => break,
            }
        }
        node
    }
}

fn plain_scalar_to_json(text: &str) -> serde_json::Value {
    use serde_json::Value;
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(int) = text.parse::<i64>() {
        return Value::from(int);
    }
    let looks_numeric = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'));
    if looks_numeric && text.chars().any(|c| c.is_ascii_digit()) {
        if let Some(number) = text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
        {
            return Value::Number(number);
        }
    }
    Value::String(text.to_string())
}

/// Parses one YAML document into a tree. An empty document is an empty mapping's
/// absence: the caller reports it.
pub fn parse(text: &str) -> Result<Node, Diagnostic> {
    // A UTF-8 byte order mark (Windows editors write one) is not part of the
    // text: YAML allows it at the start, and without this it would become an
    // invisible first character of the first key. Columns then count as an
    // editor shows them, without it.
    let text = text.strip_prefix(BOM).unwrap_or(text);
    if let Some(at) = text.find('\0') {
        let before = &text[..at];
        let line = before.matches('\n').count() + 1;
        let col = before
            .rfind('\n')
            .map(|n| before[n + 1..].chars().count())
            .unwrap_or(before.chars().count())
            + 1;
        return Err(
            Diagnostic::error(Span { line, col, len: 1 }, "the file contains a NUL byte")
                .with_hint(
                    "a playbook is text; remove the NUL byte (was the file saved as UTF-16?)",
                ),
        );
    }
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    // Pull events one by one: the library's own `load` recurses once per level
    // of nesting, which a hostile file can turn into a stack overflow before our
    // depth limit sees it.
    loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => break,
            Ok((event, marker)) => {
                builder.on_event(event, marker);
                if let Some(error) = builder.error.take() {
                    return Err(error);
                }
            }
            Err(error) => {
                return Err(Diagnostic::error(
                    Span::at(*error.marker(), 1),
                    format!("invalid YAML: {}", error.info()),
                ));
            }
        }
    }
    match builder.documents {
        0 => Err(Diagnostic::error(
            Span {
                line: 1,
                col: 1,
                len: 1,
            },
            "the playbook is empty".to_string(),
        )
        .with_hint("a playbook is a mapping with at least `name` and `steps`")),
        1 => Ok(builder.root.unwrap_or(Node {
            kind: NodeKind::Scalar {
                text: String::new(),
                quoted: false,
            },
            span: Span {
                line: 1,
                col: 1,
                len: 1,
            },
        })),
        _ => Err(Diagnostic::error(
            builder.second_document.unwrap_or_default(),
            "a playbook is one YAML document, found a second one".to_string(),
        )
        .with_hint("remove the `---` separator and everything after it, or split the file")),
    }
}

enum Frame {
    Seq {
        anchor: usize,
        span: Span,
        items: Vec<Node>,
    },
    Map {
        anchor: usize,
        span: Span,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, usize)>,
    nodes: usize,
    documents: usize,
    second_document: Option<Span>,
    root: Option<Node>,
    error: Option<Diagnostic>,
}

impl Builder {
    fn fail(&mut self, span: Span, message: &str, hint: &str) {
        if self.error.is_none() {
            self.error = Some(Diagnostic::error(span, message.to_string()).with_hint(hint));
        }
    }

    fn count(&mut self, added: usize, span: Span) -> bool {
        self.nodes = self.nodes.saturating_add(added);
        if self.nodes > NODE_BUDGET {
            self.fail(
                span,
                "the document expands to too many nodes (aliases expanding aliases?)",
                "a playbook needs no more than a few thousand values; check `*alias` references",
            );
            return false;
        }
        true
    }

    fn push_node(&mut self, node: Node, anchor: usize, size: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => {
                    // An empty value (`rollback:`) has no text of its own; its
                    // marker sits wherever the next token starts. Point at the key.
                    let mut node = node;
                    if matches!(&node.kind, NodeKind::Scalar { text, quoted: false } if text.is_empty())
                    {
                        node.span = k.span;
                    }
                    entries.push((k, node))
                }
            },
        }
    }
}

fn subtree_size(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Scalar { text, .. } => text_weight(text),
        NodeKind::Seq(items) => 1 + items.iter().map(subtree_size).sum::<usize>(),
        NodeKind::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| subtree_size(k) + subtree_size(v))
                .sum::<usize>()
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, marker: Marker) {
        if self.error.is_some() {
            return;
        }
        match event {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents == 2 {
                    self.second_document = Some(Span::at(marker, 3));
                }
            }
            Event::Scalar(text, style, anchor, _tag) => {
                let quoted = style != TScalarStyle::Plain;
                let len = text.chars().count() + if quoted { 2 } else { 0 };
                let span = Span::at(marker, len);
                let weight = text_weight(&text);
                if !self.count(weight, span) {
                    return;
                }
                self.push_node(
                    Node {
                        kind: NodeKind::Scalar { text, quoted },
                        span,
                    },
                    anchor,
                    weight,
                );
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                let span = Span::at(marker, 1);
                if self.stack.len() >= MAX_DEPTH {
                    self.fail(
                        span,
                        "the document is nested too deeply",
                        "a playbook needs only a few levels of nesting",
                    );
                    return;
                }
                if !self.count(1, span) {
                    return;
                }
                self.stack
                    .push(if matches!(event, Event::SequenceStart(..)) {
                        Frame::Seq {
                            anchor,
                            span,
                            items: Vec::new(),
                        }
                    } else {
                        Frame::Map {
                            anchor,
                            span,
                            entries: Vec::new(),
                            key: None,
                        }
                    });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return;
                };
                let (node, anchor) = match frame {
                    Frame::Seq {
                        anchor,
                        span,
                        items,
                    } => (
                        Node {
                            kind: NodeKind::Seq(items),
                            span,
                        },
                        anchor,
                    ),
                    Frame::Map {
                        anchor,
                        span,
                        entries,
                        ..
                    } => {
                        // A block mapping's start marker sits on its first value; its
                        // first key is where a reader's eye goes.
                        let span = entries.first().map(|(k, _)| k.span).unwrap_or(span);
                        (
                            Node {
                                kind: NodeKind::Map(entries),
                                span,
                            },
                            anchor,
                        )
                    }
                };
                let size = if anchor != 0 { subtree_size(&node) } else { 0 };
                self.push_node(node, anchor, size);
            }
            Event::Alias(id) => {
                let span = Span::at(marker, 1);
                let Some((node, size)) = self.anchors.get(&id).cloned() else {
                    self.fail(
                        span,
                        "alias to an unknown anchor",
                        "define `&name` before using `*name`",
                    );
                    return;
                };
                if !self.count(size.max(1), span) {
                    return;
                }
                self.push_node(node, 0, size);
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let root = parse("name: x\nsteps:\n  - id: a\n").unwrap();
        assert_eq!(
            root.span,
            Span {
                line: 1,
                col: 1,
                len: 4
            }
        );
        let id = root.get("steps").unwrap().find(["0", "id"]);
        assert_eq!((id.span.line, id.span.col), (3, 9));
    }

    #[test]
    fn alias_bomb_is_an_error() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 0..12 {
            let prev = if level == 0 {
                "a".to_string()
            } else {
                format!("l{}", level - 1)
            };
            text.push_str(&format!("l{level}: &l{level} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        let error = parse(&text).unwrap_err();
        assert!(
            error.message.contains("too many nodes"),
            "{}",
            error.message
        );
    }

    #[test]
    fn deep_nesting_is_an_error() {
        let text = "[".repeat(10_000);
        assert!(parse(&text).is_err());
        let mut block = String::new();
        for depth in 0..1000 {
            block.push_str(&" ".repeat(depth));
            block.push_str("- \n");
        }
        assert!(parse(&block).is_err());
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let root = parse("\u{FEFF}name: x\n").unwrap();
        assert_eq!(root.get("name").and_then(Node::as_scalar), Some("x"));
        assert_eq!((root.span.line, root.span.col), (1, 1));
    }

    #[test]
    fn plain_scalars_follow_the_core_schema() {
        let root = parse("a: 5\nb: '5'\nc: true\nd: ~\ne: 1.5\nf: 1.2.3\n").unwrap();
        let json = root.to_json();
        assert_eq!(json["a"], 5);
        assert_eq!(json["b"], "5");
        assert_eq!(json["c"], true);
        assert!(json["d"].is_null());
        assert_eq!(json["e"], 1.5);
        assert_eq!(json["f"], "1.2.3");
    }
}
