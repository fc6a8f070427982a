//! `cutover audit`: list runs, show a run's timeline, verify its hash chain.

use std::fmt::Write;

use super::args::{AuditArgs, AuditCommand, Output, ReportFormat};
use super::{CliError, ExitCode};
use crate::duration::format_duration;
use crate::journal::{self, Event, Record, StateDir};
use crate::report::{clock, describe_record};
use crate::report::{html, markdown, RunSummary};

pub fn audit(args: AuditArgs) -> Result<ExitCode, CliError> {
    // `verify` checks the store's own rows: every journal is written again
    // from them, not trusted because the local copy has the same length.
    let pull = match args.command {
        AuditCommand::Verify { .. } => crate::store::Pull::Everything,
        _ => crate::store::Pull::Changed,
    };
    let place = super::state::open(
        args.store.state.as_deref(),
        args.state_dir.clone(),
        || StateDir::new(".cutover"),
        pull,
    )?;
    let state_dir = place.dir;
    match args.command {
        AuditCommand::List {
            output,
            playbook,
            mode,
            outcome,
            since,
        } => {
            let filter = Filter {
                playbook,
                mode,
                outcome,
                since: since.as_deref().map(parse_since).transpose()?,
            };
            list(&state_dir, output, &filter)
        }
        AuditCommand::Show { run_id } => show(&state_dir, &run_id),
        AuditCommand::Verify { run_id, pubkey } => verify(&state_dir, &run_id, pubkey.as_deref()),
        AuditCommand::Report {
            run_id,
            format,
            out,
        } => report(&state_dir, &run_id, format, out),
        AuditCommand::Diff { run_a, run_b } => diff(&state_dir, &run_a, &run_b),
    }
}

/// Refuses (exit 5) a state directory, its `runs/` or a run's directory that
/// others can write to: whoever can write there could have rewritten what
/// `audit` would read and vouch for.
pub(super) fn trusted(dirs: &[&std::path::Path]) -> Result<(), CliError> {
    match dirs.iter().find_map(|dir| crate::files::untrusted_dir(dir)) {
        Some(why) => Err(CliError::new(
            ExitCode::Refused,
            format!("refusing to read an untrusted state directory: {why}"),
        )),
        None => Ok(()),
    }
}

/// A run by id or unique prefix, from a state directory only its owner can write.
fn find_run(state_dir: &StateDir, run_id: &str) -> Result<journal::RunDir, CliError> {
    if run_id.trim().is_empty() {
        // An empty prefix would match every run, and pick the only one.
        return Err(CliError::new(ExitCode::Usage, "the run id is empty")
            .hint("`cutover audit list` lists the runs"));
    }
    trusted(&[state_dir.root(), &state_dir.runs()])?;
    let run = state_dir
        .find_run(run_id)
        .map_err(|e| CliError::new(ExitCode::Usage, e.to_string()))?;
    trusted(&[&run.path])?;
    Ok(run)
}

/// `audit list` filters.
struct Filter {
    playbook: Option<String>,
    mode: Option<String>,
    outcome: Option<String>,
    since: Option<jiff::Timestamp>,
}

impl Filter {
    fn keeps(&self, summary: &Summary) -> bool {
        let same =
            |wanted: &Option<String>, value: &str| wanted.as_deref().is_none_or(|w| value == w);
        same(&self.playbook, &summary.playbook)
            && same(&self.mode, &summary.mode)
            && same(&self.outcome, &summary.outcome)
            && self.since.is_none_or(|since| {
                summary
                    .started
                    .parse::<jiff::Timestamp>()
                    .is_ok_and(|t| t >= since)
            })
    }
}

/// `2026-11-01`, `2026-11-01T12:00:00Z`, or an age such as `7d`.
fn parse_since(text: &str) -> Result<jiff::Timestamp, CliError> {
    if let Ok(age) = crate::duration::parse_duration(text) {
        let age = jiff::SignedDuration::try_from(age).unwrap_or(jiff::SignedDuration::ZERO);
        return Ok(jiff::Timestamp::now()
            .saturating_sub(age)
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH));
    }
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    text.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp())
        .ok_or_else(|| {
            CliError::new(
                ExitCode::Usage,
                format!("--since: `{text}` is not a date, a time or an age"),
            )
            .hint("write `2026-11-01`, `2026-11-01T12:00:00Z` or `7d`")
        })
}

