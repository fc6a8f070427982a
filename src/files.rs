//! Files cutover writes beside files that matter (an nginx upstream, a
//! maintenance flag, its own state): written whole or not at all, never
//! through a planted symlink, never under a name someone else could guess
//! and prepare. A new file is created with `O_CREAT | O_EXCL | O_NOFOLLOW`
//! under a random name in the target's directory, synced, then renamed over
//! the target; the directory is synced so the rename survives a power cut.
//! A file that must not exist yet is made unnamed (`O_TMPFILE`) and linked
//! into place, so no kill -9 can leave a temporary behind; a temporary an
//! earlier, killed writer left (a minute old, of our exact naming) is swept
//! by the next write beside it.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// How a replaced file's owner and mode are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The file's own owner, group and mode when it exists (a config file
    /// nginx reads); `mode` for a new one.
    Existing { mode: u32 },
    /// Always `mode`, owned by whoever runs cutover (its private state).
    Private { mode: u32 },
}

/// Why a file was not written.
#[derive(Debug)]
pub enum WriteError {
    /// The target is a symbolic link: writing would change the file it points
    /// to, which may be anything root can write.
    Symlink(PathBuf),
    Io(PathBuf, io::Error),
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Symlink(path) => write!(
                f,
                "{} is a symbolic link: refusing to write through it (hint: name the file it points to)",
                path.display()
            ),
            WriteError::Io(path, error) => write!(f, "cannot write {}: {error}", path.display()),
        }
    }
}

impl std::error::Error for WriteError {}

/// Replaces `path` with `contents` atomically. A symlink at `path` is refused.
pub fn replace(path: &Path, contents: &[u8], keep: Keep) -> Result<(), WriteError> {
    let io = |e: io::Error| WriteError::Io(path.to_path_buf(), e);
    let existing = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(WriteError::Symlink(path.to_path_buf()))
        }
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(e)),
    };
    let dir = parent(path);
    sweep_stale_temporaries(dir, path);
    let (tmp_path, mut tmp) = create_temporary(dir, path).map_err(io)?;
    let cleanup = TempGuard(Some(tmp_path.clone()));
    let mode = match (keep, &existing) {
        (Keep::Existing { .. }, Some(meta)) => meta.mode() & 0o7777,
        (Keep::Existing { mode } | Keep::Private { mode }, _) => mode,
    };
    tmp.write_all(contents).map_err(io)?;
    // The mode is set after creation: the umask must not loosen or tighten it.
    tmp.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(io)?;
    if let (Keep::Existing { .. }, Some(meta)) = (keep, &existing) {
        // Only root can give a file away; anyone else keeps their own.
        let _ = std::os::unix::fs::fchown(&tmp, Some(meta.uid()), Some(meta.gid()));
    }
    tmp.sync_all().map_err(io)?;
    drop(tmp);
    std::fs::rename(&tmp_path, path).map_err(io)?;
    cleanup.disarm();
    sync_dir(dir).map_err(io)
}

/// Creates `path` with `contents` only if nothing (not even a dangling
/// symlink) is there yet; `Ok(false)` when something is.
pub fn create_new(path: &Path, contents: &[u8], mode: u32) -> Result<bool, WriteError> {
    let io = |e: io::Error| WriteError::Io(path.to_path_buf(), e);
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(WriteError::Symlink(path.to_path_buf()))
        }
        Ok(_) => return Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let dir = parent(path);
    sweep_stale_temporaries(dir, path);
    // An unnamed file linked into place at once: a kill -9 at any moment
    // leaves either nothing or the whole file, never a temporary name.
    if let Ok(mut unnamed) = create_unnamed(dir) {
        unnamed.write_all(contents).map_err(io)?;
        unnamed
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(io)?;
        unnamed.sync_all().map_err(io)?;
        match link_unnamed(&unnamed, path) {
            Ok(()) => {
                sync_dir(dir).map_err(io)?;
                return Ok(true);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
            // No /proc to link through: the named way below.
            Err(_) => {}
        }
    }
    let (tmp_path, mut tmp) = create_temporary(dir, path).map_err(io)?;
    let cleanup = TempGuard(Some(tmp_path.clone()));
    tmp.write_all(contents).map_err(io)?;
    tmp.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(io)?;
    tmp.sync_all().map_err(io)?;
    drop(tmp);
    // A hard link fails if the name was taken meanwhile: no race, no overwrite.
    match std::fs::hard_link(&tmp_path, path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(io(e)),
    }
    drop(cleanup);
    sync_dir(dir).map_err(io)?;
    Ok(true)
}

/// Reads a file that must not be a symlink (a backup cutover wrote itself).
pub fn read_regular(path: &Path) -> io::Result<Vec<u8>> {
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    let mut contents = Vec::new();
    file.read_to_end(&mut contents)?;
    Ok(contents)
}

