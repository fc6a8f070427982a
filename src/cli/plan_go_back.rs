//! The go-back as `plan` shows it: its steps, what each one's failure leads
//! to, and which forward steps start it by themselves.

use std::fmt::Write;

use super::ExitCode;
use crate::duration::format_duration;
use crate::plan::{FailurePlan, Plan};

/// The `go back` section of the text plan (empty without a `go_back:`).
pub fn text(plan: &Plan) -> String {
    let mut out = String::new();
    if plan.go_back.is_empty() {
        return out;
    }
    let triggers: Vec<String> = triggers(plan).iter().map(|s| format!("`{s}`")).collect();
    let _ = writeln!(
        out,
        "\ngo back (past the point of no return: `cutover rollback RUN`{}):",
        if triggers.is_empty() {
            String::new()
        } else {
            format!(", or a breach of {}", triggers.join(", "))
        }
    );
    let _ = writeln!(
        out,
        "  runs only while it loses nothing: a step failing before its own point of no return undoes the go-back so far and stops, exit {}, traffic left where it was",
        ExitCode::NeedsOperator.code()
    );
    for (index, step) in plan.go_back.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {}. {} [{}]",
            index + 1,
            step.id,
            step.call.action.name()
        );
        let _ = writeln!(out, "      does      {}", step.call.action.describe());
        let _ = writeln!(
            out,
            "      timeout   {}   undo {}",
            step.call
                .timeout
                .map(format_duration)
                .unwrap_or_else(|| "none".into()),
            step.rollback
                .as_ref()
                .map(|r| r.action.describe())
                .unwrap_or_else(|| "none".into())
        );
        if step.point_of_no_return {
            let _ = writeln!(
                out,
                "    ▲ the go-back's POINT OF NO RETURN: a failure after `{}` undoes nothing; `cutover rollback` goes on with the rest",
                step.id
            );
        }
    }
    out
}

/// The forward steps whose failure runs the go-back (watches with
/// `on_breach: go_back` past the point of no return).
fn triggers(plan: &Plan) -> Vec<String> {
    let mut past = false;
    let mut ids = Vec::new();
    for step in plan.steps() {
        if past && step.call.action.goes_back_on_failure() {
            ids.push(step.id.clone());
        }
        past |= step.point_of_no_return;
    }
    ids
}

/// The rollback map's line for a step past the point of no return when the
/// playbook has a go-back: it runs by itself (a trigger), or on `cutover rollback`.
pub fn failure_line(plan: &Plan, step: &str, failure: &FailurePlan) -> Option<String> {
    let FailurePlan::Stop {
        point_of_no_return, ..
    } = failure
    else {
        return None;
    };
    if plan.go_back.is_empty() {
        return None;
    }
    let ids: Vec<&str> = plan.go_back.iter().map(|s| s.id.as_str()).collect();
    let exit = ExitCode::NeedsOperator.code();
    Some(if triggers(plan).iter().any(|s| s == step) {
        format!(
            "GO BACK: {} (refused, exit {exit}, if it cannot go back losslessly)",
            ids.join(" → ")
        )
    } else {
        format!(
            "STOP, exit {exit} (past `{point_of_no_return}`); `cutover rollback` would go back: {}",
            ids.join(" → ")
        )
    })
}

/// The go-back in `plan --output json`.
pub fn json(plan: &Plan) -> serde_json::Value {
    serde_json::json!({
        "steps": plan.go_back.iter().map(|step| serde_json::json!({
            "id": step.id,
            "action": step.call.action.name(),
            "describe": step.call.action.describe(),
            "timeout_ms": step.call.timeout.map(|t| t.as_millis() as u64),
            "point_of_no_return": step.point_of_no_return,
            "undo": step.rollback.as_ref().map(|r| r.action.describe()),
        })).collect::<Vec<_>>(),
        "triggers": triggers(plan),
    })
}
