//! `check`: every rule that needs more than one node to decide — duplicate ids,
//! unknown actions, parameters of the wrong type, undefined references, and
//! rollbacks that can never run. Finds them all, each at its position.

use std::collections::HashMap;

use super::{EnvMode, Values};
use crate::actions::{self, Descriptor, ACTIONS};
use crate::playbook::template::{self, Piece, Scope};
use crate::playbook::{
    did_you_mean, Diagnostics, Entry, Node, NodeKind, Playbook, RollbackSpec, Span, Step,
};

/// Checks a decoded playbook; problems are added to `diagnostics`.
pub fn check(playbook: &Playbook, diagnostics: &mut Diagnostics) {
    // No environment: `validate` must give the same answer on every machine.
    let values = Values::with_env(
        &playbook.vars,
        &playbook.secrets,
        EnvMode::Lenient,
        Default::default(),
    );
    check_var_values(playbook, diagnostics);
    check_unique_names(playbook, diagnostics);
    check_guardrails(playbook, &values, diagnostics);
    let steps = crate::playbook::steps_of(&playbook.steps);
    warn_late_reverse(&steps, diagnostics);
    super::check_freeze::warn_untimed_in_freeze(&steps, &values, diagnostics);
    super::check_go_back::check_go_back(playbook, &steps, diagnostics);
    check_steps(&steps, &values, playbook, diagnostics);
    check_steps(
        &crate::playbook::steps_of(&playbook.go_back),
        &values,
        playbook,
        diagnostics,
    );
}

/// Each step's action and rollback against the registry, in one list.
fn check_steps(
    steps: &[&Step],
    values: &Values,
    playbook: &Playbook,
    diagnostics: &mut Diagnostics,
) {
    for (index, step) in steps.iter().enumerate() {
        check_call(
            &step.action,
            step.spans.action,
            step.with_node.as_ref(),
            values,
            playbook,
            diagnostics,
        );
        if let RollbackSpec::Call(call) = &step.rollback {
            check_call(
                &call.action,
                call.action_span,
                call.with_node.as_ref(),
                values,
                playbook,
                diagnostics,
            );
            if index + 1 == steps.len() {
                diagnostics
                    .error(step.spans.rollback, format!("the rollback of `{}` can never run", step.id))
                    .hint("rollbacks undo completed steps when a later step fails, and no step comes after this one; remove the rollback or add the step that needs it");
            }
        }
    }
}

fn check_var_values(playbook: &Playbook, diagnostics: &mut Diagnostics) {
    for ((name, text), span) in playbook.vars.iter().zip(&playbook.spans.vars) {
        match template::parse(text) {
            Err((_, message)) => {
                diagnostics.error(*span, format!("var `{name}`: {message}"));
            }
            Ok(pieces) => {
                for piece in pieces {
                    if let Piece::Ref(r) = piece {
                        if r.scope == Scope::Vars {
                            diagnostics
                                .error(*span, format!("var `{name}` refers to var `{}`", r.name))
                                .hint("vars may use `${{ env.NAME }}` and `${{ secrets.NAME }}`, not other vars; repeat the value instead");
                        } else if r.scope == Scope::Secrets && !playbook.secrets.contains(&r.name) {
                            diagnostics
                                .error(*span, format!("var `{name}` uses `secrets.{}`, which is not listed under `secrets`", r.name))
                                .hint(format!("add `{}` to `secrets:`", r.name));
                        }
                    }
                }
            }
        }
    }
}

fn check_unique_names(playbook: &Playbook, diagnostics: &mut Diagnostics) {
    let mut step_ids: HashMap<&str, Span> = HashMap::new();
    let mut checkpoints: HashMap<&str, Span> = HashMap::new();
    // One journal keys both lists by step id.
    for entry in playbook.steps.iter().chain(&playbook.go_back) {
        let (name, span, seen, what) = match entry {
            Entry::Step(step) if !step.id.is_empty() => {
                (step.id.as_str(), step.spans.id, &mut step_ids, "step id")
            }
            Entry::Checkpoint(c) => (
                c.checkpoint.as_str(),
                c.span,
                &mut checkpoints,
                "checkpoint",
            ),
            Entry::Step(_) => continue,
        };
        if let Some(first) = seen.get(name) {
            diagnostics
                .error(span, format!("duplicate {what} `{name}`"))
                .hint(format!(
                    "it is first used on line {}; ids must be unique",
                    first.line
                ));
        } else {
            seen.insert(name, span);
        }
    }
}