/// The chain's verdict in words, for reports.
fn chain_verdict(run: &journal::RunDir) -> String {
    match journal::verify(&run.journal()) {
        Ok(v) if v.problem.is_none() => format!("{} lines, hash chain verifies", v.lines),
        Ok(v) => {
            let p = v.problem.expect("checked");
            format!("DOES NOT VERIFY: line {}: {}", p.line, p.reason)
        }
        Err(e) => format!("unreadable: {e}"),
    }
}

fn report(
    state_dir: &StateDir,
    run_id: &str,
    format: ReportFormat,
    out: Option<std::path::PathBuf>,
) -> Result<ExitCode, CliError> {
    let run = find_run(state_dir, run_id)?;
    let records = journal::read(&run.journal())?;
    let summary = RunSummary::from_records(&records);
    let chain = chain_verdict(&run);
    let (text, extension) = match format {
        ReportFormat::Markdown => (markdown(&summary, &chain), "md"),
        ReportFormat::Html => (html(&summary, &chain), "html"),
    };
    let path = out.unwrap_or_else(|| format!("cutover-{}.{extension}", run.id).into());
    if path.as_os_str() == "-" {
        print!("{text}");
        return Ok(ExitCode::Done);
    }
    std::fs::write(&path, text).map_err(|e| {
        CliError::new(
            ExitCode::Internal,
            format!("cannot write {}: {e}", path.display()),
        )
    })?;
    println!("{}", path.display());
    Ok(ExitCode::Done)
}

fn diff(state_dir: &StateDir, a: &str, b: &str) -> Result<ExitCode, CliError> {
    let load = |id: &str| -> Result<RunSummary, CliError> {
        let run = find_run(state_dir, id)?;
        Ok(RunSummary::from_records(&journal::read(&run.journal())?))
    };
    let (left, right) = (load(a)?, load(b)?);
    let ms = |v: u64| format_duration(std::time::Duration::from_millis(v));
    let (ld, rd) = (left.step_durations(), right.step_durations());
    println!(
        "{:<28} {:>12} {:>12} {:>9}",
        "step",
        format!("A {}", left.mode),
        format!("B {}", right.mode),
        "change"
    );
    let mut steps: Vec<&String> = ld.iter().map(|(s, _)| s).collect();
    steps.extend(
        rd.iter()
            .map(|(s, _)| s)
            .filter(|s| !ld.iter().any(|(l, _)| l == *s)),
    );
    for step in steps {
        let find = |list: &[(String, u64)]| list.iter().find(|(s, _)| s == step).map(|(_, d)| *d);
        let (x, y) = (find(&ld), find(&rd));
        let change = match (x, y) {
            (Some(x), Some(y)) if x > 0 => {
                format!("{:+.0}%", (y as f64 - x as f64) * 100.0 / x as f64)
            }
            (Some(_), Some(_)) => "".into(),
            (Some(_), None) => "only in A".into(),
            (None, _) => "only in B".into(),
        };
        let show = |v: Option<u64>| v.map(ms).unwrap_or_else(|| "-".into());
        println!("{:<28} {:>12} {:>12} {:>9}", step, show(x), show(y), change);
    }
    println!(
        "{:<28} {:>12} {:>12}",
        "total (run)",
        ms(left.duration_ms),
        ms(right.duration_ms)
    );
    println!(
        "A = {} ({}), B = {} ({})",
        left.run_id, left.outcome, right.run_id, right.outcome
    );
    Ok(ExitCode::Done)
}

/// One line of `audit list`.
#[derive(Debug, serde::Serialize)]
struct Summary {
    run_id: String,
    playbook: String,
    mode: String,
    operator: String,
    started: String,
    duration_ms: Option<u64>,
    outcome: String,
}

fn summarize(id: &str, records: &[Record]) -> Summary {
    let state = journal::replay(records).ok();
    let duration_ms = match (records.first(), records.last()) {
        (Some(first), Some(last)) => elapsed_ms(&first.ts, &last.ts),
        _ => None,
    };
    Summary {
        run_id: id.to_string(),
        playbook: state
            .as_ref()
            .map(|s| s.playbook.clone())
            .unwrap_or_default(),
        mode: state
            .as_ref()
            .map(|s| s.mode.as_str().to_string())
            .unwrap_or_default(),
        operator: state
            .as_ref()
            .map(|s| s.operator.clone())
            .unwrap_or_default(),
        started: records.first().map(|r| r.ts.clone()).unwrap_or_default(),
        duration_ms,
        outcome: match state.as_ref().and_then(|s| s.outcome) {
            Some(outcome) => outcome.as_str().to_string(),
            None => "stopped".into(),
        },
    }
}

