//! `Freeze<P, D>`: the parameters of an engine's freeze and thaw, which are
//! each other's inverse. One parameter type `P` serves both actions and `D`
//! says which (`Frozen` for `read_only`, `Thawed` for `read_write`), so each
//! builds its inverse as `Freeze<P, Other>` without naming the other's module:
//! the two files do not import each other.

use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, PartialEq)]
pub struct Freeze<P, D> {
    pub params: P,
    direction: PhantomData<D>,
}

/// Writes stopped: `read_only`.
#[derive(Debug, Clone, PartialEq)]
pub enum Frozen {}

/// Writes allowed again: `read_write`.
#[derive(Debug, Clone, PartialEq)]
pub enum Thawed {}

impl<P: Clone, D> Freeze<P, D> {
    pub fn new(params: P) -> Self {
        Self {
            params,
            direction: PhantomData,
        }
    }

    /// The same server and fields, the other way.
    pub fn reversed<E>(&self) -> Freeze<P, E> {
        Freeze::new(self.params.clone())
    }
}

impl<'de, P: Deserialize<'de> + Clone, D> Deserialize<'de> for Freeze<P, D> {
    fn deserialize<De: Deserializer<'de>>(deserializer: De) -> Result<Self, De::Error> {
        P::deserialize(deserializer).map(Freeze::new)
    }
}

impl<P: JsonSchema, D> JsonSchema for Freeze<P, D> {
    fn schema_name() -> String {
        P::schema_name()
    }

    fn json_schema(generator: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        P::json_schema(generator)
    }
}

/// The note a freeze writes as it goes: `pending` before it connects, `began`
/// before its first change. The thaw that undoes a failed freeze reads it: a
/// freeze that never got to change anything (a refused login, a server that
/// was down) has nothing to thaw, and a thaw failing the same way must not
/// leave the run needing an operator.
const NOTE_FREEZE: &str = "freeze";

/// Before connecting.
pub fn note_pending(cx: &crate::actions::StepContext<'_>) -> anyhow::Result<()> {
    cx.note(serde_json::json!({ NOTE_FREEZE: "pending" }))
}

/// Before the first change.
pub fn note_began(cx: &crate::actions::StepContext<'_>) -> anyhow::Result<()> {
    cx.note(serde_json::json!({ NOTE_FREEZE: "began" }))
}

/// True when this thaw undoes a freeze that changed nothing. A thaw step of
/// its own (no freeze notes) always thaws.
pub fn nothing_was_frozen(cx: &crate::actions::StepContext<'_>) -> bool {
    cx.recall(NOTE_FREEZE).and_then(|v| v.as_str()) == Some("pending")
}

/// What such a thaw reports and journals.
pub fn nothing_to_thaw(
    cx: &crate::actions::StepContext<'_>,
    server: &str,
) -> crate::actions::Applied {
    cx.report(crate::actions::Progress::Status(format!(
        "nothing to thaw on {server}: the freeze failed before it changed anything"
    )));
    crate::actions::Applied {
        data: serde_json::json!({ "server": server, "thawed": false, "reason": "the freeze changed nothing" }),
        ..crate::actions::Applied::default()
    }
}
