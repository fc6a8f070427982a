//! The audit report as Markdown: facts first, then the timeline as a table.

use std::fmt::Write;

use super::RunSummary;
use crate::duration::format_duration;

fn ms(value: u64) -> String {
    format_duration(std::time::Duration::from_millis(value))
}

/// A Markdown table cell: no pipes or line breaks inside, no HTML.
fn cell(text: &str) -> String {
    inline(text).replace('|', "\\|")
}

/// Text from the journal (an operator's name or reason, an error) as inline
/// Markdown that stays inline and literal: HTML escaped, line breaks as
/// spaces (no forged heading), Markdown's punctuation backslashed, control
/// characters escaped.
fn inline(text: &str) -> String {
    let text = crate::redact::escape_controls(&text.replace(['\n', '\r'], " "));
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '!' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// The facts every report opens with, shared with the HTML report.
pub fn facts(summary: &RunSummary, chain: &str) -> Vec<(&'static str, String)> {
    let mut facts = vec![
        (
            "Playbook",
            format!("{} ({})", summary.playbook, summary.path),
        ),
        ("Playbook sha256", summary.sha256.clone()),
        ("Run", summary.run_id.clone()),
        ("Mode", summary.mode.clone()),
        (
            "Operator",
            format!("{} on {}", summary.operator, summary.host),
        ),
        ("Started", summary.started.clone()),
        (
            "Ended",
            summary.ended.clone().unwrap_or_else(|| "not ended".into()),
        ),
        ("Duration", ms(summary.duration_ms)),
        ("Outcome", summary.outcome.clone()),
        ("Journal", chain.to_string()),
    ];
    if let Some(canary) = &summary.canary {
        facts.push(("Write canary", canary.clone()));
    }
    if let Some(budget) = summary.budget.last() {
        facts.push(("Downtime budget", budget.clone()));
    }
    facts
}

pub fn markdown(summary: &RunSummary, chain: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Cutover run {} — `{}`\n",
        summary.run_id, summary.playbook
    );
    let _ = writeln!(out, "| | |\n|---|---|");
    for (label, value) in facts(summary, chain) {
        let _ = writeln!(out, "| {label} | {} |", cell(&value));
    }
    if !summary.message.is_empty() {
        let quoted: Vec<String> = summary.message.lines().map(inline).collect();
        let _ = writeln!(out, "\n> {}", quoted.join("\n> "));
    }
    let _ = writeln!(out, "\n## Window\n");
    if summary.window.is_empty() {
        let _ = writeln!(out, "No window in the playbook.");
    }
    for line in &summary.window {
        let _ = writeln!(out, "- {}", inline(line));
    }
    for (operator, reason) in &summary.overrides {
        let _ = writeln!(
            out,
            "- **Overridden** by {}: {}",
            inline(operator),
            inline(reason)
        );
    }
    let _ = writeln!(out, "\n## Checklist\n");
    if summary.checklist.is_empty() && summary.verifies.is_empty() {
        let _ = writeln!(out, "No checklist confirmed.");
    }
    for (item, operator, how) in &summary.checklist {
        let _ = writeln!(
            out,
            "- `{item}` confirmed by {} ({})",
            inline(operator),
            inline(how)
        );
    }
    for (item, ok, error) in &summary.verifies {
        let verdict = if *ok {
            "passed".to_string()
        } else {
            format!("**failed**: {}", inline(error.as_deref().unwrap_or("")))
        };
        let _ = writeln!(out, "- `{item}` verify {verdict}");
    }
    let _ = writeln!(out, "\n## Timeline\n");
    let _ = writeln!(
        out,
        "| start | step | kind | attempt | duration | outcome |\n|---:|---|---|---:|---:|---|"
    );
    let mut rows: Vec<(u64, String)> = summary
        .bars
        .iter()
        .map(|b| {
            let error = b
                .error
                .as_ref()
                .map(|e| format!(": {}", cell(e)))
                .unwrap_or_default();
            (
                b.start_ms,
                format!(
                    "| +{} | `{}` | {} | {} | {} | {}{error} |",
                    ms(b.start_ms),
                    b.step,
                    b.kind,
                    b.attempt,
                    ms(b.duration_ms),
                    b.outcome
                ),
            )
        })
        .collect();
    rows.extend(summary.checkpoints.iter().map(|(name, at)| {
        (
            *at,
            format!("| +{} | checkpoint `{name}` | | | | passed |", ms(*at)),
        )
    }));
    rows.sort_by_key(|(at, _)| *at);
    for (_, row) in rows {
        let _ = writeln!(out, "{row}");
    }
    for (ts, operator, command) in &summary.resumes {
        let _ = writeln!(out, "\n`{command}` by {} at {ts}.", inline(operator));
    }
    out
}