fn check_call(
    action: &str,
    action_span: Span,
    with: Option<&Node>,
    values: &Values,
    playbook: &Playbook,
    diagnostics: &mut Diagnostics,
) {
    // A `with` that is not a mapping was reported when decoding; its
    // parameters cannot be checked.
    let with_is_map = with.is_none_or(|w| matches!(w.kind, NodeKind::Map(_)));
    if let Some(with) = with.filter(|_| with_is_map) {
        check_templates(with, playbook, values, diagnostics);
    }
    if action.is_empty() {
        return;
    }
    let Some(info) = actions::lookup(action) else {
        let diagnostic = diagnostics.error(action_span, format!("unknown action `{action}`"));
        match did_you_mean(action, ACTIONS.iter().map(|a| a.name)) {
            Some(suggestion) => diagnostic.hint(format!("did you mean `{suggestion}`?")),
            None => diagnostic.hint(format!(
                "available actions: {}",
                ACTIONS
                    .iter()
                    .map(|a| a.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
        return;
    };
    if with_is_map {
        check_params(info, action_span, with, values, playbook, diagnostics);
    }
}

fn check_params(
    info: &Descriptor,
    action_span: Span,
    with: Option<&Node>,
    values: &Values,
    playbook: &Playbook,
    diagnostics: &mut Diagnostics,
) {
    let json = with
        .map(Node::to_json)
        .unwrap_or_else(|| serde_json::json!({}));
    // Templates are checked on their own; here unresolvable ones stay as text.
    let json = values.render_json(&json).unwrap_or(json);
    if let Err(error) = (info.decode)(json) {
        let node = with.map(|node| node.find(error.path.iter().map(String::as_str)));
        // A value that comes from the environment is only known at run time
        // (`duration: ${{ env.PAUSE }}`, or a var that takes it from there):
        // `run` checks it then.
        // A list checked as a whole (`from: [...]` of names) reports at the
        // list: it waits for `run` too when one of its items does.
        let items = match node.map(|n| &n.kind) {
            Some(NodeKind::Seq(items)) => items.iter().collect(),
            _ => node.into_iter().collect::<Vec<_>>(),
        };
        if items
            .iter()
            .filter_map(|n| n.as_scalar())
            .any(|text| from_environment(text, playbook))
        {
            return;
        }
        // An unknown parameter is its key's fault, not its value's.
        let key = match (with, error.path.split_last()) {
            (Some(with), Some((last, parent))) if error.message.starts_with("unknown field") => {
                with.find(parent.iter().map(String::as_str))
                    .key(last)
                    .map(|k| k.span)
            }
            _ => None,
        };
        // A list of names checked as a whole names its bad item (`found
        // `a;b``): point at that item rather than at the list.
        let node = node.map(|node| match &node.kind {
            NodeKind::Seq(items) => items
                .iter()
                .find(|item| {
                    item.as_scalar().is_some_and(|text| {
                        error
                            .message
                            .contains(&format!("`{}`", text.escape_debug()))
                    })
                })
                .unwrap_or(node),
            _ => node,
        });
        let span = match (key, node) {
            (Some(span), _) => span,
            (None, Some(node)) => node.span,
            (None, None) => action_span,
        };
        let diagnostic = diagnostics.error(
            span,
            format!("`{}` parameters: {}", info.name, error.message),
        );
        if with.is_none() {
            diagnostic.hint(format!(
                "add `with:` with the parameters of `{}` (see docs/actions/)",
                info.name
            ));
        } else if error.message.starts_with("invalid type: string")
            && node.is_some_and(|n| matches!(n.kind, NodeKind::Scalar { quoted: true, .. }))
        {
            // `requests: "3"`: quoted scalars stay strings, never read as numbers.
            diagnostic.hint(
                "a quoted value is text, not a number or `true`/`false`: write it without quotes",
            );
        }
    }
}

/// Checks every `${{ … }}` inside a `with` tree.
fn check_templates(
    node: &Node,
    playbook: &Playbook,
    values: &Values,
    diagnostics: &mut Diagnostics,
) {
    match &node.kind {
        NodeKind::Scalar { text, quoted } => {
            // A block scalar (`run: |`) starts on its first content line, each
            // line indented alike: count lines and columns inside it. References
            // come in order, so one cursor walks the text once (linear in its
            // length whatever the number of references).
            let mut cursor = Cursor::new(text);
            let mut at = |offset: usize| -> Span {
                let (lines, col) = cursor.advance_to(offset);
                if lines == 0 {
                    Span {
                        line: node.span.line,
                        col: node.span.col + col + usize::from(*quoted),
                        len: 3,
                    }
                } else {
                    Span {
                        line: node.span.line + lines,
                        col: node.span.col + col,
                        len: 3,
                    }
                }
            };
            match template::parse(text) {
                Err((offset, message)) => {
                    diagnostics.error(at(offset), message);
                }
                Ok(pieces) => {
                    for piece in pieces {
                        let Piece::Ref(r) = piece else { continue };
                        let span = Span {
                            len: r.name.len() + r.scope.name().len() + 8,
                            ..at(r.offset)
                        };
                        let message = match r.scope {
                            Scope::Vars if !values.has_var(&r.name) => {
                                format!("undefined var `{}`", r.name)
                            }
                            Scope::Secrets if !playbook.secrets.contains(&r.name) => {
                                format!("`secrets.{}` is not listed under `secrets`", r.name)
                            }
                            _ => continue,
                        };
                        diagnostics
                            .error(span, message)
                            .hint(unknown_reference_hint(r.scope, &r.name, values));
                    }
                }
            }
        }
        NodeKind::Seq(items) => items
            .iter()
            .for_each(|item| check_templates(item, playbook, values, diagnostics)),
        NodeKind::Map(entries) => entries
            .iter()
            .for_each(|(_, v)| check_templates(v, playbook, values, diagnostics)),
    }
}

/// Walks a string forward by characters, counting line breaks and the column
/// since the last one. Asked for offsets in increasing order; an earlier
/// offset starts the walk again (never happens with `template::parse`).
struct Cursor<'a> {
    chars: std::str::Chars<'a>,
    text: &'a str,
    offset: usize,
    lines: usize,
    col: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            chars: text.chars(),
            text,
            offset: 0,
            lines: 0,
            col: 0,
        }
    }

    /// (line breaks before `offset`, characters since the last one).
    fn advance_to(&mut self, offset: usize) -> (usize, usize) {
        if offset < self.offset {
            *self = Self::new(self.text);
        }
        while self.offset < offset {
            match self.chars.next() {
                Some('\n') => {
                    self.lines += 1;
                    self.col = 0;
                }
                Some(_) => self.col += 1,
                None => break,
            }
            self.offset += 1;
        }
        (self.lines, self.col)
    }
}

/// Reverse replication started after the point of no return misses the
/// writes the new server took between the swap and it: a way back that
/// loses them. It belongs inside the freeze, before the swap.
fn warn_late_reverse(steps: &[&Step], diagnostics: &mut Diagnostics) {
    let reverse = [
        crate::actions::postgres::reverse_replicate::DESCRIPTOR.name,
        crate::actions::mysql::reverse_replicate::DESCRIPTOR.name,
    ];
    let Some(ponr) = steps.iter().position(|s| s.point_of_no_return) else {
        return;
    };
    for step in &steps[ponr + 1..] {
        if reverse.contains(&step.action.as_str()) {
            diagnostics.push(
                crate::playbook::Diagnostic::warning(
                    step.spans.action,
                    format!(
                        "`{}` starts reverse replication after the point of no return (`{}`): writes the new server takes in between never reach the old one, so going back would lose them",
                        step.id, steps[ponr].id
                    ),
                )
                .with_hint("start it inside the freeze: after the catch-up, before the swap"),
            );
        }
    }
}

/// Checklist verifies, window ranges and time zone, webhook templates.
fn check_guardrails(playbook: &Playbook, values: &Values, diagnostics: &mut Diagnostics) {
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for item in &playbook.checklist {
        if let Some(first) = seen.insert(item.id.as_str(), item.span) {
            diagnostics
                .error(item.span, format!("duplicate checklist id `{}`", item.id))
                .hint(format!("it is first used on line {}", first.line));
        }
        if let Some(verify) = &item.verify {
            check_call(
                &verify.action,
                verify.action_span,
                verify.with_node.as_ref(),
                values,
                playbook,
                diagnostics,
            );
        }
    }
    if let Some(window) = &playbook.window {
        if jiff::tz::TimeZone::get(&window.timezone).is_err() {
            let d = diagnostics.error(
                window.spans.timezone,
                format!("unknown time zone `{}`", window.timezone),
            );
            d.hint("use an IANA name such as `Europe/Zurich`, `America/New_York` or `UTC`");
        }
        let ranges = window
            .allow
            .iter()
            .zip(&window.spans.allow)
            .chain(window.deny.iter().zip(&window.spans.deny));
        for (text, span) in ranges {
            if let Err(message) = super::window::parse_range(text) {
                diagnostics.error(*span, message);
            }
        }
    }
    for hook in &playbook.notify {
        for text in std::iter::once(&hook.url).chain(hook.headers.values()) {
            check_references(text, hook.span, "webhook", playbook, values, diagnostics);
        }
    }
    if let Some(canary) = &playbook.canary {
        for text in std::iter::once(&canary.url).chain(canary.verify_url.iter()) {
            check_references(text, canary.span, "canary", playbook, values, diagnostics);
        }
    }
}

/// The templates of a text outside the steps (a webhook, the canary): each
/// reference must name a var or secret the playbook defines.
fn check_references(
    text: &str,
    span: Span,
    what: &str,
    playbook: &Playbook,
    values: &Values,
    diagnostics: &mut Diagnostics,
) {
    let pieces = match template::parse(text) {
        Ok(pieces) => pieces,
        Err((_, message)) => {
            diagnostics.error(span, message);
            return;
        }
    };
    for piece in pieces {
        if let Piece::Ref(r) = piece {
            let known = match r.scope {
                Scope::Vars => values.has_var(&r.name),
                Scope::Secrets => playbook.secrets.contains(&r.name),
                Scope::Env => true,
            };
            if !known {
                diagnostics
                    .error(
                        span,
                        format!("{what} refers to unknown `{}.{}`", r.scope.name(), r.name),
                    )
                    .hint(unknown_reference_hint(r.scope, &r.name, values));
            }
        }
    }
}

/// What to do about a `vars.X` or `secrets.X` the playbook does not define,
/// wherever the reference is (a step's `with`, a webhook).
fn unknown_reference_hint(scope: Scope, name: &str, values: &Values) -> String {
    match scope {
        Scope::Vars => match did_you_mean(name, values.var_names()) {
            Some(suggestion) => format!("did you mean `{suggestion}`?"),
            None => format!("define it under `vars:`, e.g. `{name}: …`"),
        },
        _ => format!("add `{name}` to `secrets:` so it is read from the environment and masked"),
    }
}

/// True when a value takes something from the environment (`${{ env.X }}`,
/// `${{ secrets.X }}`, or a var made of them), which only `run` can resolve.
fn from_environment(text: &str, playbook: &Playbook) -> bool {
    template::parse(text).is_ok_and(|pieces| {
        pieces.iter().any(|piece| match piece {
            Piece::Ref(r) if r.scope == Scope::Vars => playbook
                .vars
                .iter()
                .find(|(name, _)| *name == r.name)
                // A var cannot refer to a var: one level is all there is.
                .is_some_and(|(_, value)| {
                    template::parse(value).is_ok_and(|inner| {
                        inner
                            .iter()
                            .any(|p| matches!(p, Piece::Ref(r) if r.scope != Scope::Vars))
                    })
                }),
            Piece::Ref(_) => true,
            Piece::Text(_) => false,
        })
    })
}
