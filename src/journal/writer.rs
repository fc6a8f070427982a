//! `Writer`: appends records to a run's journal, each fsynced before the caller
//! goes on, so the journal never claims less than what happened.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::record::{split_line, GENESIS};
use super::{Event, Record, Signer};

pub struct Writer {
    path: PathBuf,
    file: File,
    seq: u64,
    prev_hash: String,
    /// `--sign-key`: every head written is signed too (`head.sig`).
    signer: Option<Signer>,
    /// `--state postgres://…`: every line and head go to the store first.
    mirror: Option<Box<dyn Mirror>>,
}

/// Where a journal is copied as it is written: the shared state store. A
/// line is written locally only after the mirror took it, so the mirror is
/// never behind what the run acted on.
pub trait Mirror {
    fn append(&mut self, seq: u64, line: &str) -> anyhow::Result<()>;
    /// The head (`SEQ HASH\n`) and its signature, at each stop.
    fn head(&mut self, head: &str, signature: Option<&str>) -> anyhow::Result<()>;
    /// How the next command names where the run lives (`--state …`).
    fn resume_hint(&self) -> String;
}

impl Writer {
    /// Starts a new journal; refuses to overwrite one.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let file = crate::files::create_private(path)
            .with_context(|| format!("failed to create journal {}", path.display()))?;
        sync_dir(path);
        Ok(Self {
            path: path.to_path_buf(),
            file,
            seq: 0,
            prev_hash: GENESIS.to_string(),
            signer: None,
            mirror: None,
        })
    }

    /// Continues an existing journal after a stop. A last line cut short by a
    /// crash (no newline: its fsync never returned, so nothing it announced
    /// went on) is moved aside to `journal.jsonl.partial` and the chain goes on
    /// from the last whole line. Anything else that does not verify is refused.
    pub fn append_to(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read journal {}", path.display()))?;
        let verification = super::verify(path)?;
        let (whole, partial) = match text.rfind('\n') {
            Some(end) if end + 1 < text.len() => (&text[..=end], Some(&text[end + 1..])),
            Some(_) => (text.as_str(), None),
            None => ("", Some(text.as_str()).filter(|t| !t.is_empty())),
        };
        if let Some(problem) = &verification.problem {
            if !(partial.is_some() && problem.line == verification.lines + 1) {
                bail!(
                    "journal {} does not verify (line {}: {}); refusing to continue it\nhint: `cutover audit verify` shows the details",
                    path.display(),
                    problem.line,
                    problem.reason
                );
            }
        }
        if let Some(partial) = partial {
            let aside = path.with_extension("jsonl.partial");
            crate::files::replace(
                &aside,
                partial.as_bytes(),
                crate::files::Keep::Private { mode: 0o600 },
            )
            .with_context(|| format!("failed to write {}", aside.display()))?;
            let file = OpenOptions::new().write(true).open(path)?;
            file.set_len(whole.len() as u64)?;
            file.sync_all()?;
        }
        let (seq, prev_hash) = match whole.lines().last() {
            Some(line) => {
                let (body, hash) = split_line(line).context("last journal line has no hash")?;
                let record: Record =
                    serde_json::from_str(&body).context("last journal line is not a record")?;
                (record.seq, hash.to_string())
            }
            None => (0, GENESIS.to_string()),
        };
        let file = OpenOptions::new()
            .append(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            seq,
            prev_hash,
            signer: None,
            mirror: None,
        })
    }

    /// Appends one event; returns the record written.
    ///
    /// Every record is written at once (a `write` survives kill -9 of this
    /// process), and synced to disk before any event that announces a side
    /// effect or a stop goes out (`Event::is_barrier`): what a power loss can
    /// take is then only records whose consequences never began. One fsync per
    /// step instead of three.
    pub fn append(&mut self, event: Event) -> anyhow::Result<Record> {
        let barrier = event.is_barrier();
        let record = Record {
            seq: self.seq + 1,
            ts: jiff::Timestamp::now()
                .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string(),
            step: event.step().map(str::to_string),
            event,
        };
        let (line, hash) = record.to_line(&self.prev_hash);
        if let Some(mirror) = &mut self.mirror {
            mirror.append(record.seq, &line)?;
        }
        let mut bytes = line.into_bytes();
        bytes.push(b'\n');
        self.file
            .write_all(&bytes)
            .and_then(|()| {
                if barrier {
                    self.file.sync_data()
                } else {
                    Ok(())
                }
            })
            .with_context(|| format!("failed to write journal {}", self.path.display()))?;
        self.seq = record.seq;
        self.prev_hash = hash;
        Ok(record)
    }

    /// The hash of the last line written (the chain's end so far).
    pub fn last_hash(&self) -> &str {
        &self.prev_hash
    }

    /// Makes every record written so far durable.
    pub fn sync(&mut self) -> anyhow::Result<()> {
        self.file
            .sync_data()
            .with_context(|| format!("failed to sync journal {}", self.path.display()))
    }

    /// Signs every head written from now on (`run`/`resume`/`rollback
    /// --sign-key`).
    pub fn sign_with(&mut self, signer: Signer) {
        self.signer = Some(signer);
    }

    /// Copies every line and head from now on to `mirror` (the state store).
    pub fn mirror_to(&mut self, mirror: Box<dyn Mirror>) {
        self.mirror = Some(mirror);
    }

    /// How the next command names the run's state, when it is not the local
    /// directory (`--state …`).
    pub fn resume_hint(&self) -> Option<String> {
        self.mirror.as_ref().map(|m| m.resume_hint())
    }

    /// Records where the chain ends, so `audit verify` can tell a journal cut
    /// short after the fact from one that simply stopped.
    ///
    /// With a signer, `head.sig` is written right after, each time: the head
    /// is rewritten after `run_finished` and again after the webhook results,
    /// and signing every write keeps the signature matching whichever head a
    /// stop leaves (signing only at the end would leave a stale one if the
    /// process died between the two). Were it to die between the head and
    /// its signature, `audit verify --pubkey` says the signature does not
    /// match: never a false pass.
    pub fn write_head(&mut self, head_path: &Path) -> anyhow::Result<()> {
        let head = format!("{} {}\n", self.seq, self.prev_hash);
        let run_id = head_path
            .parent()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let signature = self.signer.as_ref().map(|s| s.sign(run_id, &head));
        if let Some(mirror) = &mut self.mirror {
            mirror.head(&head, signature.as_deref())?;
        }
        let private = crate::files::Keep::Private { mode: 0o600 };
        crate::files::replace(head_path, head.as_bytes(), private)?;
        if let Some(signature) = signature {
            crate::files::replace(&signature_path(head_path), signature.as_bytes(), private)
                .context("failed to write the head's signature")?;
        }
        Ok(())
    }
}

/// `head.sig`, beside the head.
pub fn signature_path(head_path: &Path) -> PathBuf {
    head_path.with_file_name("head.sig")
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
    }
}
