//! `Playbook`: the decoded text of a playbook, before anything is resolved.
//!
//! Plain types, so `cutover schema` derives the JSON Schema from exactly what the
//! decoder produces. Positions live in the spanned tree kept beside it.

use super::{Node, Span};
use crate::duration::DurationText;
use schemars::JsonSchema;

/// A cutover playbook.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Playbook {
    /// Names the cutover; runs of the same name share a lock and a history of timings.
    pub name: String,
    /// What this cutover does and why, for whoever reads the plan or the audit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Values referenced as `${{ vars.NAME }}`.
    #[schemars(with = "std::collections::BTreeMap<String, String>")]
    pub vars: Vec<(String, String)>,
    /// Names of environment variables that hold secrets: referenced as
    /// `${{ secrets.NAME }}` (or `${{ env.NAME }}`), shown everywhere as `***`.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// The steps, in order, with `- checkpoint: NAME` entries marking rollback points.
    pub steps: Vec<Entry>,
    /// The way back after the point of no return (no checkpoints): run by
    /// `cutover rollback RUN`, or by a `watch` with `on_breach: go_back`.
    /// A step of it that fails before its own point of no return undoes the
    /// go-back's steps so far and stops for an operator: traffic stays put.
    #[serde(default)]
    pub go_back: Vec<Entry>,
    /// Items an operator must confirm (and checks that must pass) before `run`
    /// starts a step.
    #[serde(default)]
    pub checklist: Vec<ChecklistItem>,
    /// When the cutover may run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    /// Webhooks told about the run's start, checkpoints, failures, rollbacks and end.
    #[serde(default)]
    pub notify: Vec<Notify>,
    /// A write canary: numbered commits through the application's address for
    /// the whole run, every one checked on the new server at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<Canary>,
    /// Longest writes may stay stopped: from the first step that stops writes
    /// to the end of the point-of-no-return step. Before a step that would not
    /// fit, or when it runs out mid-step, the run rolls back instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downtime_budget: Option<DurationText>,
    /// Default `on_slow` of the steps: `warn` (default), `pause` or `rollback`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<OnSlowKeyword>")]
    pub on_slow: Option<String>,
    /// Default `slow_factor` of the steps (default 1.5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_factor: Option<f64>,
    #[serde(skip)]
    #[schemars(skip)]
    pub spans: PlaybookSpans,
}

/// One checklist item.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ChecklistItem {
    /// Used by `--confirm ID` and checklist files.
    pub id: String,
    /// What the operator confirms, as a sentence.
    pub text: String,
    /// A read-only check that must pass too (any action, run before the first step).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify: Option<ActionCall>,
    #[serde(skip)]
    #[schemars(skip)]
    pub span: Span,
}

/// `window:`: when a run may start and must have finished.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Window {
    /// IANA time zone the ranges are written in, e.g. `Europe/Zurich`.
    pub timezone: String,
    /// Ranges a run may use: `Sat 22:00 - Sun 06:00`, `Mon-Fri 01:00 - 05:00`,
    /// `daily 01:00 - 04:00`, `2026-12-05T22:00 - 2026-12-06T04:00`. None: any time not denied.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Ranges never used (peak hours), same syntax; deny wins over allow.
    #[serde(default)]
    pub deny: Vec<String>,
    /// The run must be able to finish this long before the range closes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub margin: Option<DurationText>,
    /// What to do when, before a step, the rest would no longer fit: `rollback`
    /// (default), `pause` or `continue`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<OnOverrunKeyword>")]
    pub on_overrun: Option<String>,
    #[serde(skip)]
    #[schemars(skip)]
    pub spans: WindowSpans,
}

/// `warn`, `pause` or `rollback`.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum OnSlowKeyword {
    Warn,
    Pause,
    Rollback,
}

/// `rollback`, `pause` or `continue`.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum OnOverrunKeyword {
    Rollback,
    Pause,
    Continue,
}

#[derive(Debug, Clone, Default)]
pub struct WindowSpans {
    pub timezone: Span,
    pub allow: Vec<Span>,
    pub deny: Vec<Span>,
    pub on_overrun: Span,
}

/// `canary:`: the write canary.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Canary {
    /// The application's address (`postgres://` or `mysql://`, through the
    /// proxy the application uses), as the application's user: writes made
    /// here must stop when the application's would.
    pub url: String,
    /// Pause between two commits (default `10ms`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every: Option<DurationText>,
    /// Where every acknowledged write is looked for at the end (default: `url`,
    /// which by then reaches the new server).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_url: Option<String>,
    /// The canary's table (default `cutover_canary`), created before the first
    /// step so it moves with the data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// Keep the table after the run (default: dropped).
    #[serde(default)]
    pub keep: bool,
    #[serde(skip)]
    #[schemars(skip)]
    pub span: Span,
}

