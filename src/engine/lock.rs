//! `PlaybookLock`: one run of a playbook at a time. An `flock` on a file per
//! playbook name, released by the kernel when the holder dies, so a crash never
//! leaves a stale lock; the file says who holds it for the refusal message.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

pub struct PlaybookLock {
    _file: File,
    /// The host-wide locks (`with_endpoints`), released with the rest.
    _shared: Vec<File>,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("playbook `{name}` is locked by another run: {holder}")]
    Held { name: String, holder: String },
    #[error("`{endpoint}` is in use by another run: {holder}")]
    EndpointHeld { endpoint: String, holder: String },
    #[error("refusing the lock directory: {0}")]
    Untrusted(String),
    #[error("failed to take the lock {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl PlaybookLock {
    /// Takes the lock or says who holds it. `holder` is written into the file.
    pub fn acquire(path: &Path, name: &str, holder: &serde_json::Value) -> Result<Self, LockError> {
        let io = |source| LockError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent() {
            crate::files::create_private_dir(dir).map_err(io)?;
        }
        // 0600 and never through a symlink: a link planted at the lock's name
        // would otherwise make cutover truncate whatever it points to.
        let mut file = crate::files::open_private(path).map_err(io)?;
        // SAFETY: flock on a descriptor we own.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if !locked {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(LockError::Held {
                name: name.to_string(),
                holder: describe_holder(&text),
            });
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        file.write_all(holder.to_string().as_bytes()).map_err(io)?;
        let _ = file.sync_data();
        Ok(Self {
            _file: file,
            _shared: Vec::new(),
        })
    }

    /// Also takes, in `dir` (one directory for the whole host,
    /// `host_lock_dir`), a lock on each of `keys`: the playbook's canonical
    /// path and every endpoint its steps drive. Any one held refuses the run,
    /// naming the endpoint and its holder; the ones taken so far are released.
    pub fn with_endpoints(
        mut self,
        dir: &Path,
        keys: &[String],
        holder: &serde_json::Value,
    ) -> Result<Self, LockError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| LockError::Io { path, source }
        };
        crate::files::create_private_dir(dir).map_err(io(dir))?;
        if let Some(why) = crate::files::untrusted_dir(dir) {
            return Err(LockError::Untrusted(why));
        }
        // In the order given (the playbook first, so a refusal names it);
        // no lock is waited for, so no order can deadlock.
        let mut seen = std::collections::BTreeSet::new();
        for key in keys.iter().filter(|key| seen.insert(key.as_str())) {
            let path = dir.join(lock_file_name(key));
            let mut file = crate::files::open_private(&path).map_err(io(&path))?;
            // SAFETY: flock on a descriptor we own.
            let locked =
                unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
            if !locked {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(LockError::EndpointHeld {
                    endpoint: key.clone(),
                    holder: describe_holder(&text),
                });
            }
            let mut record = holder.clone();
            record["endpoint"] = serde_json::Value::String(key.clone());
            file.set_len(0).map_err(io(&path))?;
            file.rewind().map_err(io(&path))?;
            file.write_all(record.to_string().as_bytes())
                .map_err(io(&path))?;
            self._shared.push(file);
        }
        Ok(self)
    }
}

/// Where host-wide locks live: `$CUTOVER_LOCK_DIR`, else `/run/cutover/locks`
/// for root, else `$XDG_RUNTIME_DIR/cutover/locks`, else
/// `/tmp/cutover-locks-UID`. Per user (each is private to its owner): runs of
/// two different users do not see each other's locks unless both are root.
pub fn host_lock_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CUTOVER_LOCK_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    if uid == 0 {
        return PathBuf::from("/run/cutover/locks");
    }
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("cutover/locks"),
        None => PathBuf::from(format!("/tmp/cutover-locks-{uid}")),
    }
}

/// A readable, bounded file name for a key, made unique by its hash.
fn lock_file_name(key: &str) -> String {
    use sha2::Digest;
    let readable: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    let hash = hex::encode(sha2::Sha256::digest(key.as_bytes()));
    format!("{readable}-{}.lock", &hash[..16])
}

fn describe_holder(text: &str) -> String {
    let Ok(holder) = serde_json::from_str::<serde_json::Value>(text) else {
        return "holder unknown".into();
    };
    let field = |key: &str| {
        holder
            .get(key)
            .and_then(|v| {
                v.as_str()
                    .map(str::to_string)
                    .or_else(|| Some(v.to_string()))
            })
            .unwrap_or_else(|| "?".into())
    };
    format!(
        "run `{}` by {} (pid {} on {}) since {}",
        field("run_id"),
        field("operator"),
        field("pid"),
        field("host"),
        field("since")
    )
}
