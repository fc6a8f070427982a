//! What `run`, `resume` and `rollback` share: the operator's name, the lock,
//! the runtime, the reporter, and turning a run's end into an exit code.

use super::args::ExecArgs;
use super::terminal::{interactive, observer, watch_interrupts, TerminalInput};
use super::{CliError, ExitCode};
use crate::engine::{Finish, Journal, PlaybookLock, RunOptions, Runner};
use crate::journal::{Mode, Outcome};
use crate::plan::Plan;

/// `--operator`, else `$USER` or `$LOGNAME`, else the login name of the uid.
pub fn operator(args: &ExecArgs) -> String {
    args.operator
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .filter(|s| !s.trim().is_empty())
        .or_else(login_name)
        .unwrap_or_else(|| "unknown".into())
}

fn login_name() -> Option<String> {
    // SAFETY: getpwuid returns a pointer into static storage or null; the name
    // is copied out at once and this process is single-threaded here.
    unsafe {
        let entry = libc::getpwuid(libc::getuid());
        if entry.is_null() || (*entry).pw_name.is_null() {
            return None;
        }
        Some(
            std::ffi::CStr::from_ptr((*entry).pw_name)
                .to_string_lossy()
                .into_owned(),
        )
    }
}

pub fn host() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most buffer.len() bytes.
    let ok = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) } == 0;
    let end = buffer.iter().position(|b| *b == 0).unwrap_or(buffer.len());
    if ok {
        String::from_utf8_lossy(&buffer[..end]).into_owned()
    } else {
        "unknown".into()
    }
}

/// Checks `--approve` names approval gates, and refuses (`ExitCode::Refused`) a live run
/// without a terminal whose remaining gates are not approved ahead: better
/// than stopping half-way at a gate nobody can answer. `done` skips the gates
/// a resumed run has already passed.
pub fn check_approvals(
    plan: &Plan,
    exec: &ExecArgs,
    mode: Mode,
    done: &dyn Fn(&str) -> bool,
) -> Result<(), CliError> {
    let is_gate = |step: &str| {
        plan.step(step)
            .is_some_and(|s| s.call.action.gate().is_some())
    };
    // A gate that needs several operators waits for the others' `cutover
    // approve`: no terminal is needed for it.
    let one_operator = |step: &str| {
        plan.step(step)
            .and_then(|s| s.call.action.gate())
            .is_some_and(|gate| gate.approvers == 1)
    };
    if let Some(step) = exec.approve.iter().find(|step| !is_gate(step)) {
        return Err(CliError::new(
            ExitCode::Usage,
            format!("--approve: `{step}` is not an `approve` step of this playbook"),
        ));
    }
    if mode != Mode::Live || super::terminal::interactive() {
        return Ok(());
    }
    let missing: Vec<&str> = plan
        .steps()
        .filter(|s| one_operator(&s.id) && !done(&s.id) && !exec.approve.contains(&s.id))
        .map(|s| s.id.as_str())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(CliError::new(
        ExitCode::Refused,
        format!(
            "the playbook has approval gates and there is no terminal to ask on: {}",
            missing.join(", ")
        ),
    )
    .hint(
        missing
            .iter()
            .map(|s| format!("--approve {s}"))
            .collect::<Vec<_>>()
            .join(" "),
    ))
}

/// Takes the playbook's lock in its state directory, then the host-wide
/// locks on its canonical path (`playbook_path`) and on every endpoint its
/// steps, rollbacks and checks drive, then — with a shared store — the same
/// in the store; or refuses (`ExitCode::Refused`) saying who holds the one it
/// could not take.
pub fn lock(
    place: &super::state::Place,
    plan: &Plan,
    playbook_path: &std::path::Path,
    vars: Option<&str>,
    run_id: &str,
    operator: &str,
) -> Result<PlaybookLock, CliError> {
    let state_dir = &place.dir;
    let holder = serde_json::json!({
        "run_id": run_id,
        "operator": operator,
        "pid": std::process::id(),
        "host": host(),
        "since": jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    });
    let refusal = |error: crate::engine::LockError| {
        match error {
        crate::engine::LockError::Held { .. } | crate::engine::LockError::EndpointHeld { .. } => {
            CliError::new(ExitCode::Refused, plan.redactor.redact(&error.to_string()))
                .hint("wait for that run to finish; the lock is released by itself when its process exits")
        }
        crate::engine::LockError::Untrusted(_) => {
            CliError::new(ExitCode::Refused, error.to_string())
        }
        other => CliError::new(ExitCode::Internal, other.to_string()),
    }
    };
    // With a `--vars` file, the playbook is locked with that file's digest:
    // a wave — one playbook, a vars file per database — runs side by side,
    // the endpoint locks keeping any two off one database.
    let instance = vars.map(|text| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(text.as_bytes()))[..12].to_string()
    });
    let with_vars = |key: String| match &instance {
        Some(digest) => format!("{key} vars:{digest}"),
        None => key,
    };
    let mut keys = vec![with_vars(format!(
        "playbook:{}",
        canonical(playbook_path).display()
    ))];
    keys.extend(endpoints(plan));
    let lock_name = match &instance {
        Some(digest) => format!("{}.vars-{digest}", plan.name),
        None => plan.name.clone(),
    };
    let lock = PlaybookLock::acquire(&state_dir.lock_path(&lock_name), &plan.name, &holder)
        .and_then(|lock| lock.with_endpoints(&crate::engine::host_lock_dir(), &keys, &holder))
        .map_err(refusal)?;
    if let Some(store) = &place.store {
        let playbook = with_vars(format!("playbook:{}", plan.name));
        lock_in_store(store, plan, playbook, &keys, run_id, operator)?;
    }
    Ok(lock)
}