/// A webhook.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Notify {
    /// Where to POST (templates and secrets allowed, e.g. a chat webhook URL).
    pub url: String,
    /// Extra request headers (templates and secrets allowed).
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    #[serde(skip)]
    #[schemars(skip)]
    pub span: Span,
}

/// Positions of the top-level items, for errors found after decoding.
#[derive(Debug, Clone, Default)]
pub struct PlaybookSpans {
    pub name: Span,
    pub vars: Vec<Span>,
    pub secrets: Vec<Span>,
}

/// The steps of a list (`steps`, `go_back`), without its checkpoints.
pub fn steps_of(entries: &[Entry]) -> Vec<&Step> {
    entries
        .iter()
        .filter_map(|entry| match entry {
            Entry::Step(step) => Some(step.as_ref()),
            Entry::Checkpoint(_) => None,
        })
        .collect()
}

/// One entry of `steps`: a step or a rollback point.
#[derive(Debug, Clone, JsonSchema)]
#[serde(untagged)]
pub enum Entry {
    Step(Box<Step>),
    Checkpoint(Checkpoint),
}

/// `- checkpoint: NAME`: a failure later rolls back only to here.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Checkpoint {
    /// The rollback point's name, used by `cutover rollback --to NAME`.
    pub checkpoint: String,
    #[serde(skip)]
    #[schemars(skip)]
    pub span: Span,
}

/// One step of a playbook.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Step {
    /// Unique id: letters, digits, `-` and `_`. Used by `--fail-at`, `--approve`,
    /// `--assume-done`, the journal and the estimates of later runs.
    pub id: String,
    /// A human title for the progress display and reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The action to run, such as `shell`, `wait` or `approve`.
    pub action: String,
    /// The action's parameters; see `docs/actions/`.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub with: Option<serde_json::Value>,
    /// Longest one attempt may take before it is stopped and counted as failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<DurationText>,
    /// How often to try before the step counts as failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<Retries>,
    /// What undoes this step: an action call, or `none`. Omitted: the action's
    /// natural inverse, if it has one.
    #[serde(default)]
    pub rollback: RollbackSpec,
    /// Expected duration, used until rehearsals have measured it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimate: Option<DurationText>,
    /// Safe to run twice: a step in flight during a crash is re-run by `resume`
    /// without asking. Defaults to what the action declares.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotent: Option<bool>,
    /// After this step completes, failures are never rolled back automatically.
    #[serde(default)]
    pub point_of_no_return: bool,
    /// Before the point of no return, when this step runs past its rehearsed
    /// p90 × `slow_factor`: `warn` (default), `pause` after it for an
    /// operator, or `rollback` (end it and roll back).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<OnSlowKeyword>")]
    pub on_slow: Option<String>,
    /// How far past its rehearsed p90 a step may run before `on_slow` (default 1.5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_factor: Option<f64>,
    #[serde(skip)]
    #[schemars(skip)]
    pub spans: StepSpans,
    /// The `with` mapping as written, to locate errors inside it.
    #[serde(skip)]
    #[schemars(skip)]
    pub with_node: Option<Node>,
}

#[derive(Debug, Clone, Default)]
pub struct StepSpans {
    pub entry: Span,
    pub id: Span,
    pub action: Span,
    pub rollback: Span,
    pub point_of_no_return: Span,
}

/// `retries: { attempts, backoff }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Retries {
    /// Tries in all, the first included (1 = no retry).
    pub attempts: u32,
    /// Pause between two tries.
    #[serde(default)]
    pub backoff: DurationText,
}

impl Default for Retries {
    fn default() -> Self {
        Self {
            attempts: 1,
            backoff: DurationText::default(),
        }
    }
}

/// A step's `rollback:`.
#[derive(Debug, Clone, Default, JsonSchema)]
#[serde(untagged)]
pub enum RollbackSpec {
    /// Not written: the action's natural inverse applies, if it has one.
    #[default]
    #[schemars(skip)]
    Implied,
    /// `rollback: none`: nothing undoes this step.
    #[schemars(with = "NoneKeyword")]
    None,
    /// An explicit action call.
    Call(ActionCall),
}

/// The keyword `none`.
#[derive(JsonSchema)]
#[allow(dead_code)]
enum NoneKeyword {
    #[serde(rename = "none")]
    None,
}

/// `{ action, with, timeout, retries }`: an action call used as a rollback.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ActionCall {
    /// The action to run.
    pub action: String,
    /// The action's parameters.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub with: Option<serde_json::Value>,
    /// Longest one attempt may take.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<DurationText>,
    /// How often to try; rollbacks default to 3 tries, 2s apart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<Retries>,
    #[serde(skip)]
    #[schemars(skip)]
    pub action_span: Span,
    #[serde(skip)]
    #[schemars(skip)]
    pub with_node: Option<Node>,
}
