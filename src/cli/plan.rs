//! `cutover plan`: the resolved steps, estimates, rollback map and point of no
//! return, without connecting to anything — unless `--measure` asks it to
//! scale the estimates to the data there is now (read-only).

use std::fmt::Write;

use super::args::{Output, PlanArgs};
use super::inputs::parse_now;
use super::validate::{compile, read_source};
use super::{CliError, ExitCode};
use crate::actions::shared::units::human_bytes;
use crate::duration::format_duration;
use crate::journal::{durations_of, step_runs, StateDir};
use crate::plan::window::Fit;
use crate::plan::{
    compensations, EnvMode, EstimateSource, FailurePlan, Plan, PlanItem, RollbackOrigin,
};

pub fn plan(args: PlanArgs) -> Result<ExitCode, CliError> {
    let source = read_source(&args.playbook)?;
    let mut plan = compile(&source, EnvMode::Lenient, &[])?;
    let state_dir = super::state::open(
        args.store.state.as_deref(),
        args.state_dir.clone(),
        || StateDir::beside(&args.playbook),
        crate::store::Pull::Changed,
    )?
    .dir;
    let runs = step_runs(&state_dir, &plan.name);
    plan.apply_history(&durations_of(&runs));
    if args.measure {
        super::measure::scale_estimates(&mut plan, &runs)?;
    }
    let now = match &args.now {
        Some(text) => parse_now(text, plan.window.as_ref().map(|w| &w.timezone))?,
        None => jiff::Timestamp::now(),
    };
    match args.output {
        Output::Json => {
            let mut json = to_json(&plan);
            json["measured"] = args.measure.into();
            json["window"] = window_json(&plan, now);
            println!("{}", plan.redactor.redact(&json.to_string()))
        }
        Output::Auto | Output::Text => {
            let text = to_text(&plan, args.measure) + &window_text(&plan, now);
            print!("{}", plan.redactor.redact(&text))
        }
    }
    Ok(ExitCode::Done)
}

fn estimate_label(step: &crate::plan::PlannedStep) -> String {
    match (step.estimate, &step.estimate_source) {
        (Some(e), EstimateSource::History { runs }) => format!(
            "{} (median of {runs} run{}, p90 {})",
            format_duration(e),
            if *runs == 1 { "" } else { "s" },
            optional(step.estimate_p90)
        ),
        (
            Some(e),
            EstimateSource::Scaled {
                runs,
                bytes,
                rate,
                fixed_ms,
                measured_in,
            },
        ) => {
            let source = match measured_in {
                Some(run) => format!("measured in {run}"),
                None => format!("fitted over {runs} runs"),
            };
            let fixed = match fixed_ms {
                0 => String::new(),
                ms => format!(
                    ", + {} fixed",
                    format_duration(std::time::Duration::from_millis(*ms))
                ),
            };
            format!(
                "{}: {} at {}/s {source}{fixed}",
                format_duration(e),
                human_bytes(*bytes),
                human_bytes(*rate)
            )
        }
        (Some(e), _) => format!("{} (playbook)", format_duration(e)),
        (None, _) => "-".into(),
    }
}

fn fit(
    plan: &Plan,
    now: jiff::Timestamp,
) -> Option<(String, Option<jiff::Timestamp>, Option<jiff::Timestamp>)> {
    let window = plan.window.as_ref()?;
    let (total, _) = plan.estimated_total();
    Some(match window.fit(now, total) {
        Fit::Fits { closes } => ("fits".into(), closes, None),
        Fit::Outside { next } => ("outside the window".into(), None, next),
        Fit::TooLong { closes, next } => (
            "does not fit before the window closes".into(),
            Some(closes),
            next,
        ),
    })
}

