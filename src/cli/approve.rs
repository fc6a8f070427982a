//! `cutover approve RUN STEP --operator NAME`: an approval of a run's
//! `approve` gate given from any shell on the host — the second of a
//! two-person rule, say. It leaves the approval where the waiting run looks
//! (`journal::approvals`); the run journals it when it counts it.

use super::args::ApproveArgs;
use super::resume::place;
use super::session::operator;
use super::{CliError, ExitCode};
use crate::journal::{self, approvals, Event, Outcome};
use crate::playbook::Source;

pub fn approve(args: ApproveArgs) -> Result<ExitCode, CliError> {
    let usage = |message: String| CliError::new(ExitCode::Usage, message);
    let refused = |message: String| CliError::new(ExitCode::Refused, message);
    let place = place(&args.exec)?;
    let run_dir = place
        .dir
        .find_run(&args.run_id)
        .map_err(|e| usage(e.to_string()))?;
    let id = run_dir.id.clone();
    let records = journal::read(&run_dir.journal())?;
    let state = journal::replay(&records)?;
    if let Some(outcome @ (Outcome::Done | Outcome::RolledBack | Outcome::Refused)) = state.outcome
    {
        return Err(usage(format!(
            "run {id} has ended ({}): there is nothing to approve",
            outcome.as_str()
        )));
    }
    let text = std::fs::read_to_string(run_dir.playbook()).map_err(|e| {
        CliError::new(
            ExitCode::Internal,
            format!("cannot read the run's copy of its playbook: {e}"),
        )
    })?;
    let plan = crate::plan::compile(
        &Source::new(run_dir.playbook(), text),
        crate::plan::EnvMode::Lenient,
        &[],
    )
    .map_err(|_| usage(format!("run {id}'s playbook no longer compiles")))?;
    let step = &args.step;
    let gate = plan
        .step(step)
        .ok_or_else(|| usage(format!("no step `{step}` in run {id}'s playbook")))?
        .call
        .action
        .gate()
        .ok_or_else(|| usage(format!("step `{step}` is not an `approve` gate")))?;
    if state.is_finished(step) {
        return Err(usage(format!(
            "step `{step}` of run {id} is approved and done already"
        )));
    }
    let name = operator(&args.exec);
    if !gate.from.is_empty() && !gate.from.contains(&name) {
        return Err(refused(format!(
            "{name} may not approve `{step}`: only {} may",
            gate.from.join(", ")
        )));
    }
    // Counted by the run already: at its prompt, by `--approve`, or here.
    let counted_by_run = records.iter().any(|r| {
        matches!(&r.event, Event::StepNoted { step: s, note, .. }
            if s == step && note["approval"]["operator"] == name.as_str())
    });
    let given = approvals::Given {
        operator: name.clone(),
        host: super::session::host(),
        // Fixed width, to the nanosecond: sorted as text, in the order given.
        at: jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%S%.9fZ")
            .to_string(),
    };
    let recorded = || {
        super::state::give(place.store.as_ref(), &run_dir, step, &given).map_err(|e| {
            CliError::new(
                ExitCode::Internal,
                format!("cannot record the approval: {e}"),
            )
        })
    };
    if counted_by_run || !recorded()? {
        return Err(refused(format!(
            "{name} has approved `{step}` already: it needs {} different operator(s)",
            gate.approvers
        ))
        .hint("another operator approves with `--operator NAME`"));
    }
    let so_far = super::state::given(place.store.as_ref(), &run_dir, step)?.len();
    eprintln!(
        "approved `{step}` of run {id} as {name} ({so_far} given here; the gate needs {})",
        gate.approvers
    );
    Ok(ExitCode::Done)
}
