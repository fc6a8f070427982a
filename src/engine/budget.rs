//! `Budget`: the downtime budget. Its clock starts when the first step that
//! stops writes begins (`Action::stops_writes`) and stops when the point of
//! no return completes. Before each step inside it, the time spent plus the
//! step's estimate must fit; the step itself runs against the budget's
//! deadline. Either way, running out is a stop that rolls back (and thaws),
//! never writes frozen for longer than promised.

use std::cell::Cell;
use std::time::{Duration, Instant};

use super::guard;
use super::step::{BudgetDeadline, Executor};
use super::stop::Stop;
use crate::journal::{Event, Mode};
use crate::plan::PlannedStep;

pub(super) struct Budget {
    limit: Option<Duration>,
    /// When writes stopped, in this process.
    clock: Cell<Option<Instant>>,
    /// The point of no return completed: the budget no longer applies.
    kept: Cell<bool>,
}

fn ms(duration: Duration) -> u64 {
    duration.as_millis() as u64
}

impl Budget {
    pub fn new(exec: &Executor<'_, '_>) -> Budget {
        let budget = Budget {
            limit: exec.plan.downtime_budget,
            clock: Cell::new(None),
            kept: Cell::new(false),
        };
        let Some(limit) = budget.limit else {
            return budget;
        };
        // A resumed run: past the point of no return the budget is settled;
        // frozen before it, the time before the crash is unknown, so the
        // clock restarts now (the journal shows when writes really stopped).
        let frozen = exec.recorder.state(|s| {
            exec.plan
                .steps()
                .any(|st| st.call.action.stops_writes() && s.is_finished(&st.id))
        });
        if guard::past_point_of_no_return(exec) {
            budget.kept.set(true);
        } else if frozen {
            budget.clock.set(Some(Instant::now()));
            exec.recorder.notice(&format!(
                "downtime budget {}: writes were already stopped; its clock restarts at this resume",
                crate::duration::format_duration(limit)
            ));
        }
        budget
    }

    /// Before `step`: the deadline it runs against, or the stop that rolls back.
    pub fn before(
        &self,
        exec: &Executor<'_, '_>,
        step: &PlannedStep,
    ) -> anyhow::Result<Result<Option<BudgetDeadline>, Stop>> {
        let Some(limit) = self.limit.filter(|_| !self.kept.get()) else {
            return Ok(Ok(None));
        };
        let clock = match self.clock.get() {
            Some(clock) => clock,
            None if step.call.action.stops_writes() => {
                let now = Instant::now();
                self.clock.set(Some(now));
                exec.recorder.emit(Event::DowntimeBudgetStarted {
                    step: step.id.clone(),
                    budget_ms: ms(limit),
                })?;
                now
            }
            None => return Ok(Ok(None)),
        };
        let used = clock.elapsed();
        let estimate = step.estimate.unwrap_or_default();
        if used + estimate <= limit {
            // A dry run's steps take no real time: only the estimates are checked.
            let deadline = (exec.options.mode != Mode::DryRun).then_some(BudgetDeadline {
                at: clock + limit,
                budget: limit,
            });
            return Ok(Ok(deadline));
        }
        if exec.options.mode == Mode::DryRun {
            exec.recorder.notice(&format!(
                "a live run would roll back before `{}`: {} used of the downtime budget {}, and it is estimated at {}",
                step.id,
                crate::duration::format_duration(used),
                crate::duration::format_duration(limit),
                crate::duration::format_duration(estimate),
            ));
            return Ok(Ok(None));
        }
        exec.recorder.emit(Event::DowntimeBudgetExceeded {
            step: step.id.clone(),
            budget_ms: ms(limit),
            used_ms: ms(used),
            estimate_ms: step.estimate.map(ms),
            during: false,
        })?;
        Ok(Err(Stop::OverBudget {
            step: step.id.clone(),
            used,
            estimate,
            budget: limit,
        }))
    }

    /// After `step` completed: the point of no return settles the budget.
    pub fn after(&self, exec: &Executor<'_, '_>, step: &PlannedStep) -> anyhow::Result<()> {
        let (Some(limit), Some(clock)) = (self.limit, self.clock.get()) else {
            return Ok(());
        };
        if step.point_of_no_return && !self.kept.get() {
            self.kept.set(true);
            exec.recorder.emit(Event::DowntimeBudgetKept {
                budget_ms: ms(limit),
                used_ms: ms(clock.elapsed()),
            })?;
        }
        Ok(())
    }
}
