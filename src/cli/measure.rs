//! Scaling a plan's estimates to the data there is now, for `plan --measure`
//! and `run`: the data-moving steps' sources are measured read-only and each
//! estimate becomes fixed + size ÷ rehearsed rate (`plan::measure`).

use std::collections::BTreeMap;

use super::CliError;
use crate::journal::StepRun;
use crate::plan::{measure_steps, Plan};

/// Measures and scales; a source that cannot be measured leaves its step's
/// estimate as it was, with a `scale_note`.
pub fn scale_estimates(
    plan: &mut Plan,
    runs: &BTreeMap<String, Vec<StepRun>>,
) -> Result<(), CliError> {
    let runtime = super::session::runtime()?;
    let measured = runtime.block_on(measure_steps(plan));
    plan.apply_measurements(runs, &measured);
    Ok(())
}
