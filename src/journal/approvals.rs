//! Approvals given from outside the run (`cutover approve RUN STEP --operator
//! NAME`, from any shell on the host): one file per operator under the run's
//! directory, created exclusively, so the same name counts once. The run's
//! `approve` step reads them and journals each one it counts — the journal
//! stays written by the run alone.

use std::io;
use std::path::PathBuf;

use super::RunDir;

/// One approval given from outside.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Given {
    pub operator: String,
    pub host: String,
    /// RFC 3339, UTC.
    pub at: String,
}

fn dir(run: &RunDir, step: &str) -> PathBuf {
    run.path.join("approvals").join(step)
}

/// A file name for any operator name: its bytes in hex.
fn file_name(operator: &str) -> String {
    operator.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Records `operator`'s approval of `step`; `Ok(false)` when that operator
/// had approved it already.
pub fn give(run: &RunDir, step: &str, given: &Given) -> io::Result<bool> {
    let dir = dir(run, step);
    crate::files::create_private_dir(&dir)?;
    let text = serde_json::to_vec(given).map_err(io::Error::other)?;
    crate::files::create_new(&dir.join(file_name(&given.operator)), &text, 0o600)
        .map_err(io::Error::other)
}

/// The approvals of `step` given so far, oldest first.
pub fn given(run: &RunDir, step: &str) -> Vec<Given> {
    let mut all: Vec<Given> = std::fs::read_dir(dir(run, step))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| crate::files::read_regular(&entry.path()).ok())
        .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
        .collect();
    all.sort_by(|a, b| a.at.cmp(&b.at));
    all
}
