//! `Span`: a position in the playbook's text, carried by every node and
//! diagnostic.

use yaml_rust2::scanner::Marker;

/// A 1-based line and column in the playbook's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct Span {
    pub line: usize,
    pub col: usize,
    /// How many characters the caret should underline (at least 1).
    pub len: usize,
}

impl Span {
    /// Where a YAML event starts (yaml-rust2 counts columns from 0).
    pub(super) fn at(marker: Marker, len: usize) -> Self {
        Self {
            line: marker.line().max(1),
            col: marker.col() + 1,
            len: len.max(1),
        }
    }
}

/// `{ "line", "col" }`: the length only steers the caret.
impl serde::Serialize for Span {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Span", 2)?;
        s.serialize_field("line", &self.line)?;
        s.serialize_field("col", &self.col)?;
        s.end()
    }
}
