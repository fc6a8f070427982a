//! Where a command finds runs: a local state directory, or — with `--state
//! postgres://…` (`CUTOVER_STATE`) — the shared store, with a local working
//! copy brought up to date from it first. And `cutover state init|migrate`.

use std::path::PathBuf;

use super::args::{StateArgs, StateCommand};
use super::{CliError, ExitCode};
use crate::journal::StateDir;
use crate::store::{schema, Pull, Store};

/// The state a command works on.
pub struct Place {
    /// The runs, as files: the state directory, or the store's working copy.
    pub dir: StateDir,
    pub store: Option<Store>,
    /// With a store: its runs' rows as the pull read them.
    pub stored: Vec<crate::store::StoredRun>,
}

/// The place `--state` and `--state-dir` name; without `--state`, `dir` or
/// `default`. With a store, the working copy is `--state-dir` when given,
/// else a private directory per store under `~/.cache/cutover/`.
pub fn open(
    url: Option<&str>,
    dir: Option<PathBuf>,
    default: impl FnOnce() -> StateDir,
    pull: Pull,
) -> Result<Place, CliError> {
    let Some(url) = url.filter(|u| !u.trim().is_empty()) else {
        return Ok(Place {
            dir: dir.map(StateDir::new).unwrap_or_else(default),
            store: None,
            stored: Vec::new(),
        });
    };
    let store = connect(url)?;
    schema::check(&store)?;
    let dir = StateDir::new(dir.unwrap_or_else(|| working_copy(&store)));
    let stored = store.pull(&dir, pull).map_err(unavailable)?;
    Ok(Place {
        dir,
        store: Some(store),
        stored,
    })
}

/// With a store: records a new run's row (`new`), starts its heartbeat and
/// mirrors its journal there; without one, nothing.
pub fn attach(
    place: &Place,
    writer: &mut crate::journal::Writer,
    run_id: &str,
    host: &str,
    new: Option<crate::store::NewRun>,
) -> Result<(), CliError> {
    let Some(store) = &place.store else {
        return Ok(());
    };
    if let Some(run) = new {
        store.create_run(&run).map_err(unavailable)?;
    }
    store.start_heartbeat(run_id, host).map_err(unavailable)?;
    writer.mirror_to(Box::new(crate::store::StoreMirror {
        store: store.clone(),
        run_id: run_id.to_string(),
        hint: hint(store),
    }));
    Ok(())
}

/// Records `operator`'s approval of `step` where the run's gate reads it —
/// the store, else the run's directory; `Ok(false)`: given already.
pub fn give(
    store: Option<&Store>,
    run: &crate::journal::RunDir,
    step: &str,
    given: &crate::journal::approvals::Given,
) -> anyhow::Result<bool> {
    match store {
        Some(store) => store.give(&run.id, step, given),
        None => Ok(crate::journal::approvals::give(run, step, given)?),
    }
}

/// The approvals of `step` given so far, from where `give` leaves them.
pub fn given(
    store: Option<&Store>,
    run: &crate::journal::RunDir,
    step: &str,
) -> anyhow::Result<Vec<crate::journal::approvals::Given>> {
    match store {
        Some(store) => store.given(&run.id, step),
        None => Ok(crate::journal::approvals::given(run, step)),
    }
}

/// `--state` for the next command a message suggests: `$CUTOVER_STATE` when
/// that is where it came from (it may hold a password), else the store
/// without its password.
pub fn hint(store: &Store) -> String {
    if std::env::var_os("CUTOVER_STATE").is_some_and(|v| !v.is_empty()) {
        "--state \"$CUTOVER_STATE\"".into()
    } else {
        format!("--state postgres://{}", store.label())
    }
}

fn connect(url: &str) -> Result<Store, CliError> {
    Store::connect(url).map_err(unavailable)
}

fn unavailable(error: anyhow::Error) -> CliError {
    CliError::from(error).hint(
        "the shared state store must be reachable: runs are journaled there before anything happens",
    )
}

/// `~/.cache/cutover/stores/LABEL-HASH` (`$XDG_CACHE_HOME` first).
fn working_copy(store: &Store) -> PathBuf {
    use sha2::Digest;
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cutover-cache"));
    let label = store.label();
    let readable: String = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(40)
        .collect();
    let hash = hex::encode(sha2::Sha256::digest(label.as_bytes()));
    cache
        .join("cutover/stores")
        .join(format!("{readable}-{}", &hash[..12]))
}

/// `cutover state init` and `cutover state migrate`.
pub fn state(args: StateArgs) -> Result<ExitCode, CliError> {
    let Some(url) = args.store.state.as_deref().filter(|u| !u.trim().is_empty()) else {
        return Err(CliError::new(
            ExitCode::Usage,
            "`cutover state` needs the store: --state postgres://… (or CUTOVER_STATE)",
        ));
    };
    let store = connect(url)?;
    let before = schema::version(&store)?;
    match args.command {
        StateCommand::Init if before != 0 => {
            if before == schema::VERSION {
                eprintln!(
                    "the state store {} is already set up (schema version {before})",
                    store.label()
                );
                return Ok(ExitCode::Done);
            }
            Err(CliError::new(
                ExitCode::Usage,
                format!(
                    "the state store {} is set up already, at schema version {before}",
                    store.label()
                ),
            )
            .hint("`cutover state migrate` brings it up to date"))
        }
        StateCommand::Migrate if before == 0 => Err(CliError::new(
            ExitCode::Usage,
            format!(
                "the state store {} has no cutover schema yet",
                store.label()
            ),
        )
        .hint("`cutover state init` creates it")),
        StateCommand::Migrate if before > schema::VERSION => schema::check(&store)
            .map(|()| ExitCode::Done)
            .map_err(CliError::from),
        StateCommand::Init | StateCommand::Migrate => {
            let (from, to) = schema::migrate(&store)?;
            if from == to {
                eprintln!(
                    "the state store {} is up to date (schema version {to})",
                    store.label()
                );
            } else if from == 0 {
                eprintln!(
                    "the state store {} is set up (schema version {to})",
                    store.label()
                );
            } else {
                eprintln!(
                    "the state store {} migrated from schema version {from} to {to}",
                    store.label()
                );
            }
            Ok(ExitCode::Done)
        }
    }
}
