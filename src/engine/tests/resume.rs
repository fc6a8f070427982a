//! Resume after a kill: the step in flight is re-run only if idempotent (else
//! `resume_blocker` stops the resume until an operator decides), completed
//! steps are never repeated, and a rollback cut short goes on where it was.

use std::collections::BTreeMap;
use std::time::Duration;

use super::fake::{Call, Log};
use super::harness::{options, Harness, PlanBuilder};
use crate::engine::{resume_blocker, Decision};
use crate::journal::{replay, Outcome};

const KILLED_AFTER: Duration = Duration::from_secs(3600);

#[tokio::test(start_paused = true)]
async fn an_idempotent_step_in_flight_is_run_again_and_finished_steps_are_not() {
    let (log, harness) = (Log::start(), Harness::new());
    let plan = harness.plan(
        PlanBuilder::new(&log)
            .step("a", &[])
            .step("b", &[Call::Hang])
            .step("c", &[]),
    );
    harness.run_killed_after(&plan, KILLED_AFTER).await;
    let state = replay(&harness.records()).unwrap();
    assert_eq!(resume_blocker(&plan, &state, &BTreeMap::new()), None);

    let finish = harness.resume(&plan, options()).await;

    assert_eq!(finish.outcome, Outcome::Done);
    assert_eq!(
        harness.journal(),
        [
            "run_started",
            "step_started a #1",
            "step_finished a #1",
            "step_started b #1",
            // killed here
            "run_resumed resume",
            "step_decided b rerun",
            "step_started b #1",
            "step_finished b #1",
            "step_started c #1",
            "step_finished c #1",
            "run_finished done",
        ]
    );
    assert_eq!(log.calls(), ["a #1", "b #1", "b #1", "c #1"]);
}

#[tokio::test(start_paused = true)]
async fn a_step_in_flight_that_is_not_idempotent_blocks_the_resume_until_decided() {
    let (log, harness) = (Log::start(), Harness::new());
    let plan = harness.plan(
        PlanBuilder::new(&log)
            .step("a", &[])
            .step("b", &[Call::Hang])
            .not_idempotent()
            .step("c", &[]),
    );
    harness.run_killed_after(&plan, KILLED_AFTER).await;
    let state = replay(&harness.records()).unwrap();
    assert_eq!(
        resume_blocker(&plan, &state, &BTreeMap::new()),
        Some("b".to_string())
    );

    // The operator checked: `b` had completed.
    let decisions = BTreeMap::from([("b".to_string(), Decision::AssumeDone)]);
    assert_eq!(resume_blocker(&plan, &state, &decisions), None);
    let finish = harness
        .resume(
            &plan,
            crate::engine::RunOptions {
                decisions,
                ..options()
            },
        )
        .await;

    assert_eq!(finish.outcome, Outcome::Done);
    assert_eq!(
        harness.journal(),
        [
            "run_started",
            "step_started a #1",
            "step_finished a #1",
            "step_started b #1",
            // killed here
            "run_resumed resume",
            "step_decided b assume_done",
            "step_started c #1",
            "step_finished c #1",
            "run_finished done",
        ]
    );
    assert_eq!(log.calls(), ["a #1", "b #1", "c #1"]);
}

#[tokio::test(start_paused = true)]
async fn a_rollback_cut_short_goes_on_from_the_compensation_in_flight() {
    let (log, harness) = (Log::start(), Harness::new());
    let plan = harness.plan(
        PlanBuilder::new(&log)
            .step("a", &[])
            .step("b", &[])
            .step("c", &[])
            .rollback_script(&[Call::Hang])
            .step("d", &[Call::Fail]),
    );
    harness.run_killed_after(&plan, KILLED_AFTER).await;
    let state = replay(&harness.records()).unwrap();
    assert_eq!(resume_blocker(&plan, &state, &BTreeMap::new()), None);

    let finish = harness.resume(&plan, options()).await;

    assert_eq!(finish.outcome, Outcome::RolledBack);
    assert_eq!(
        harness.journal(),
        [
            "run_started",
            "step_started a #1",
            "step_finished a #1",
            "step_started b #1",
            "step_finished b #1",
            "step_started c #1",
            "step_finished c #1",
            "step_started d #1",
            "step_failed d #1: d broke",
            "rollback_started to the start: c, b, a",
            "compensation_started c #1",
            // killed here
            "run_resumed resume",
            "compensation_started c #1",
            "compensation_finished c #1",
            "compensation_started b #1",
            "compensation_finished b #1",
            "compensation_started a #1",
            "compensation_finished a #1",
            "rollback_finished complete: undone [c, b, a], remaining []",
            "run_finished rolled_back",
        ]
    );
    assert_eq!(
        log.calls(),
        [
            "a #1",
            "b #1",
            "c #1",
            "d #1",
            "undo c #1",
            "undo c #1",
            "undo b #1",
            "undo a #1"
        ]
    );
}
