//! Starting the write canary: after the guardrails, before the first step,
//! so its table exists before any step moves data. A canary that cannot
//! start refuses the run: the proof was asked for. A dry run connects to
//! nothing and only says what it would do.

use super::step::Executor;
use super::stop::Finish;
use crate::canary::Canary;
use crate::journal::{Event, Mode, Outcome};

/// Starts the canary if the playbook has one; `Some` is a refusal.
pub(super) fn start(exec: &Executor<'_, '_>) -> anyhow::Result<Option<Finish>> {
    let Some(spec) = &exec.plan.canary else {
        return Ok(None);
    };
    let label = crate::canary::Store::label_of(&spec.url);
    if exec.options.mode == Mode::DryRun {
        exec.recorder.notice(&format!(
            "would run a write canary into `{}` through {label} every {}",
            spec.table,
            crate::duration::format_duration(spec.every)
        ));
        return Ok(None);
    }
    let after = exec
        .recorder
        .state(|s| s.canary_acknowledged.iter().map(|r| r.1).max())
        .unwrap_or(0);
    match Canary::start(spec, after) {
        Ok(canary) => {
            exec.recorder.emit(Event::CanaryStarted {
                url: label,
                table: spec.table.clone(),
                every_ms: spec.every.as_millis() as u64,
            })?;
            exec.recorder.watch_canary(canary);
            Ok(None)
        }
        Err(error) => Ok(Some(exec.recorder.finish(
            Outcome::Refused,
            format!(
                "the write canary could not start on {label}: {error:#}\nhint: the canary's `url` must reach the database as the application does, with a user that may create `{}`",
                spec.table
            ),
        )?)),
    }
}
