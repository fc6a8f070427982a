//! `PlaybookLock`: one run of a playbook at a time. An `flock` on a file per
//! playbook name, released by the kernel when the holder dies, so a crash never
//! leaves a stale lock; the file says who holds it for the refusal message.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

pub struct PlaybookLock {
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("playbook `{name}` is locked by another run: {holder}")]
    Held { name: String, holder: String },
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
        Ok(Self { _file: file })
    }
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
