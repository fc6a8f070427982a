//! The rules of `go_back:` that need the whole playbook: a watch that goes
//! back needs a way back, and a way back only runs past a point of no return.

use crate::playbook::{Diagnostic, Diagnostics, Playbook, Step};

/// `steps`: the playbook's forward steps, in order, without checkpoints.
pub(super) fn check_go_back(playbook: &Playbook, steps: &[&Step], diagnostics: &mut Diagnostics) {
    let point_of_no_return = steps.iter().position(|s| s.point_of_no_return);
    for (index, step) in steps.iter().enumerate() {
        let Some(on_breach) = going_back(step) else {
            continue;
        };
        if playbook.go_back.is_empty() {
            diagnostics
                .error(
                    on_breach,
                    format!("`{}` goes back on a breach, and the playbook has no `go_back:`", step.id),
                )
                .hint("add a top-level `go_back:` with the steps of the way back (freeze the new server, reverse catch-up, swap back, thaw the old one), or use `on_breach: fail`");
            continue;
        }
        if point_of_no_return.is_none_or(|ponr| index <= ponr) {
            diagnostics.push(
                Diagnostic::warning(
                    on_breach,
                    format!(
                        "`{}` comes before the point of no return: a breach there rolls the run back to its checkpoint, as `on_breach: fail` does",
                        step.id
                    ),
                )
                .with_hint("`go_back` runs only once traffic has moved: put the soak after the step with `point_of_no_return: true`"),
            );
        }
    }
    if point_of_no_return.is_none() {
        if let Some(first) = steps_of_go_back(playbook).first() {
            diagnostics.push(
                Diagnostic::warning(
                    first.spans.entry,
                    "`go_back` runs only past the point of no return, and no step has `point_of_no_return: true`",
                )
                .with_hint("mark the step that moves traffic (the swap) with `point_of_no_return: true`; before it, a failure rolls back by itself"),
            );
        }
    }
}

/// The position of `on_breach: go_back` in a watch step's `with`.
fn going_back(step: &Step) -> Option<crate::playbook::Span> {
    if step.action != crate::actions::builtin::watch::NAME {
        return None;
    }
    let node = step.with_node.as_ref()?.get("on_breach")?;
    (node.as_scalar() == Some("go_back")).then_some(node.span)
}

fn steps_of_go_back(playbook: &Playbook) -> Vec<&Step> {
    crate::playbook::steps_of(&playbook.go_back)
}
