//! One line of text per journal record, shared by the plain and live reporters
//! and by `audit show`.

use crate::duration::format_duration;
use crate::journal::{Event, Record};

/// Step ids to titles, for nicer lines.
pub type StepTitles = std::collections::BTreeMap<String, String>;

fn ms(duration_ms: u64) -> String {
    format_duration(std::time::Duration::from_millis(duration_ms))
}

/// A human sentence for a record, or None for records not worth a line;
/// control characters from step output or operator text shown escaped.
pub fn describe_record(record: &Record) -> Option<String> {
    sentence(record).map(|line| crate::redact::escape_controls(&line))
}

fn sentence(record: &Record) -> Option<String> {
    Some(match &record.event {
        Event::RunStarted {
            run_id,
            playbook,
            mode,
            operator,
            host,
            fail_at,
            ..
        } => {
            let rehearsal = fail_at
                .as_ref()
                .map(|s| format!(", failing `{s}` on purpose"))
                .unwrap_or_default();
            format!(
                "run {run_id} of `{playbook}` started ({}, by {operator} on {host}{rehearsal})",
                mode.as_str()
            )
        }
        Event::RunResumed {
            operator, command, ..
        } => format!("{command} by {operator}: taking the run over"),
        Event::CheckpointPassed { name } => format!("checkpoint `{name}` passed"),
        Event::StepStarted {
            step,
            attempt,
            describe,
            ..
        } => {
            let again = if *attempt > 1 {
                format!(" (attempt {attempt})")
            } else {
                String::new()
            };
            format!("step `{step}` started{again}: {describe}")
        }
        Event::ProcessSpawned { .. } | Event::StepNoted { .. } => return None,
        Event::StepRetrying {
            step,
            attempt,
            error,
            backoff_ms,
        } => {
            format!(
                "step `{step}` attempt {attempt} failed: {error}; retrying in {}",
                ms(*backoff_ms)
            )
        }
        Event::StepFinished {
            step, duration_ms, ..
        } => format!("step `{step}` done in {}", ms(*duration_ms)),
        Event::StepFailed {
            step,
            duration_ms,
            error,
            output_tail,
            ..
        } => {
            let tail = output_tail
                .as_ref()
                .map(|t| format!("\n{}", indent(t)))
                .unwrap_or_default();
            format!(
                "step `{step}` FAILED after {}: {error}{tail}",
                ms(*duration_ms)
            )
        }
        Event::StepDecided {
            step,
            decision,
            operator,
        } => format!("step `{step}`: {decision} (decided by {operator})"),
        Event::ProcessSettled { step, pid } => {
            format!("killed leftover processes of `{step}` (group {pid})")
        }
        Event::Interrupted { signal } => format!("interrupted by {signal}"),
        Event::RollbackStarted {
            reason,
            steps,
            go_back: true,
            ..
        } => format!(
            "UNDO the go-back ({reason}): {}",
            if steps.is_empty() {
                "nothing to undo".to_string()
            } else {
                format!("undoing {}", steps.join(", "))
            }
        ),
        Event::RollbackStarted {
            reason,
            checkpoint,
            steps,
            ..
        } => {
            let to = checkpoint
                .as_ref()
                .map(|c| format!("checkpoint `{c}`"))
                .unwrap_or_else(|| "the start".into());
            let what = if steps.is_empty() {
                "nothing to undo".to_string()
            } else {
                format!("undoing {}", steps.join(", "))
            };
            format!("ROLLBACK to {to} ({reason}): {what}")
        }
        Event::CompensationStarted { step, describe, .. } => format!("undo `{step}`: {describe}"),
        Event::CompensationFinished {
            step, duration_ms, ..
        } => format!("undo `{step}` done in {}", ms(*duration_ms)),
        Event::CompensationFailed {
            step,
            attempt,
            error,
            final_attempt,
            ..
        } => {
            let then = if *final_attempt {
                "giving up"
            } else {
                "retrying"
            };
            format!("undo `{step}` attempt {attempt} failed: {error}; {then}")
        }
        Event::RollbackFinished { complete: true, .. } => "rollback complete".to_string(),
        Event::GoBackStarted { reason, steps } => {
            format!("GO BACK ({reason}): {}", steps.join(" → "))
        }
        Event::GoBackFinished {
            went_back: true, ..
        } => "go-back complete: traffic is back on the old server".to_string(),
        Event::GoBackFinished { failed_step, .. } => format!(
            "go-back REFUSED at `{}`: traffic stays where it was",
            failed_step.as_deref().unwrap_or("?")
        ),
        Event::RollbackFinished { remaining, .. } => {
            format!("rollback INCOMPLETE: not undone: {}", remaining.join(", "))
        }
        Event::WindowChecked {
            now,
            verdict,
            closes,
            next,
            remaining_ms,
            estimate_source,
        } => {
            let closes = closes
                .as_ref()
                .map(|c| format!(", closes {c}"))
                .unwrap_or_default();
            let next = next
                .as_ref()
                .map(|n| format!(", next fit {n}"))
                .unwrap_or_default();
            format!(
                "window at {now}: {verdict}{closes} (estimate {}: {estimate_source}){next}",
                ms(*remaining_ms)
            )
        }
        Event::WindowOverridden { operator, reason } => {
            format!("WINDOW OVERRIDDEN by {operator}: {reason}")
        }
        Event::WindowOverrun {
            step,
            action,
            closes,
        } => {
            let closes = closes
                .as_ref()
                .map(|c| format!(" (closes {c})"))
                .unwrap_or_default();
            format!("the rest no longer fits the window before `{step}`{closes}: {action}")
        }
        Event::ChecklistConfirmed {
            item,
            operator,
            how,
        } => format!("checklist `{item}` confirmed by {operator} ({how})"),
        Event::ChecklistVerified { item, ok: true, .. } => format!("checklist `{item}` verified"),
        Event::ChecklistVerified { item, error, .. } => {
            format!(
                "checklist `{item}` verify FAILED: {}",
                error.as_deref().unwrap_or("?")
            )
        }
        Event::NotificationSent { .. } | Event::CanaryAcknowledged { .. } => return None,
        Event::NotificationFailed { url, about, error } => {
            format!("webhook {url} ({about}) failed: {error}")
        }
        Event::CanaryStarted {
            url,
            table,
            every_ms,
        } => format!(
            "write canary: committing into `{table}` through {url} every {}",
            ms(*every_ms)
        ),
        Event::CanaryChecked {
            verify,
            verdict: Some(verdict),
            cleanup,
            ..
        } => {
            let cleanup = cleanup
                .as_ref()
                .map(|c| format!("\n    (the table was not dropped: {c})"))
                .unwrap_or_default();
            format!("{} (checked on {verify}){cleanup}", verdict.line())
        }
        Event::CanaryChecked { verify, error, .. } => format!(
            "write canary: could NOT check its writes on {verify}: {}",
            error.as_deref().unwrap_or("?")
        ),
        Event::DowntimeBudgetStarted { step, budget_ms } => {
            format!(
                "downtime budget {}: the clock starts with `{step}`",
                ms(*budget_ms)
            )
        }
        Event::DowntimeBudgetExceeded {
            step,
            budget_ms,
            used_ms,
            estimate_ms,
            during,
        } => {
            if *during {
                format!(
                    "downtime budget {} ran out during `{step}` ({} used): rolling back",
                    ms(*budget_ms),
                    ms(*used_ms)
                )
            } else {
                format!(
                    "downtime budget {}: {} used, `{step}` is estimated at {}: rolling back before it",
                    ms(*budget_ms),
                    ms(*used_ms),
                    ms(estimate_ms.unwrap_or(0))
                )
            }
        }
        Event::StepSlow {
            step,
            p90_ms,
            factor,
            limit_ms,
            on_slow,
        } => format!(
            "SLOW: `{step}` ran past its rehearsed p90 {} × {factor} = {} (on_slow: {on_slow})",
            ms(*p90_ms),
            ms(*limit_ms)
        ),
        Event::DowntimeBudgetKept { budget_ms, used_ms } => {
            format!("downtime budget {}: {} used", ms(*budget_ms), ms(*used_ms))
        }
        Event::RunFinished {
            outcome,
            duration_ms,
            ..
        } => format!("run finished: {} in {}", outcome.as_str(), ms(*duration_ms)),
    })
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The time of day of a record, `HH:MM:SS`, for plain lines.
pub fn clock(record: &Record) -> &str {
    record.ts.get(11..19).unwrap_or(&record.ts)
}