/// Removes a file; a symlink is removed itself, never what it points to.
pub fn remove(path: &Path) -> io::Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Creates `dir` and any missing parents as 0700 (the umask cannot loosen
/// it), and makes `dir` itself 0700 if it was already there and is ours:
/// cutover's private state (journals, copies of the inputs, locks).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let meta = std::fs::symlink_metadata(dir)?;
    if meta.file_type().is_symlink() {
        return Err(io::Error::other(format!(
            "{} is a symbolic link, not a directory",
            dir.display()
        )));
    }
    // SAFETY: geteuid has no preconditions.
    if meta.uid() == unsafe { libc::geteuid() } && meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Why a directory holding cutover's state cannot be trusted: writable by
/// others than its owner (who could then replace a journal or plant a
/// symlink), or owned by someone other than this user or root. `None` when it
/// is fine or absent.
pub fn untrusted_dir(dir: &Path) -> Option<String> {
    let meta = std::fs::metadata(dir).ok()?;
    let mode = meta.mode();
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if mode & 0o022 != 0 {
        let who = if mode & 0o002 != 0 {
            "every user"
        } else {
            "its group"
        };
        return Some(format!(
            "{} is writable by {who} (mode {:o}): anyone there could rewrite a journal or plant a link (hint: `chmod go-w {}`)",
            dir.display(),
            mode & 0o7777,
            dir.display()
        ));
    }
    if meta.uid() != me && meta.uid() != 0 {
        return Some(format!(
            "{} belongs to uid {}, not to this user (uid {me}) or root: its owner could rewrite what it holds",
            dir.display(),
            meta.uid()
        ));
    }
    None
}

/// Opens (creating it 0600 if needed) a file of cutover's private state for
/// reading and writing, never through a symlink.
pub fn open_private(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    let meta = file.metadata()?;
    // SAFETY: geteuid has no preconditions.
    if meta.uid() == unsafe { libc::geteuid() } && meta.mode() & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// Creates a new private file (0600, whatever the umask): fails if anything,
/// a symlink included, is already at `path`.
pub fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// An unnamed regular file in `dir` (`O_TMPFILE`), invisible until linked.
fn create_unnamed(dir: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
        .mode(0o600)
        .open(dir)
}

/// Gives an unnamed file its name; fails if the name is taken (a symlink
/// included: `linkat` never follows the new name).
fn link_unnamed(file: &File, path: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::io::AsRawFd;
    let from = std::ffi::CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
    let to = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: both are NUL-terminated paths that outlive the call.
    let rc = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// How old a temporary of ours must be before it counts as left over: a
/// write under way never takes this long between its open and its rename.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// Removes `.NAME.RANDOM.tmp` files (ours, by their exact shape) that an
/// earlier process killed between its open and its rename left in `dir`.
fn sweep_stale_temporaries(dir: &Path, target: &Path) {
    let Some(name) = target.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if !is_temporary_of(&file_name, &name) {
            continue;
        }
        let stale = std::fs::symlink_metadata(entry.path()).is_ok_and(|meta| {
            meta.file_type().is_file()
                && meta
                    .modified()
                    .ok()
                    .and_then(|at| at.elapsed().ok())
                    .is_some_and(|age| age >= STALE_AFTER)
        });
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// `.NAME.` + 16 hex digits + `.tmp`: the names `create_temporary` makes.
fn is_temporary_of(file_name: &str, name: &str) -> bool {
    file_name
        .strip_prefix('.')
        .and_then(|rest| rest.strip_prefix(name))
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_suffix(".tmp"))
        .is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `.NAME.RANDOM.tmp` in `dir`, created exclusively (a name already there,
/// or a symlink planted under it, fails the open instead of being followed).
fn create_temporary(dir: &Path, target: &Path) -> io::Result<(PathBuf, File)> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for _ in 0..8 {
        let candidate = dir.join(format!(".{name}.{}.tmp", random_suffix()?));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .mode(0o600)
            .open(&candidate)
        {
            Ok(file) => return Ok((candidate, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free temporary name after 8 tries",
    ))
}

/// 16 hex digits from the kernel's random source.
fn random_suffix() -> io::Result<String> {
    let mut bytes = [0u8; 8];
    File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Removes the temporary file unless it was renamed into place.
struct TempGuard(Option<PathBuf>);

impl TempGuard {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_a_killed_writer_left_is_swept_and_a_fresh_one_kept() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(".maintenance.on.0123456789abcdef.tmp");
        let fresh = dir.path().join(".maintenance.on.fedcba9876543210.tmp");
        let other = dir.path().join(".maintenance.on.not-ours.tmp");
        for path in [&stale, &fresh, &other] {
            std::fs::write(path, "half").unwrap();
        }
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for path in [&stale, &other] {
            File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        assert!(create_new(&dir.path().join("maintenance.on"), b"on", 0o644).unwrap());
        assert!(!stale.exists(), "the stale temporary is still there");
        assert!(fresh.exists(), "a write under way lost its temporary");
        assert!(other.exists(), "a file not of our making was removed");
        // The new file went in without a temporary name of its own.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
        replace(
            &dir.path().join("maintenance.on"),
            b"on",
            Keep::Private { mode: 0o644 },
        )
        .unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    }

    #[test]
    fn a_planted_symlink_is_refused_and_its_victim_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let link = dir.path().join("upstream.conf");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let error = replace(&link, b"owned", Keep::Existing { mode: 0o644 }).unwrap_err();
        assert!(matches!(error, WriteError::Symlink(_)), "{error}");
        assert!(!create_new(&link, b"owned", 0o600).is_ok_and(|created| created));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(read_regular(&link).is_err());
        // Nothing was left behind: only the victim and the link.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_replaced_file_keeps_its_mode_and_a_private_one_gets_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.conf");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        replace(&path, b"new", Keep::Existing { mode: 0o644 }).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let mode = std::fs::metadata(&path).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o640);
        let state = dir.path().join("state");
        replace(&state, b"x", Keep::Private { mode: 0o600 }).unwrap();
        assert_eq!(std::fs::metadata(&state).unwrap().mode() & 0o7777, 0o600);
        assert!(create_new(&dir.path().join("once"), b"1", 0o600).unwrap());
        assert!(!create_new(&dir.path().join("once"), b"2", 0o600).unwrap());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("once")).unwrap(),
            "1"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    }
}
