//! The audit report as one self-contained HTML file: the facts, the window and
//! checklist, and the timeline as an inline SVG Gantt chart. No script, no
//! external resource: it opens the same in ten years.

use std::fmt::Write;

use super::markdown::facts;
use super::RunSummary;
use crate::duration::format_duration;

fn ms(value: u64) -> String {
    format_duration(std::time::Duration::from_millis(value))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn color(kind: &str, outcome: &str) -> &'static str {
    match (kind, outcome) {
        ("undo", "done") => "#7c5cd6",
        ("undo", _) => "#b3261e",
        (_, "done") => "#2e7d32",
        (_, "retried") => "#ef8f00",
        (_, "running") => "#9e9e9e",
        _ => "#d32f2f",
    }
}

/// The Gantt chart: one row per bar, checkpoints as dashed lines.
fn gantt(summary: &RunSummary) -> String {
    const LABEL: f64 = 200.0;
    const WIDTH: f64 = 900.0;
    const ROW: f64 = 24.0;
    let span = summary
        .bars
        .iter()
        .map(|b| b.start_ms + b.duration_ms)
        .max()
        .unwrap_or(0)
        .max(summary.duration_ms)
        .max(1) as f64;
    let scale = (WIDTH - LABEL - 60.0) / span;
    let height = ROW * summary.bars.len() as f64 + 40.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="timeline">"#
    );
    let _ = write!(
        svg,
        r##"<line x1="{LABEL}" y1="16" x2="{LABEL}" y2="{height}" stroke="#bbb"/>"##
    );
    for tick in 0..=4 {
        let x = LABEL + (WIDTH - LABEL - 60.0) * f64::from(tick) / 4.0;
        let label = ms((span * f64::from(tick) / 4.0) as u64);
        let _ = write!(
            svg,
            r##"<text x="{x:.1}" y="12" font-size="10" fill="#666" text-anchor="middle">+{label}</text>"##
        );
    }
    for (row, bar) in summary.bars.iter().enumerate() {
        let y = 20.0 + ROW * row as f64;
        let x = LABEL + bar.start_ms as f64 * scale;
        let w = (bar.duration_ms as f64 * scale).max(2.0);
        let name = if bar.kind == "undo" {
            format!("undo {}", bar.step)
        } else {
            bar.step.clone()
        };
        let attempt = if bar.attempt > 1 {
            format!(" #{}", bar.attempt)
        } else {
            String::new()
        };
        let tip = format!(
            "{name}{attempt}: {} {}{}",
            ms(bar.duration_ms),
            bar.outcome,
            bar.error
                .as_ref()
                .map(|e| format!(" — {e}"))
                .unwrap_or_default()
        );
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end" fill="#222">{}{}</text><rect x="{x:.1}" y="{:.1}" width="{w:.1}" height="{:.1}" rx="3" fill="{}"><title>{}</title></rect><text x="{:.1}" y="{:.1}" font-size="10" fill="#444">{}</text>"##,
            LABEL - 8.0,
            y + 14.0,
            escape(&name),
            attempt,
            y + 3.0,
            ROW - 6.0,
            color(bar.kind, &bar.outcome),
            escape(&tip),
            x + w + 4.0,
            y + 14.0,
            escape(&ms(bar.duration_ms)),
        );
    }
    for (name, at) in &summary.checkpoints {
        let x = LABEL + *at as f64 * scale;
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" y1="16" x2="{x:.1}" y2="{height}" stroke="#1565c0" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}" font-size="10" fill="#1565c0">◆ {}</text>"##,
            x + 3.0,
            height - 4.0,
            escape(name)
        );
    }
    svg.push_str("</svg>");
    svg
}

pub fn html(summary: &RunSummary, chain: &str) -> String {
    let mut out = String::new();
    let outcome_class = match summary.outcome.as_str() {
        "done" => "ok",
        "rolled_back" | "refused" => "warn",
        _ => "bad",
    };
    let _ = write!(
        out,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>cutover run {id}</title><style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 960px; color: #222; }}
h1 {{ font-size: 1.5em; }} h2 {{ font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 3px 10px; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }}
.facts td:first-child {{ color: #666; }} code {{ background: #f4f4f4; padding: 0 3px; }}
.ok {{ color: #2e7d32; font-weight: bold; }} .warn {{ color: #ef6c00; font-weight: bold; }} .bad {{ color: #c62828; font-weight: bold; }}
pre {{ background: #fafafa; border-left: 3px solid #ccc; padding: 8px; white-space: pre-wrap; }}
</style></head><body><h1>Cutover run <code>{id}</code> — {playbook}</h1><table class="facts">"#,
        id = escape(&summary.run_id),
        playbook = escape(&summary.playbook)
    );
    for (label, value) in facts(summary, chain) {
        let class = match label {
            "Outcome" => outcome_class,
            "Journal" if value.contains("verifies") => "ok",
            "Journal" => "bad",
            _ => "",
        };
        let _ = write!(
            out,
            r#"<tr><td>{label}</td><td class="{class}">{}</td></tr>"#,
            escape(&value)
        );
    }
    out.push_str("</table>");
    if !summary.message.is_empty() {
        let _ = write!(out, "<pre>{}</pre>", escape(&summary.message));
    }
    out.push_str("<h2>Timeline</h2>");
    out.push_str(&gantt(summary));
    out.push_str("<h2>Window</h2><ul>");
    if summary.window.is_empty() {
        out.push_str("<li>No window in the playbook.</li>");
    }
    for line in &summary.window {
        let _ = write!(out, "<li>{}</li>", escape(line));
    }
    for (operator, reason) in &summary.overrides {
        let _ = write!(
            out,
            r#"<li class="warn">Overridden by {}: {}</li>"#,
            escape(operator),
            escape(reason)
        );
    }
    out.push_str("</ul><h2>Checklist</h2><ul>");
    if summary.checklist.is_empty() && summary.verifies.is_empty() {
        out.push_str("<li>No checklist confirmed.</li>");
    }
    for (item, operator, how) in &summary.checklist {
        let _ = write!(
            out,
            "<li><code>{}</code> confirmed by {} ({})</li>",
            escape(item),
            escape(operator),
            escape(how)
        );
    }
    for (item, ok, error) in &summary.verifies {
        let verdict = if *ok {
            r#"<span class="ok">passed</span>"#.to_string()
        } else {
            format!(
                r#"<span class="bad">failed</span>: {}"#,
                escape(error.as_deref().unwrap_or(""))
            )
        };
        let _ = write!(
            out,
            "<li><code>{}</code> verify {verdict}</li>",
            escape(item)
        );
    }
    out.push_str("</ul><h2>Steps</h2><table><tr><th>start</th><th>step</th><th>kind</th><th>attempt</th><th>duration</th><th>outcome</th></tr>");
    for bar in &summary.bars {
        let error = bar
            .error
            .as_ref()
            .map(|e| format!(": {}", escape(e)))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<tr><td>+{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}{error}</td></tr>",
            ms(bar.start_ms),
            escape(&bar.step),
            bar.kind,
            bar.attempt,
            ms(bar.duration_ms),
            escape(&bar.outcome)
        );
    }
    out.push_str("</table>");
    for (ts, operator, command) in &summary.resumes {
        let _ = write!(
            out,
            "<p><code>{}</code> by {} at {}.</p>",
            escape(command),
            escape(operator),
            escape(ts)
        );
    }
    let _ = write!(
        out,
        r#"<p style="color:#888;font-size:12px">Generated by cutover {} from the run's journal.</p></body></html>"#,
        env!("CARGO_PKG_VERSION")
    );
    out.push('\n');
    out
}
