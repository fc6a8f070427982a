//! `load`: a playbook's text → spanned tree → `Playbook`, the first phase.

use super::decode::decode;
use super::{parse_yaml, Diagnostics, Playbook, Source};

/// Loads and decodes a playbook. `Err` only when it is not YAML at all; decoding
/// problems come back with the (partial) model, so later checks can still run
/// and report theirs too.
pub fn load(source: &Source) -> Result<(Playbook, Diagnostics), Diagnostics> {
    let mut diagnostics = Diagnostics::default();
    let root = match parse_yaml(source.text()) {
        Ok(root) => root,
        Err(error) => {
            diagnostics.push(error);
            return Err(diagnostics);
        }
    };
    let playbook = decode(&root, &mut diagnostics);
    Ok((playbook, diagnostics))
}
