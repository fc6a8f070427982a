//! `StepContext`: everything the engine lends an action for one attempt —
//! progress reporting, operator input and process registration — so that actions
//! never see the terminal or the journal.

use std::path::Path;

use crate::process::ProcessRecord;

/// A progress report from a running action.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// One line of the action's output.
    Output(String),
    /// Work done so far, for a bar (`unit` is `rows`, `bytes`, `%` …).
    Amount {
        done: u64,
        total: Option<u64>,
        unit: &'static str,
    },
    /// A short status ("waiting for sessions to drain").
    Status(String),
    /// Bytes moved of a total known before the transfer began, for a bar
    /// with a rate and an ETA: `rate` in bytes per second over the last
    /// seconds (None until it can be told), `eta` the time left at it.
    Transfer {
        done: u64,
        total: u64,
        rate: Option<u64>,
        eta: Option<std::time::Duration>,
    },
}

/// An operator's answer to a gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub operator: String,
    /// How it was given: `prompt`, `--approve`.
    pub how: String,
}

/// Questions only an operator can answer; the CLI asks on a terminal or reads
/// flags, tests answer directly.
pub trait Input {
    /// Asks to approve a gate; `Err` carries why not (declined, no terminal).
    /// A future, so a step timeout or Ctrl-C still works while the prompt waits.
    fn approve<'a>(&'a self, step: &'a str, text: &'a str) -> ApprovalFuture<'a>;
    /// Asks an operator to confirm a checklist item.
    fn confirm<'a>(&'a self, item: &'a str, text: &'a str) -> ApprovalFuture<'a>;
    /// Whether `approve` can get an answer here: an `--approve` flag for the
    /// step, or a terminal to ask on.
    fn can_approve(&self, _step: &str) -> bool {
        true
    }
    /// Approvals of `step` given from elsewhere (`cutover approve`), oldest first.
    fn approvals_given(&self, _step: &str) -> Vec<Approval> {
        Vec::new()
    }
}

/// What `Input::approve` returns.
pub type ApprovalFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Approval, String>> + 'a>>;

/// Lent to an action for one attempt of one step.
pub struct StepContext<'a> {
    pub run_id: &'a str,
    pub step: &'a str,
    pub attempt: u32,
    /// Directory relative paths are resolved against (the playbook's).
    pub base_dir: &'a Path,
    pub input: &'a dyn Input,
    pub progress: &'a dyn Fn(Progress),
    /// Called right after a child process starts, before the action waits on it,
    /// so the journal knows what to settle if cutover dies.
    pub spawned: &'a dyn Fn(&ProcessRecord),
    /// Journals (and syncs) a note of what the action is about to create or
    /// change; an error means it could not be journaled, and the action must
    /// not go on.
    pub noted: &'a dyn Fn(&serde_json::Value) -> anyhow::Result<()>,
    /// What this step's earlier attempts noted and its last success
    /// returned (an object, empty when nothing was): what an undo undoes.
    pub memory: &'a serde_json::Map<String, serde_json::Value>,
    /// The run's secrets: output is masked with it before it is split or cut
    /// (the engine masks again whatever is reported).
    pub redactor: &'a crate::redact::Redactor,
}

impl StepContext<'_> {
    pub fn report(&self, progress: Progress) {
        (self.progress)(progress);
    }

    /// Notes what is about to be created or changed, before doing it: the
    /// undo of this step finds it in `recall`, even after a crash.
    pub fn note(&self, note: serde_json::Value) -> anyhow::Result<()> {
        (self.noted)(&note)
    }

    /// A value this step noted (or returned) earlier, if any.
    pub fn recall(&self, key: &str) -> Option<&serde_json::Value> {
        self.memory.get(key)
    }
}
