//! The journal's writer, mirrored: every line goes to the store first and
//! only then to the local file, so the store — the copy every host reads —
//! never lacks a line the run acted on. A line the store refuses stops the
//! run before what it announces happens.

use super::Store;
use crate::journal::Mirror;

pub struct StoreMirror {
    pub store: Store,
    pub run_id: String,
    /// How the next command names the store (`--state …`), never with a password.
    pub hint: String,
}

impl Mirror for StoreMirror {
    fn append(&mut self, seq: u64, line: &str) -> anyhow::Result<()> {
        self.store.append_line(&self.run_id, seq, line)
    }

    fn head(&mut self, head: &str, signature: Option<&str>) -> anyhow::Result<()> {
        self.store.set_head(&self.run_id, head, signature)
    }

    fn resume_hint(&self) -> String {
        self.hint.clone()
    }
}
