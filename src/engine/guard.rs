//! Guardrails: the window and the checklist, checked before the first step
//! (refusing with exit 5), and the window again before each step up to the
//! point of no return (applying `on_overrun`).

use std::time::{Duration, Instant};

use super::step::{Executor, Interruptible};
use super::stop::{Finish, Stop};
use crate::journal::{Event, Mode, Outcome};
use crate::plan::window::{Fit, OnOverrun};
use crate::plan::PlanItem;

/// What the window says about going on now.
pub(super) enum WindowVerdict {
    Go,
    /// Stop the run this way.
    Stop(Finish),
    /// Treat as a failure at this point (on_overrun: rollback).
    Fail(Stop),
}

/// Estimated work left from item `index` on: what is not finished yet.
fn remaining(exec: &Executor<'_, '_>, index: usize) -> Duration {
    exec.plan.items[index.min(exec.plan.items.len())..]
        .iter()
        .filter_map(|item| match item {
            PlanItem::Step(step) if !exec.recorder.state(|s| s.is_finished(&step.id)) => {
                step.estimate
            }
            _ => None,
        })
        .sum()
}

/// A point-of-no-return step has completed: nothing is rolled back by itself.
pub(super) fn past_point_of_no_return(exec: &Executor<'_, '_>) -> bool {
    exec.recorder.state(|s| {
        exec.plan
            .steps()
            .any(|st| st.point_of_no_return && s.is_finished(&st.id))
    })
}

/// Before the first step: the window, then the checklist. `Some` is a refusal.
pub(super) async fn check_start(exec: &Executor<'_, '_>) -> anyhow::Result<Option<Finish>> {
    if let Some(refusal) = check_start_window(exec)? {
        return Ok(Some(refusal));
    }
    check_checklist(exec).await
}

fn check_start_window(exec: &Executor<'_, '_>) -> anyhow::Result<Option<Finish>> {
    let Some(window) = &exec.plan.window else {
        return Ok(None);
    };
    let now = exec.options.clock.now();
    let work = remaining(exec, 0);
    let fit = window.fit(now, work);
    let show = |t: Option<jiff::Timestamp>| t.map(|t| window.show(t));
    let (verdict, closes, next) = match &fit {
        Fit::Fits { closes } => ("fits", *closes, None),
        Fit::Outside { next } => ("outside", None, *next),
        Fit::TooLong { closes, next } => ("too_long", Some(*closes), *next),
    };
    exec.recorder.emit(Event::WindowChecked {
        now: window.show(now),
        verdict: verdict.into(),
        closes: show(closes),
        next: show(next),
        remaining_ms: work.as_millis() as u64,
        estimate_source: exec.plan.estimate_sources(),
    })?;
    if matches!(fit, Fit::Fits { .. }) {
        if let Some(reason) = &exec.options.override_window {
            // It still turns off the checks before each step: say so.
            exec.recorder.emit(Event::WindowOverridden {
                operator: exec.options.operator.clone(),
                reason: reason.clone(),
            })?;
        }
        return Ok(None);
    }
    let ranges: Vec<&str> = window.allow.iter().map(|(t, _)| t.as_str()).collect();
    let denied: Vec<&str> = window.deny.iter().map(|(t, _)| t.as_str()).collect();
    let problem = match fit {
        Fit::Outside { .. } => "outside the allowed window".to_string(),
        _ => format!(
            "the estimated {} does not fit before the window closes at {} (margin {})",
            crate::duration::format_duration(work),
            show(closes).unwrap_or_default(),
            crate::duration::format_duration(window.margin)
        ),
    };
    let message =
        format!(
        "{problem}\nnow: {} ({})\nallow: {}\ndeny: {}\nestimate: {} ({})\nnext start that fits: {}",
        window.show(now),
        window.timezone_name,
        if ranges.is_empty() { "any time not denied".into() } else { ranges.join("; ") },
        if denied.is_empty() { "nothing".into() } else { denied.join("; ") },
        crate::duration::format_duration(work),
        exec.plan.estimate_sources(),
        show(next).unwrap_or_else(|| "none in the next 5 weeks".into()),
    );
    if let Some(reason) = &exec.options.override_window {
        exec.recorder.emit(Event::WindowOverridden {
            operator: exec.options.operator.clone(),
            reason: reason.clone(),
        })?;
        exec.recorder
            .notice(&format!("window overridden: {problem}"));
        return Ok(None);
    }
    if exec.options.mode != Mode::Live {
        exec.recorder
            .notice(&format!("a live run would be refused: {problem}"));
        return Ok(None);
    }
    Ok(Some(exec.recorder.finish(
        Outcome::Refused,
        format!("{message}\nhint: wait for the window, or `--override-window --reason \"…\"`"),
    )?))
}