fn window_text(plan: &Plan, now: jiff::Timestamp) -> String {
    let Some(window) = &plan.window else {
        return String::new();
    };
    let mut out = String::new();
    let (total, _) = plan.estimated_total();
    let _ = writeln!(
        out,
        "\nwindow ({}, margin {}, on overrun: {})",
        window.timezone_name,
        format_duration(window.margin),
        format!("{:?}", window.on_overrun).to_lowercase()
    );
    for (text, _) in &window.allow {
        let _ = writeln!(out, "  allow  {text}");
    }
    for (text, _) in &window.deny {
        let _ = writeln!(out, "  deny   {text}");
    }
    if let Some((verdict, closes, next)) = fit(plan, now) {
        let closes = closes
            .map(|c| format!(", closes {}", window.show(c)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  now    {}: {verdict} (estimate {}, {}){closes}",
            window.show(now),
            format_duration(total),
            plan.estimate_sources()
        );
        if let Some(next) = next {
            let _ = writeln!(out, "  next start that fits: {}", window.show(next));
        }
    }
    let _ = writeln!(out, "  next windows:");
    for (start, end) in window.upcoming(now, 3) {
        let length =
            std::time::Duration::from_secs(end.duration_since(start).as_secs().max(0) as u64);
        let _ = writeln!(
            out,
            "    {} → {} ({})",
            window.show(start),
            window.show(end),
            format_duration(length)
        );
    }
    out
}

fn window_json(plan: &Plan, now: jiff::Timestamp) -> serde_json::Value {
    let Some(window) = &plan.window else {
        return serde_json::Value::Null;
    };
    let (verdict, closes, next) = fit(plan, now).unwrap_or_default();
    serde_json::json!({
        "timezone": window.timezone_name,
        "now": window.show(now),
        "verdict": verdict,
        "closes": closes.map(|c| c.to_string()),
        "next_fit": next.map(|n| n.to_string()),
        "upcoming": window.upcoming(now, 3).iter().map(|(s, e)| serde_json::json!({ "start": s.to_string(), "end": e.to_string() })).collect::<Vec<_>>(),
    })
}

fn optional(duration: Option<std::time::Duration>) -> String {
    duration.map(format_duration).unwrap_or_else(|| "-".into())
}

fn rollback_label(origin: RollbackOrigin, describe: Option<String>) -> String {
    match (origin, describe) {
        (RollbackOrigin::Explicit, Some(d)) => format!("explicit: {d}"),
        (RollbackOrigin::Implied, Some(d)) => format!("implied: {d}"),
        (RollbackOrigin::OptedOut, _) => "none (rollback: none)".into(),
        _ => "none (the action has no inverse)".into(),
    }
}

/// For each step: which compensations run if it fails.
fn failure_plans(plan: &Plan) -> Vec<(String, FailurePlan)> {
    plan.items
        .iter()
        .enumerate()
        .filter_map(|(index, item)| match item {
            // If this step fails, every step before it has completed.
            PlanItem::Step(step) => {
                Some((step.id.clone(), compensations(plan, index, &|_| true, true)))
            }
            PlanItem::Checkpoint(_) => None,
        })
        .collect()
}

/// Whether the estimates were scaled, in one line; None when nothing was
/// measured by earlier runs and `--measure` was not given (nothing to scale).
fn scaling_line(plan: &Plan, measured: bool) -> Option<String> {
    let history = plan
        .steps()
        .any(|s| matches!(s.estimate_source, EstimateSource::History { .. }));
    if !measured && !history {
        return None;
    }
    let scaled = plan
        .steps()
        .filter(|s| matches!(s.estimate_source, EstimateSource::Scaled { .. }))
        .count();
    let not = plan.steps().filter(|s| s.scale_note.is_some()).count();
    Some(match (measured, scaled, not) {
        (false, _, _) => "unscaled: measured estimates are not adjusted to the data there is now (hint: `plan --measure` measures the sources read-only and scales them)".into(),
        (true, 0, 0) => "nothing to scale: no step moves data it can measure".into(),
        (true, scaled, 0) => format!("{scaled} data-moving step(s) scaled to the data measured now"),
        (true, 0, not) => format!(
            "not scaled: {not} data-moving step(s) could not be (see their `scaling` line: unscaled estimate kept)"
        ),
        (true, scaled, not) => format!(
            "{scaled} data-moving step(s) scaled to the data measured now, {not} not (see their `scaling` line: unscaled estimate kept)"
        ),
    })
}

pub fn to_text(plan: &Plan, measured: bool) -> String {
    let mut out = String::new();
    let (total, unknown) = plan.estimated_total();
    let _ = writeln!(
        out,
        "playbook  {} ({})",
        plan.name,
        plan.source_path.display()
    );
    let _ = writeln!(out, "sha256    {}", plan.sha256);
    if let Some(description) = &plan.description {
        let _ = writeln!(out, "about     {}", description.trim());
    }
    let unknown_note = if unknown > 0 {
        format!(" + {unknown} step(s) without an estimate")
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "steps     {}, estimated {}{unknown_note}",
        plan.step_count(),
        format_duration(total)
    );
    if let Some(line) = scaling_line(plan, measured) {
        let _ = writeln!(out, "estimates {line}");
    }
    for item in &plan.checklist {
        let verify = item
            .verify
            .as_ref()
            .map(|v| format!(" (verify: {})", v.action.describe()))
            .unwrap_or_default();
        let _ = writeln!(out, "check     [ ] {}: {}{verify}", item.id, item.text);
    }
    if let Some(canary) = &plan.canary {
        let _ = writeln!(
            out,
            "canary    a write into `{}` through {} every {}, each checked on {} at the end",
            canary.table,
            crate::canary::Store::label_of(&canary.url),
            format_duration(canary.every),
            crate::canary::Store::label_of(&canary.verify_url)
        );
    }
    if let Some(line) = budget_line(plan) {
        let _ = writeln!(out, "budget    {line}");
    }
    for line in replication_lines(plan) {
        let _ = writeln!(out, "replicas  {line}");
    }
    let _ = writeln!(out);
    let mut number = 0;
    for item in &plan.items {
        match item {
            PlanItem::Checkpoint(name) => {
                let _ = writeln!(out, "    ── checkpoint `{name}` (rollback point)");
            }
            PlanItem::Step(step) => {
                number += 1;
                let _ = writeln!(
                    out,
                    "{number:>3}. {} [{}]",
                    step.id,
                    step.call.action.name()
                );
                if let Some(name) = &step.name {
                    let _ = writeln!(out, "      name      {name}");
                }
                let _ = writeln!(out, "      does      {}", step.call.action.describe());
                let retries = if step.call.retries.attempts > 1 {
                    format!(
                        ", {} attempts {} apart",
                        step.call.retries.attempts,
                        format_duration(step.call.retries.backoff.0)
                    )
                } else {
                    String::new()
                };
                let _ = writeln!(
                    out,
                    "      timeout   {}{retries}   estimate {}   {}",
                    step.call
                        .timeout
                        .map(format_duration)
                        .unwrap_or_else(|| "none".into()),
                    estimate_label(step),
                    if step.idempotent {
                        "idempotent"
                    } else {
                        "not idempotent"
                    }
                );
                if let Some(note) = &step.scale_note {
                    let _ = writeln!(out, "      scaling   {note}");
                }
                let describe = step.rollback.as_ref().map(|r| r.action.describe());
                let _ = writeln!(
                    out,
                    "      rollback  {}",
                    rollback_label(step.rollback_origin, describe)
                );
                if step.call.action.stops_writes() {
                    let _ = writeln!(out, "      stops the application's writes");
                }
                if let (Some(limit), Some(p90)) = (step.slow_after(), step.estimate_p90) {
                    let _ = writeln!(
                        out,
                        "      on_slow   {} past {} ({} p90 {} × {})",
                        serde_json::to_value(step.on_slow)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default(),
                        format_duration(limit),
                        if matches!(step.estimate_source, EstimateSource::Scaled { .. }) {
                            "scaled"
                        } else {
                            "rehearsed"
                        },
                        format_duration(p90),
                        step.slow_factor
                    );
                }
                if step.point_of_no_return {
                    let _ = writeln!(out, "    ▲ POINT OF NO RETURN: after `{}` completes, failures are not rolled back automatically", step.id);
                }
            }
        }
    }
    out.push_str(&super::plan_go_back::text(plan));
    let _ = writeln!(out, "\nrollback map (if a step fails):");
    let failures = failure_plans(plan);
    // Ids longer than the usual column push it right for every line alike.
    let width = failures
        .iter()
        .map(|(step, _)| step.chars().count() + 1)
        .max()
        .unwrap_or(0)
        .max(25);
    for (step, failure) in failures {
        let line = super::plan_go_back::failure_line(plan, &step, &failure)
            .unwrap_or_else(|| failure_line(failure));
        let _ = writeln!(out, "  {step:<width$}{line}");
    }
    out
}

/// One line of the rollback map: what a failure of one step leads to.
fn failure_line(failure: FailurePlan) -> String {
    let steps = |ids: &[String]| {
        ids.iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let back_to = |checkpoint: Option<String>| {
        checkpoint
            .map(|c| format!("checkpoint `{c}`"))
            .unwrap_or_else(|| "the start".into())
    };
    match failure {
        FailurePlan::RollBack { undo, checkpoint } if undo.is_empty() => {
            format!("nothing to undo (back to {})", back_to(checkpoint))
        }
        FailurePlan::RollBack { undo, checkpoint } => {
            format!("undo {} → back to {}", steps(&undo), back_to(checkpoint))
        }
        FailurePlan::Stop {
            point_of_no_return,
            manual_undo,
        } => format!(
            "STOP, exit {} (past `{point_of_no_return}`); `cutover rollback` would undo {}",
            ExitCode::NeedsOperator.code(),
            if manual_undo.is_empty() {
                "nothing".into()
            } else {
                steps(&manual_undo)
            }
        ),
    }
}

/// What becomes of each forward replication the playbook sets up: dropped
/// once the new server serves, replaced by reverse replication (before the
/// swap, or — losing the writes in between on the way back — after it), or
/// left running with its slot holding WAL on the old primary.
fn replication_lines(plan: &Plan) -> Vec<String> {
    let steps: Vec<_> = plan.steps().collect();
    let swap = steps.iter().position(|s| s.point_of_no_return);
    let mut lines = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        use crate::actions::{mysql, postgres};
        // (the forward action, its reverse if the engine has one, its drop)
        let families = [
            (
                &postgres::replicate::DESCRIPTOR,
                Some(&postgres::reverse_replicate::DESCRIPTOR),
                &postgres::drop_replication::DESCRIPTOR,
            ),
            (
                &mysql::replicate::DESCRIPTOR,
                Some(&mysql::reverse_replicate::DESCRIPTOR),
                &mysql::drop_replication::DESCRIPTOR,
            ),
        ];
        let Some((_, reverse, drop)) = families
            .iter()
            .find(|(forward, _, _)| forward.name == step.call.action.name())
        else {
            continue;
        };
        let later = &steps[i + 1..];
        let find = |name: &str| {
            later
                .iter()
                .position(|s| s.call.action.name() == name)
                .map(|j| (i + 1 + j, later[j].id.clone()))
        };
        let reverse = reverse.and_then(|r| find(r.name));
        let dropped = find(drop.name);
        let line = match (reverse, dropped) {
            (Some((at, id)), _) if swap.is_some_and(|ponr| at > ponr) => format!(
                "`{}`: replaced by reverse replication in `{id}`, AFTER the point of no return: writes made on the new server before it would not reach the old one on the way back (hint: reverse inside the freeze, before the swap)",
                step.id
            ),
            (Some((_, id)), _) => format!(
                "`{}`: replaced by reverse replication in `{id}`, before the swap: a way back that loses nothing",
                step.id
            ),
            (None, Some((_, id))) => format!(
                "`{}`: dropped by `{id}` once the new server serves (no way back by replication)",
                step.id
            ),
            (None, None) => format!(
                "`{}`: left running after the run (on PostgreSQL its slot keeps WAL on the old primary; hint: add `{}` after the swap)",
                step.id,
                drop.name
            ),
        };
        lines.push(line);
    }
    lines
}

/// The steps the downtime budget covers: from the first that stops writes
/// to the point of no return, with their estimates.
fn budget_span(plan: &Plan) -> Option<(String, Option<String>, std::time::Duration)> {
    let steps: Vec<_> = plan.steps().collect();
    let first = steps.iter().position(|s| s.call.action.stops_writes())?;
    let last = steps[first..]
        .iter()
        .position(|s| s.point_of_no_return)
        .map(|i| first + i);
    let inside = &steps[first..=last.unwrap_or(steps.len() - 1)];
    let estimate = inside.iter().filter_map(|s| s.estimate).sum();
    Some((
        steps[first].id.clone(),
        last.map(|i| steps[i].id.clone()),
        estimate,
    ))
}

fn budget_line(plan: &Plan) -> Option<String> {
    let budget = plan.downtime_budget?;
    Some(match budget_span(plan) {
        Some((from, to, estimate)) => format!(
            "writes stopped {} at most: from `{from}` to the end of {} (estimated {})",
            format_duration(budget),
            to.map(|t| format!("`{t}`"))
                .unwrap_or_else(|| "the run".into()),
            format_duration(estimate)
        ),
        None => format!(
            "{} (no step stops writes: the budget never starts)",
            format_duration(budget)
        ),
    })
}

pub fn to_json(plan: &Plan) -> serde_json::Value {
    let (total, unknown) = plan.estimated_total();
    let failures: std::collections::BTreeMap<String, FailurePlan> =
        failure_plans(plan).into_iter().collect();
    let items: Vec<serde_json::Value> = plan
        .items
        .iter()
        .map(|item| match item {
            PlanItem::Checkpoint(name) => serde_json::json!({ "checkpoint": name }),
            PlanItem::Step(step) => serde_json::json!({
                "id": step.id,
                "name": step.name,
                "action": step.call.action.name(),
                "describe": step.call.action.describe(),
                "timeout_ms": step.call.timeout.map(|t| t.as_millis() as u64),
                "attempts": step.call.retries.attempts,
                "estimate_ms": step.estimate.map(|t| t.as_millis() as u64),
                "estimate_p90_ms": step.estimate_p90.map(|t| t.as_millis() as u64),
                "estimate_source": step.estimate_source,
                "scale_note": step.scale_note,
                "idempotent": step.idempotent,
                "point_of_no_return": step.point_of_no_return,
                "stops_writes": step.call.action.stops_writes(),
                "on_slow": step.on_slow,
                "slow_factor": step.slow_factor,
                "slow_after_ms": step.slow_after().map(|t| t.as_millis() as u64),
                "rollback": {
                    "origin": step.rollback_origin,
                    "action": step.rollback.as_ref().map(|r| r.action.name()),
                    "describe": step.rollback.as_ref().map(|r| r.action.describe()),
                },
                "on_failure": failures.get(&step.id),
            }),
        })
        .collect();
    serde_json::json!({
        "playbook": plan.name,
        "path": plan.source_path,
        "sha256": plan.sha256,
        "estimate_ms": total.as_millis() as u64,
        "steps_without_estimate": unknown,
        "estimate_sources": plan.estimate_sources(),
        "checklist": plan.checklist.iter().map(|c| serde_json::json!({ "id": c.id, "text": c.text, "verify": c.verify.as_ref().map(|v| v.action.describe()) })).collect::<Vec<_>>(),
        "items": items,
        "canary": plan.canary.as_ref().map(|c| serde_json::json!({
            "url": crate::canary::Store::label_of(&c.url),
            "verify": crate::canary::Store::label_of(&c.verify_url),
            "table": c.table,
            "every_ms": c.every.as_millis() as u64,
            "keep": c.keep,
        })),
        "downtime_budget_ms": plan.downtime_budget.map(|b| b.as_millis() as u64),
        "downtime_budget": budget_line(plan),
        "replication": replication_lines(plan),
        "go_back": super::plan_go_back::json(plan),
    })
}
