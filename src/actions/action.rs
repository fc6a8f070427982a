//! `Action`: the one interface between the engine and what a step does, and
//! `Descriptor`: how a playbook names an action and turns its `with` into one.
//! Both live in the action's own file; the registry only lists descriptors.

use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::shared::moved::Moved;
use super::{ActionFailure, Applied, StepContext};

/// A decoded action call, shared by the plan's clones.
pub type ActionRef = Arc<dyn Action>;

/// What a step does. The futures are not `Send`: the engine drives one step at
/// a time on its own task, and a boxed future keeps the trait object-safe.
#[async_trait::async_trait(?Send)]
pub trait Action: std::fmt::Debug {
    /// The descriptor declared beside the action: its name, summary, decoder, schema.
    fn descriptor(&self) -> &'static Descriptor;

    /// The name a playbook uses for this action.
    fn name(&self) -> &'static str {
        self.descriptor().name
    }

    /// One imperative line, used by `plan`, the progress display and the journal.
    fn describe(&self) -> String;

    /// What the step drives, as lock keys (`actions::shared::endpoint`): a
    /// database, a proxy's admin socket, a file, an AWS resource. The run
    /// holds a host-wide lock on each, so a second cutover aimed at the same
    /// database (through a copy of the playbook, a symlink, another state
    /// directory) is refused. None by default.
    fn endpoints(&self) -> Vec<String> {
        Vec::new()
    }

    /// Starting this step stops the application's writes (a freeze, a
    /// PgBouncer pause, maintenance on): the downtime budget's clock starts
    /// with the first such step. False by default.
    fn stops_writes(&self) -> bool {
        false
    }

    /// Past the point of no return, this step failing runs the playbook's
    /// `go_back:` instead of stopping for an operator (a `watch` with
    /// `on_breach: go_back`). False by default.
    fn goes_back_on_failure(&self) -> bool {
        false
    }

    /// For the `approve` gate: how many different operators must approve,
    /// and whose approvals count. None for every other action.
    fn gate(&self) -> Option<Gate> {
        None
    }

    /// Read-only checks before `apply`; a failure here changed nothing, so the
    /// failed step itself needs no undo. Most actions check as they connect:
    /// a separate preflight would open every connection twice.
    async fn preflight(&self, _cx: &StepContext<'_>) -> Result<(), ActionFailure> {
        Ok(())
    }

    /// What `apply` would read from its source now (`shared::moved`), asked
    /// by `plan --measure` and by `run` before its window check to scale a
    /// rehearsed rate to today's data. It connects read-only and changes
    /// nothing. None (the default): the action moves no data, or cannot tell.
    async fn measure(&self) -> Option<anyhow::Result<Moved>> {
        None
    }

    /// Does the work; returns what the journal, a rollback and a resume need.
    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure>;

    /// The natural inverse, used as the rollback when a step gives none.
    fn inverse(&self) -> Option<ActionRef> {
        None
    }

    /// Safe to run again after a crash left its outcome unknown. Required, so
    /// every action decides it beside its reason.
    fn idempotent(&self) -> bool;

    /// A failure (an error, a timeout, a signal, a crash) can leave part of
    /// the change applied (servers half swapped, a slot made but no
    /// subscription), and the inverse undoes any part of it safely: the engine
    /// then undoes the failed step itself too, as far as it got. Required, so
    /// every action with side effects answers it beside its reason; one whose
    /// partial work cannot be undone says so on its doc page.
    fn undoes_partial_failure(&self) -> bool;
}

/// What an `approve` gate needs before the run goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gate {
    pub approvers: u32,
    /// Only these operators' approvals count (empty: anyone's).
    pub from: Vec<String>,
}

/// How a playbook names an action and how its `with` becomes the action.
pub struct Descriptor {
    /// `family.verb`, or one word for the built-ins (`shell`, `wait`, `approve`).
    pub name: &'static str,
    /// One line for `cutover schema` and the docs' action list.
    pub summary: &'static str,
    /// The module that declares it (`module_path!()`); a unit test checks it
    /// matches the name, so `postgres.copy` is always `actions/postgres/copy.rs`.
    pub module: &'static str,
    pub decode: fn(serde_json::Value) -> Result<ActionRef, ParamsError>,
    pub schema: fn(&mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema,
}

/// Declares an action's descriptor in its own file:
/// `pub static DESCRIPTOR: Descriptor = descriptor!("family.verb", Params, "one line");`
macro_rules! descriptor {
    ($name:literal, $params:ty, $summary:expr) => {
        $crate::actions::Descriptor {
            name: $name,
            summary: $summary,
            module: module_path!(),
            decode: $crate::actions::decode_action::<$params>,
            schema: |generator| generator.subschema_for::<$params>(),
        }
    };
}
pub(crate) use descriptor;

/// A parameter error with the path inside `with` where it was found.
#[derive(Debug)]
pub struct ParamsError {
    pub path: Vec<String>,
    pub message: String,
}

/// Decodes `with` into the parameters of `T`, which is the action.
pub fn decode_action<T>(value: serde_json::Value) -> Result<ActionRef, ParamsError>
where
    T: DeserializeOwned + Action + 'static,
{
    decode_params::<T>(value).map(|action| Arc::new(action) as ActionRef)
}

/// Decodes a value with the path of the first error, for its position in the playbook.
pub fn decode_params<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ParamsError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error
            .path()
            .iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                _ => None,
            })
            .collect();
        ParamsError {
            path,
            message: error.into_inner().to_string(),
        }
    })
}