/// The same locks across hosts, as advisory locks in the shared store: the
/// playbook and every endpoint but local files; held by the store's session
/// until this process ends.
fn lock_in_store(
    store: &crate::store::Store,
    plan: &Plan,
    playbook: String,
    keys: &[String],
    run_id: &str,
    operator: &str,
) -> Result<(), CliError> {
    // The playbook by its name: its path differs from host to host.
    let mut shared = vec![playbook];
    shared.extend(
        keys.iter()
            .skip(1)
            .filter(|key| !key.starts_with("file:"))
            .cloned(),
    );
    let host = host();
    let holder = crate::store::Holder {
        run_id,
        operator,
        host: &host,
    };
    if let Err(held) = store.lock(&shared, &holder)? {
        let what = match held.key.strip_prefix("playbook:") {
            Some(name) => match name.split_once(" vars:") {
                Some((name, _)) => {
                    format!("playbook `{name}` with these vars is locked by another run")
                }
                None => format!("playbook `{name}` is locked by another run"),
            },
            None => format!("`{}` is in use by another run", held.key),
        };
        return Err(CliError::new(
            ExitCode::Refused,
            plan.redactor.redact(&format!("{what}: {}", held.holder)),
        )
        .hint("wait for that run to finish; its lock is released by itself when its process or its session with the store ends"));
    }
    Ok(())
}

/// Every endpoint a plan's steps, rollbacks and checklist checks drive, files
/// resolved against the playbook's directory and canonicalized.
fn endpoints(plan: &Plan) -> Vec<String> {
    let calls = plan
        .steps()
        .flat_map(|step| std::iter::once(&step.call).chain(step.rollback.as_ref()))
        .chain(
            plan.checklist
                .iter()
                .filter_map(|check| check.verify.as_ref()),
        );
    calls
        .flat_map(|call| call.action.endpoints())
        .map(|key| match key.strip_prefix("file:") {
            Some(path) => format!("file:{}", canonical(&plan.base_dir.join(path)).display()),
            None => key,
        })
        .collect()
}

/// The path with every symlink resolved; for a file not there yet, its
/// directory's canonical path and its name.
fn canonical(path: &std::path::Path) -> std::path::PathBuf {
    if let Ok(path) = std::fs::canonicalize(path) {
        return path;
    }
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => std::fs::canonicalize(if dir.as_os_str().is_empty() {
            std::path::Path::new(".")
        } else {
            dir
        })
        .map(|dir| dir.join(name))
        .unwrap_or_else(|_| path.to_path_buf()),
        _ => path.to_path_buf(),
    }
}

/// What to do with the runner.
pub enum Start {
    /// A new run of the playbook at `path`.
    Run { path: String },
    /// Continue a stopped run.
    Resume,
    /// Undo back to a checkpoint.
    Rollback {
        checkpoint: Option<String>,
        steps: Vec<String>,
    },
    /// Past the point of no return: the playbook's `go_back:`.
    GoBack,
}

/// The runtime the commands drive actions on: one thread (the actions'
/// futures are not `Send`).
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            CliError::new(
                ExitCode::Internal,
                format!("failed to start the runtime: {e}"),
            )
        })
}

/// Runs a runner wired to the terminal, then reports how it ended.
pub fn execute(
    plan: &Plan,
    options: RunOptions,
    exec: &ExecArgs,
    journal: Journal,
    start: Start,
    store: Option<crate::store::Store>,
) -> Result<ExitCode, CliError> {
    let fix = match &store {
        Some(store) => format!(
            "the journal is the run's state; once the state store {} answers again, `cutover resume {} {}`",
            store.label(),
            journal.run_dir.id,
            super::state::hint(store)
        ),
        None => format!(
            "the journal is the run's state; fix the disk, then `cutover resume {}`",
            journal.run_dir.id
        ),
    };
    let runtime = runtime()?;
    let interactive = interactive();
    let (mut observer, display) = observer(exec.output, plan);
    let input = TerminalInput {
        approvals: exec.approve.clone(),
        operator: options.operator.clone(),
        interactive,
        display,
        run_dir: Some(journal.run_dir.clone()),
        store,
    };
    let run_id = journal.run_dir.id.clone();
    let finish = runtime.block_on(async {
        let interrupt = watch_interrupts(interactive);
        let runner = Runner::new(plan, options, &input, interrupt, journal, observer.as_mut());
        let finish = match start {
            Start::Run { path } => runner.run(&path, &host()).await,
            Start::Resume => runner.resume().await,
            Start::Rollback { checkpoint, steps } => runner.rollback_to(checkpoint, steps).await,
            Start::GoBack => runner.go_back().await,
        };
        let concluded = runner.conclude().await;
        finish.and_then(|finish| concluded.map(|()| finish))
    });
    drop(observer);
    let finish = finish.map_err(|error| {
        CliError::from(error.context(format!(
            "run {run_id} stopped: its journal could not be written"
        )))
        .hint(fix)
    })?;
    Ok(report_finish(&run_id, &finish, plan))
}

fn report_finish(run_id: &str, finish: &Finish, plan: &Plan) -> ExitCode {
    let message = crate::redact::escape_controls(&plan.redactor.redact(&finish.message));
    match finish.outcome {
        Outcome::Done => eprintln!("run {run_id}: done: {message}"),
        Outcome::RolledBack => {
            eprintln!("error: run {run_id} was rolled back: {message}")
        }
        Outcome::NeedsOperator => eprintln!("error: run {run_id} needs an operator: {message}"),
        Outcome::Refused => eprintln!("error: run {run_id} refused: {message}"),
    }
    finish.outcome.into()
}
