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
