//! `on_slow`: a step running past its rehearsed p90 × `slow_factor`, before
//! the point of no return. `warn` journals it (`step_slow`) and goes on,
//! `pause` lets the step finish and then stops for an operator, `rollback`
//! ends the step there so the run rolls back to its checkpoint — before a
//! slow night runs into the morning. Steps without a measured p90 (no
//! rehearsal yet) are never slow.

use std::cell::Cell;
use std::time::Instant;

use super::guard;
use super::step::{Executor, Limits, SlowWatch};
use super::stop::Finish;
use crate::journal::{Mode, Outcome};
use crate::plan::{OnSlow, PlannedStep};

/// The watch for `step`, if it has a rehearsed p90 and the run is still
/// before its point of no return (after it, nothing is rolled back anyway).
pub(super) fn watch(exec: &Executor<'_, '_>, step: &PlannedStep) -> Option<SlowWatch> {
    if exec.options.mode == Mode::DryRun {
        return None;
    }
    if guard::past_point_of_no_return(exec) {
        return None;
    }
    let limit = step.slow_after()?;
    Some(SlowWatch {
        at: Instant::now() + limit,
        limit,
        p90: step.estimate_p90?,
        factor: step.slow_factor,
        on_slow: step.on_slow,
        fired: Cell::new(false),
    })
}

/// After a slow step with `on_slow: pause`: the stop for an operator.
pub(super) fn pause_after(
    exec: &Executor<'_, '_>,
    step: &PlannedStep,
    limits: &Limits,
) -> anyhow::Result<Option<Finish>> {
    let Some(watch) = limits.slow.as_ref() else {
        return Ok(None);
    };
    if watch.on_slow != OnSlow::Pause || !watch.fired.get() {
        return Ok(None);
    }
    let show = crate::duration::format_duration;
    Ok(Some(exec.recorder.finish(
        Outcome::NeedsOperator,
        format!(
            "paused after `{}`: it ran past its rehearsed p90 {} × {} = {} (on_slow: pause)\nnext: look at why, then `{}` to go on, or `{}` to undo",
            step.id,
            show(watch.p90),
            watch.factor,
            show(watch.limit),
            exec.recorder.command("resume"),
            exec.recorder.command("rollback")
        ),
    )?))
}
