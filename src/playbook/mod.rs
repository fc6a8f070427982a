//! The playbook as text: loading YAML into a spanned tree, decoding it into the
//! model, and the diagnostics that point back into the file.

mod decode;
mod decode_guardrails;
mod diagnostic;
mod model;
mod node;
mod source;
mod suggest;
pub mod template;

pub use decode::{decode, ROLLBACK_RETRIES, STEP_KEYS, TOP_KEYS};
pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use model::{
    ActionCall, ChecklistItem, Entry, Notify, Playbook, Retries, RollbackSpec, Step, Window,
};
pub use node::{parse as parse_yaml, Node, NodeKind, Span};
pub use source::Source;
pub use suggest::did_you_mean;

/// Loads and decodes a playbook. `Err` only when it is not YAML at all; decoding
/// problems come back with the (partial) model, so later checks can still run
/// and report theirs too.
pub fn load(source: &Source) -> Result<(Playbook, Diagnostics), Diagnostics> {
    let mut diagnostics = Diagnostics::default();
    let root = match node::parse(source.text()) {
        Ok(root) => root,
        Err(error) => {
            diagnostics.push(error);
            return Err(diagnostics);
        }
    };
    let playbook = decode(&root, &mut diagnostics);
    Ok((playbook, diagnostics))
}
