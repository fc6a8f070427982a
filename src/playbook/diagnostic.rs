//! `Diagnostic`: one problem in a playbook, rendered as `FILE:LINE:COL: message`
//! with the offending line, a caret and an optional hint.

use std::fmt::Write;

use super::{Source, Span};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    #[serde(flatten)]
    pub span: Span,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            span,
            message: message.into(),
            hint: None,
        }
    }

    pub fn warning(span: Span, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(span, message)
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Renders the way compilers do: location first, so editors can jump to it.
    pub fn render(&self, source: &Source) -> String {
        let mut out = String::new();
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(
            out,
            "{}:{}:{}: {label}: {}",
            source.path().display(),
            self.span.line,
            self.span.col,
            self.message
        );
        if let Some(line) = source.line(self.span.line) {
            let gutter = self.span.line.to_string();
            let pad = " ".repeat(gutter.len());
            // Masked before the cut: a password cut in half would not be recognised.
            let shown = truncate_line(&crate::redact::redact_urls(line));
            let caret_col = self.span.col.saturating_sub(1).min(shown.chars().count());
            let caret_len = self
                .span
                .len
                .min(shown.chars().count().saturating_sub(caret_col).max(1));
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{gutter} | {shown}");
            let _ = writeln!(
                out,
                "{pad} | {}{}",
                " ".repeat(caret_col),
                "^".repeat(caret_len)
            );
        }
        if let Some(hint) = &self.hint {
            let _ = writeln!(out, "hint: {hint}");
        }
        out
    }
}

/// Keeps pathological one-line files (a 10 MB line) from flooding the terminal.
fn truncate_line(line: &str) -> String {
    const MAX: usize = 200;
    if line.chars().count() <= MAX {
        line.replace('\t', " ")
    } else {
        let cut: String = line.chars().take(MAX).collect();
        format!("{} …", cut.replace('\t', " "))
    }
}

/// Every problem found in one playbook, in file order.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    pub fn error(&mut self, span: Span, message: impl Into<String>) -> &mut Diagnostic {
        self.items.push(Diagnostic::error(span, message));
        self.items.last_mut().expect("just pushed")
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// In file order, so the report reads top to bottom.
    pub fn sorted(mut self) -> Vec<Diagnostic> {
        self.items.sort_by_key(|d| (d.span.line, d.span.col));
        self.items.dedup();
        self.items
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }
}

impl Diagnostic {
    /// Sets the hint on a diagnostic already pushed.
    pub fn hint(&mut self, hint: impl Into<String>) -> &mut Self {
        self.hint = Some(hint.into());
        self
    }
}