fn elapsed_ms(from: &str, to: &str) -> Option<u64> {
    let from: jiff::Timestamp = from.parse().ok()?;
    let to: jiff::Timestamp = to.parse().ok()?;
    Some(to.duration_since(from).as_millis().max(0) as u64)
}

fn list(state_dir: &StateDir, output: Output, filter: &Filter) -> Result<ExitCode, CliError> {
    trusted(&[state_dir.root(), &state_dir.runs()])?;
    for id in state_dir.run_ids() {
        trusted(&[&state_dir.run(&id).path])?;
    }
    let summaries: Vec<Summary> = state_dir
        .run_ids()
        .iter()
        .map(|id| {
            let records = journal::read(&state_dir.run(id).journal()).unwrap_or_default();
            summarize(id, &records)
        })
        .filter(|summary| filter.keeps(summary))
        .collect();
    if output == Output::Json {
        for summary in &summaries {
            println!(
                "{}",
                serde_json::to_string(summary).expect("summaries serialize")
            );
        }
        return Ok(ExitCode::Done);
    }
    if summaries.is_empty() {
        eprintln!("no runs in {}", state_dir.runs().display());
        return Ok(ExitCode::Done);
    }
    println!(
        "{:<22} {:<24} {:<9} {:<12} {:<20} {:>9}  outcome",
        "run", "playbook", "mode", "operator", "started", "duration"
    );
    for s in summaries {
        let duration = s
            .duration_ms
            .map(|ms| format_duration(std::time::Duration::from_millis(ms)))
            .unwrap_or_default();
        println!(
            "{:<22} {:<24} {:<9} {:<12} {:<20} {:>9}  {}",
            s.run_id,
            s.playbook,
            s.mode,
            s.operator,
            s.started.get(..19).unwrap_or(&s.started).replace('T', " "),
            duration,
            s.outcome
        );
    }
    Ok(ExitCode::Done)
}

fn show(state_dir: &StateDir, run_id: &str) -> Result<ExitCode, CliError> {
    let run = find_run(state_dir, run_id)?;
    let records = journal::read(&run.journal())?;
    let summary = summarize(&run.id, &records);
    let mut out = String::new();
    let _ = writeln!(out, "run       {}", summary.run_id);
    let _ = writeln!(out, "playbook  {}", summary.playbook);
    let _ = writeln!(
        out,
        "mode      {}   operator {}",
        summary.mode, summary.operator
    );
    let _ = writeln!(out, "outcome   {}", summary.outcome);
    let proof = RunSummary::from_records(&records);
    if let Some(canary) = &proof.canary {
        let _ = writeln!(out, "canary    {canary}");
    }
    if let Some(budget) = proof.budget.last() {
        let _ = writeln!(out, "budget    {budget}");
    }
    let _ = writeln!(out, "\ntimeline");
    for record in &records {
        if let Some(line) = describe_record(record) {
            let _ = writeln!(out, "  {}Z  {line}", clock(record));
        }
    }
    let _ = writeln!(out, "\nsteps");
    let _ = writeln!(
        out,
        "  {:<24} {:>9} {:>9}  {:<9} outcome",
        "step", "start", "duration", "attempts"
    );
    for row in step_rows(&records) {
        let _ = writeln!(
            out,
            "  {:<24} {:>9} {:>9}  {:<9} {}",
            row.0, row.1, row.2, row.3, row.4
        );
    }
    // Step output and operator text are shown, never replayed to the terminal.
    print!("{}", crate::redact::escape_controls(&out));
    Ok(ExitCode::Done)
}

