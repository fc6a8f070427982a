//! `cutover audit`: list runs, show a run's timeline, verify its hash chain.

use std::fmt::Write;

use super::args::{AuditArgs, AuditCommand, Output};
use super::{CliError, ExitCode};
use crate::journal::{self, Event, Record, StateDir};
use crate::playbook::format_duration;
use crate::report::{clock, describe_record};

pub fn audit(args: AuditArgs) -> Result<i32, CliError> {
    let state_dir = StateDir::new(args.state_dir.clone().unwrap_or_else(|| ".cutover".into()));
    match args.command {
        AuditCommand::List { output } => list(&state_dir, output),
        AuditCommand::Show { run_id } => show(&state_dir, &run_id),
        AuditCommand::Verify { run_id } => verify(&state_dir, &run_id),
    }
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
            None => "stopped (resume it)".into(),
        },
    }
}

fn elapsed_ms(from: &str, to: &str) -> Option<u64> {
    let from: jiff::Timestamp = from.parse().ok()?;
    let to: jiff::Timestamp = to.parse().ok()?;
    Some(to.duration_since(from).as_millis().max(0) as u64)
}

fn list(state_dir: &StateDir, output: Output) -> Result<i32, CliError> {
    let summaries: Vec<Summary> = state_dir
        .run_ids()
        .iter()
        .map(|id| {
            let records = journal::read(&state_dir.run(id).journal()).unwrap_or_default();
            summarize(id, &records)
        })
        .collect();
    if output == Output::Json {
        for summary in &summaries {
            println!(
                "{}",
                serde_json::to_string(summary).expect("summaries serialize")
            );
        }
        return Ok(0);
    }
    if summaries.is_empty() {
        eprintln!("no runs in {}", state_dir.runs().display());
        return Ok(0);
    }
    println!(
        "{:<22} {:<24} {:<8} {:<12} {:<20} {:>9}  outcome",
        "run", "playbook", "mode", "operator", "started", "duration"
    );
    for s in summaries {
        let duration = s
            .duration_ms
            .map(|ms| format_duration(std::time::Duration::from_millis(ms)))
            .unwrap_or_default();
        println!(
            "{:<22} {:<24} {:<8} {:<12} {:<20} {:>9}  {}",
            s.run_id,
            s.playbook,
            s.mode,
            s.operator,
            s.started.get(..19).unwrap_or(&s.started).replace('T', " "),
            duration,
            s.outcome
        );
    }
    Ok(0)
}

fn show(state_dir: &StateDir, run_id: &str) -> Result<i32, CliError> {
    let run = state_dir
        .find_run(run_id)
        .map_err(|e| CliError::new(ExitCode::Usage, e.to_string()))?;
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
    print!("{out}");
    Ok(0)
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

fn verify(state_dir: &StateDir, run_id: &str) -> Result<i32, CliError> {
    let run = state_dir
        .find_run(run_id)
        .map_err(|e| CliError::new(ExitCode::Usage, e.to_string()))?;
    let verification = journal::verify(&run.journal())?;
    match verification.problem {
        None => {
            println!(
                "run {}: {} lines, hash chain verifies",
                run.id, verification.lines
            );
            Ok(0)
        }
        Some(problem) => {
            eprintln!(
                "error: run {}: journal line {} does not verify: {}",
                run.id, problem.line, problem.reason
            );
            eprintln!("  --> {}:{}", run.journal().display(), problem.line);
            Ok(ExitCode::Internal as i32)
        }
    }
}