/// Confirmations (ahead, or asked now) and verifies. `Some` is a refusal.
/// Dry runs and rehearsals only warn: neither touches production.
async fn check_checklist(exec: &Executor<'_, '_>) -> anyhow::Result<Option<Finish>> {
    let lenient = exec.options.mode != Mode::Live;
    let mut missing = Vec::new();
    let mut failed = Vec::new();
    for item in &exec.plan.checklist {
        let confirmation = match exec.options.confirmations.get(&item.id) {
            Some(how) => Ok((exec.options.operator.clone(), how.clone())),
            None if lenient || exec.interrupted().is_some() => Err("not confirmed".to_string()),
            None => exec
                .input
                .confirm(&item.id, &item.text)
                .await
                .map(|a| (a.operator, a.how)),
        };
        match confirmation {
            Ok((operator, how)) => exec.recorder.emit(Event::ChecklistConfirmed {
                item: item.id.clone(),
                operator,
                how,
            })?,
            Err(_) => missing.push(format!("`{}` ({})", item.id, item.text)),
        }
    }
    for item in &exec.plan.checklist {
        let Some(call) = &item.verify else { continue };
        if exec.options.mode == Mode::DryRun {
            exec.recorder.notice(&format!(
                "checklist `{}`: would verify: {}",
                item.id,
                call.action.describe()
            ));
            continue;
        }
        if exec.interrupted().is_some() {
            failed.push(format!("`{}`: not checked (interrupted)", item.id));
            continue;
        }
        let started = Instant::now();
        let mut error = None;
        let attempts = call.retries.attempts.max(1);
        for attempt in 1..=attempts {
            match exec
                .attempt(
                    &format!("checklist.{}", item.id),
                    call,
                    attempt,
                    Interruptible::Yes,
                )
                .await
            {
                Ok(_) => {
                    error = None;
                    break;
                }
                Err(failure) => error = Some(failure.error),
            }
            if attempt < attempts && !exec.sleep_unless_interrupted(call.retries.backoff.0).await {
                break;
            }
        }
        exec.recorder.emit(Event::ChecklistVerified {
            item: item.id.clone(),
            ok: error.is_none(),
            error: error.clone(),
            duration_ms: started.elapsed().as_millis() as u64,
        })?;
        if let Some(error) = error {
            failed.push(format!("`{}`: {error}", item.id));
        }
    }
    if missing.is_empty() && failed.is_empty() {
        return Ok(None);
    }
    let mut message = String::from("the checklist is not complete");
    if !missing.is_empty() {
        message.push_str(&format!("\nnot confirmed: {}", missing.join(", ")));
    }
    if !failed.is_empty() {
        message.push_str(&format!("\nchecks failed: {}", failed.join(", ")));
    }
    if lenient {
        exec.recorder
            .notice(&format!("a live run would be refused: {message}"));
        return Ok(None);
    }
    message.push_str("\nhint: confirm on a terminal, or pass `--confirm ID` (repeatable) or `--checklist-file FILE`");
    Ok(Some(exec.recorder.finish(Outcome::Refused, message)?))
}

/// Before a step: does the rest still fit the window? Only up to the point
/// of no return, only live, and never when overridden.
pub(super) fn check_before_step(
    exec: &Executor<'_, '_>,
    index: usize,
    step: &str,
) -> anyhow::Result<WindowVerdict> {
    let Some(window) = &exec.plan.window else {
        return Ok(WindowVerdict::Go);
    };
    if exec.options.mode != Mode::Live
        || exec.options.override_window.is_some()
        || past_point_of_no_return(exec)
    {
        return Ok(WindowVerdict::Go);
    }
    let now = exec.options.clock.now();
    let closes = match window.fit(now, remaining(exec, index)) {
        Fit::Fits { .. } => return Ok(WindowVerdict::Go),
        Fit::TooLong { closes, .. } => Some(closes),
        Fit::Outside { .. } => None,
    };
    if window.on_overrun == OnOverrun::Continue && exec.recorder.state(|s| s.overrun_warned) {
        return Ok(WindowVerdict::Go);
    }
    let action = match window.on_overrun {
        OnOverrun::Rollback => "rollback",
        OnOverrun::Pause => "pause",
        OnOverrun::Continue => "continue",
    };
    exec.recorder.emit(Event::WindowOverrun {
        step: step.to_string(),
        action: action.into(),
        closes: closes.map(|c| window.show(c)),
    })?;
    Ok(match window.on_overrun {
        OnOverrun::Continue => WindowVerdict::Go,
        OnOverrun::Rollback => WindowVerdict::Fail(Stop::Overrun { step: step.to_string() }),
        OnOverrun::Pause => WindowVerdict::Stop(exec.recorder.finish(
            Outcome::NeedsOperator,
            format!(
                "paused before `{step}`: the rest of the run no longer fits the window (on_overrun: pause)\nnext: `{}` inside the next window, or with `--override-window --reason \"…\"`; or `{}`",
                exec.recorder.command("resume"),
                exec.recorder.command("rollback")
            ),
        )?),
    })
}