/// Per step: start (time of day), total duration, attempts, outcome (with undo).
fn step_rows(records: &[Record]) -> Vec<(String, String, String, u32, String)> {
    let mut rows: Vec<(String, String, String, u32, String)> = Vec::new();
    let row = |rows: &mut Vec<(String, String, String, u32, String)>, step: &str| -> usize {
        match rows.iter().position(|r| r.0 == step) {
            Some(i) => i,
            None => {
                rows.push((
                    step.to_string(),
                    String::new(),
                    String::new(),
                    0,
                    "running".into(),
                ));
                rows.len() - 1
            }
        }
    };
    for record in records {
        let ms = |d: &u64| format_duration(std::time::Duration::from_millis(*d));
        match &record.event {
            Event::StepStarted { step, attempt, .. } => {
                let i = row(&mut rows, step);
                if rows[i].1.is_empty() {
                    rows[i].1 = clock(record).to_string();
                }
                rows[i].3 = *attempt;
                rows[i].4 = "running".into();
            }
            Event::StepFinished {
                step, duration_ms, ..
            } => {
                let i = row(&mut rows, step);
                rows[i].2 = ms(duration_ms);
                rows[i].4 = "done".into();
            }
            Event::StepFailed {
                step,
                duration_ms,
                timed_out,
                ..
            } => {
                let i = row(&mut rows, step);
                rows[i].2 = ms(duration_ms);
                rows[i].4 = if *timed_out {
                    "timed out".into()
                } else {
                    "failed".into()
                };
            }
            Event::CompensationFinished { step, .. } => {
                let i = row(&mut rows, step);
                rows[i].4.push_str(", undone");
            }
            Event::CompensationFailed {
                step,
                final_attempt: true,
                ..
            } => {
                let i = row(&mut rows, step);
                rows[i].4.push_str(", UNDO FAILED");
            }
            _ => {}
        }
    }
    rows
}

fn verify(
    state_dir: &StateDir,
    run_id: &str,
    pubkey: Option<&std::path::Path>,
) -> Result<ExitCode, CliError> {
    // A key that cannot be read is the command line's fault: said before
    // anything is checked.
    let key = pubkey
        .map(journal::sign::public_key)
        .transpose()
        .map_err(|e| CliError::new(ExitCode::Usage, format!("--pubkey: {e:#}")))?;
    let run = find_run(state_dir, run_id)?;
    let verification = journal::verify(&run.journal())?;
    if verification.problem.is_none() {
        // The stored copy of the playbook must be the one that ran.
        let recorded = journal::read(&run.journal())
            .ok()
            .and_then(|records| journal::replay(&records).ok())
            .map(|state| state.sha256);
        let copy = std::fs::read(run.playbook()).ok().map(|bytes| {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(&bytes))
        });
        if let (Some(recorded), Some(copy)) = (&recorded, &copy) {
            if recorded != copy {
                eprintln!(
                    "error: run {}: the stored playbook {} does not match the sha256 the journal recorded ({recorded}, file has {copy})",
                    run.id,
                    run.playbook().display()
                );
                return Ok(ExitCode::Internal);
            }
        }
        if recorded.is_some() && copy.is_none() {
            eprintln!(
                "error: run {}: the stored playbook {} is missing",
                run.id,
                run.playbook().display()
            );
            return Ok(ExitCode::Internal);
        }
    }
    match verification.problem {
        None => {
            let signed = match &key {
                None => String::new(),
                Some(key) => match check_signature(&run, key) {
                    Ok(()) => "; head signature verifies".to_string(),
                    Err(why) => {
                        eprintln!("error: run {}: {why}", run.id);
                        eprintln!("  --> {}", run.head_signature().display());
                        return Ok(ExitCode::Internal);
                    }
                },
            };
            println!(
                "run {}: {} lines, hash chain verifies{signed}",
                run.id, verification.lines
            );
            Ok(ExitCode::Done)
        }
        Some(problem) => {
            eprintln!(
                "error: run {}: journal line {} does not verify: {}",
                run.id, problem.line, problem.reason
            );
            eprintln!("  --> {}:{}", run.journal().display(), problem.line);
            Ok(ExitCode::Internal)
        }
    }
}

/// `--pubkey`: the head must be signed, by that key, for this run.
fn check_signature(run: &journal::RunDir, key: &ed25519_dalek::VerifyingKey) -> Result<(), String> {
    let head = std::fs::read_to_string(run.head()).map_err(|_| {
        "the journal has no head to check a signature against (the run never ended with an outcome)".to_string()
    })?;
    let signature = std::fs::read_to_string(run.head_signature()).map_err(|_| {
        "the head is not signed (no head.sig): the run was not started with --sign-key, or the signature was removed".to_string()
    })?;
    journal::sign::check(key, &run.id, &head, &signature)
}
