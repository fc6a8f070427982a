//! The playbook as text: loading YAML into a spanned tree, decoding it into the
//! model, and the diagnostics that point back into the file.

mod call;
mod decode;
mod decode_guardrails;
mod decode_proof;
mod decode_slow;
mod diagnostic;
mod expect;
mod load;
mod model;
mod node;
mod source;
mod span;
mod suggest;
pub mod template;

pub use call::ROLLBACK_RETRIES;
pub use decode::{decode, STEP_KEYS, TOP_KEYS};
pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use load::load;
pub use model::{
    steps_of, ActionCall, Canary, ChecklistItem, Entry, Notify, Playbook, Retries, RollbackSpec,
    Step, Window,
};
pub use node::{parse as parse_yaml, Node, NodeKind};
pub use source::Source;
pub use span::Span;
pub use suggest::did_you_mean;
