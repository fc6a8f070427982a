//! The working copy: with `--state postgres://…` the store holds the truth,
//! and each command first brings a local state directory up to date from it
//! — journals, playbook copies, vars, heads — so `audit`,
//! `status`, `resume` and the estimates read it as they read any state
//! directory. A run's local journal is rewritten whenever it differs from the
//! store's rows (a crash between the store and the file leaves it behind;
//! an edit of the file is undone).

use std::path::Path;

use anyhow::Context;

use super::{Store, StoredRun};
use crate::files::Keep;
use crate::journal::StateDir;

/// How much to bring down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pull {
    /// Journals whose line count or last line differ.
    Changed,
    /// Every journal rewritten from its rows (`audit verify`: check the rows,
    /// not a file that happens to match their count).
    Everything,
}

impl Store {
    /// Brings `dir` up to date with the store; returns the runs' rows it read
    /// (their heartbeats are what `status` needs besides the journals).
    pub fn pull(&self, dir: &StateDir, how: Pull) -> anyhow::Result<Vec<StoredRun>> {
        crate::files::create_private_dir(&dir.runs())
            .with_context(|| format!("failed to create {}", dir.runs().display()))?;
        let private = Keep::Private { mode: 0o600 };
        let write = |path: &Path, text: &str| -> anyhow::Result<()> {
            if std::fs::read_to_string(path).ok().as_deref() == Some(text) {
                return Ok(());
            }
            crate::files::replace(path, text.as_bytes(), private)
                .with_context(|| format!("failed to write {}", path.display()))
        };
        let runs = self.runs()?;
        // A run whose first line never made it did not start: nothing to show or resume.
        for run in runs.iter().filter(|run| run.lines > 0) {
            let local = dir.run(&run.id);
            local.create()?;
            write(&local.playbook(), &run.playbook)?;
            if let Some(vars) = &run.vars {
                write(&local.vars(), vars)?;
            }
            let current = std::fs::read_to_string(local.journal()).unwrap_or_default();
            let same = how == Pull::Changed
                && current.lines().count() as i64 == run.lines
                && current.lines().last() == run.last_line.as_deref()
                && current.ends_with('\n');
            if !same {
                let mut text = self.lines(&run.id)?.join("\n");
                if !text.is_empty() {
                    text.push('\n');
                }
                write(&local.journal(), &text)?;
            }
            match &run.head {
                Some(head) => write(&local.head(), head)?,
                None => {
                    let _ = std::fs::remove_file(local.head());
                }
            }
            match &run.head_signature {
                Some(signature) => write(&local.head_signature(), signature)?,
                None => {
                    let _ = std::fs::remove_file(local.head_signature());
                }
            }
        }
        Ok(runs)
    }
}
