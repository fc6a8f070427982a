//! Steps inside the write freeze without a `timeout:`: a server that stops
//! answering there holds the outage until someone notices. `validate` warns.

use super::Values;
use crate::playbook::{Diagnostic, Diagnostics, Node, Step};

/// `steps`: the forward steps, in order, without checkpoints.
pub(super) fn warn_untimed_in_freeze(
    steps: &[&Step],
    values: &Values,
    diagnostics: &mut Diagnostics,
) {
    let Some(first) = steps.iter().position(|s| stops_writes(s, values)) else {
        return;
    };
    // Writes come back at the swap: the freeze ends with the point of no return.
    let Some(last) = steps.iter().position(|s| s.point_of_no_return) else {
        return;
    };
    for step in steps.iter().take(last + 1).skip(first) {
        if step.timeout.is_none() && !bounds_itself(step) {
            diagnostics.push(
                Diagnostic::warning(
                    step.spans.entry,
                    format!(
                        "`{}` runs while writes are frozen (from `{}` to `{}`) and has no `timeout`: a server that stops answering would hold the outage until someone notices",
                        step.id, steps[first].id, steps[last].id
                    ),
                )
                .with_hint("give the step a `timeout:` a little above what it takes (or the action its own `timeout` in `with`); the downtime budget bounds the freeze as a whole, when there is one"),
            );
        }
    }
}

/// An action given its own `timeout` in `with` ends by it (it holds while
/// blocked on a socket too); a `wait` ends by its `duration`.
fn bounds_itself(step: &Step) -> bool {
    step.action == crate::actions::builtin::wait::DESCRIPTOR.name
        || step.with_node
        .as_ref()
        .and_then(|with| with.get("timeout"))
        .is_some()
}

/// Decodes the step's action as `validate` sees it (templates unresolved
/// stay text); one that cannot be decoded is reported elsewhere.
fn stops_writes(step: &Step, values: &Values) -> bool {
    let Some(info) = crate::actions::lookup(&step.action) else {
        return false;
    };
    let json = step
        .with_node
        .as_ref()
        .map(Node::to_json)
        .unwrap_or_else(|| serde_json::json!({}));
    let json = values.render_json(&json).unwrap_or(json);
    (info.decode)(json).is_ok_and(|action| action.stops_writes())
}
