//! `StateDir` and `RunDir`: where runs, their journals and the locks live.
//!
//! ```text
//! STATE_DIR/runs/RUN_ID/journal.jsonl   the events
//! STATE_DIR/runs/RUN_ID/playbook.yaml   the exact playbook text that ran
//! STATE_DIR/runs/RUN_ID/head            seq and hash of the last line, at each stop
//! STATE_DIR/locks/NAME.lock             one per playbook name
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The default: `.cutover/` beside the playbook.
    pub fn beside(playbook: &Path) -> Self {
        let dir = playbook
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Self::new(dir.join(".cutover"))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn runs(&self) -> PathBuf {
        self.root.join("runs")
    }

    pub fn lock_path(&self, playbook_name: &str) -> PathBuf {
        self.root
            .join("locks")
            .join(format!("{playbook_name}.lock"))
    }

    pub fn run(&self, id: &str) -> RunDir {
        RunDir {
            id: id.to_string(),
            path: self.runs().join(id),
        }
    }

    /// Every run id, oldest first: by the time in its first journal line (two
    /// runs started in the same second have ids that sort by chance).
    pub fn run_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(self.runs())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|entry| entry.path().join("journal.jsonl").is_file())
            .filter_map(|entry| entry.file_name().into_string().ok())
            .collect();
        ids.sort_by_cached_key(|id| (self.started(id), id.clone()));
        ids
    }

    /// The `ts` of a run's first journal line (RFC 3339 UTC sorts as text).
    fn started(&self, id: &str) -> String {
        use std::io::BufRead;
        std::fs::File::open(self.run(id).journal())
            .ok()
            .and_then(|file| std::io::BufReader::new(file).lines().next()?.ok())
            .and_then(|line| {
                Some(
                    line.split("\"ts\":\"")
                        .nth(1)?
                        .split('"')
                        .next()?
                        .to_string(),
                )
            })
            .unwrap_or_default()
    }

    /// Finds a run by id or unique prefix.
    pub fn find_run(&self, id: &str) -> anyhow::Result<RunDir> {
        let ids = self.run_ids();
        if ids.iter().any(|known| known == id) {
            return Ok(self.run(id));
        }
        let matches: Vec<&String> = ids
            .iter()
            .filter(|known| known.starts_with(id) || known.ends_with(id))
            .collect();
        match matches.as_slice() {
            [one] => Ok(self.run(one)),
            [] => bail!(
                "no run `{id}` in {}\nhint: `cutover audit list --state-dir {}` lists the runs",
                self.runs().display(),
                self.root.display()
            ),
            many => bail!(
                "`{id}` matches {} runs ({}); give more of the id",
                many.len(),
                many.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunDir {
    pub id: String,
    pub path: PathBuf,
}

impl RunDir {
    pub fn journal(&self) -> PathBuf {
        self.path.join("journal.jsonl")
    }

    pub fn playbook(&self) -> PathBuf {
        self.path.join("playbook.yaml")
    }

    /// The `--vars` file a run was started with, if any.
    pub fn vars(&self) -> PathBuf {
        self.path.join("vars.yaml")
    }

    pub fn head(&self) -> PathBuf {
        self.path.join("head")
    }

    /// The head's signature (`--sign-key`), beside it.
    pub fn head_signature(&self) -> PathBuf {
        super::writer::signature_path(&self.head())
    }

    /// Creates the run's directory, and any missing parent, private (0700).
    pub fn create(&self) -> anyhow::Result<()> {
        crate::files::create_private_dir(&self.path)
            .with_context(|| format!("failed to create {}", self.path.display()))
    }
}

/// A new run id: UTC start time (so ids sort chronologically) and 4 random hex
/// digits (so two runs in the same second differ).
pub fn new_run_id() -> String {
    let now = jiff::Timestamp::now();
    let mut random = [0u8; 2];
    if let Ok(mut urandom) = std::fs::File::open("/dev/urandom") {
        let _ = urandom.read_exact(&mut random);
    }
    format!("{}-{}", now.strftime("%Y%m%d-%H%M%S"), hex::encode(random))
}
