//! Going forward: order, retries with their backoff, and step timeouts.

use std::time::Duration;

use super::fake::{Call, Log};
use super::harness::{options, Harness, PlanBuilder};
use crate::journal::Outcome;

#[tokio::test(start_paused = true)]
async fn steps_run_once_each_in_the_order_of_the_plan() {
    let (log, harness) = (Log::start(), Harness::new());
    let plan = harness.plan(
        PlanBuilder::new(&log)
            .step("a", &[])
            .step("b", &[])
            .checkpoint("halfway")
            .step("c", &[]),
    );

    let finish = harness.run(&plan, options()).await;

    assert_eq!(finish.outcome, Outcome::Done);
    assert_eq!(finish.message, "all 3 steps completed");
    assert_eq!(
        harness.journal(),
        [
            "run_started",
            "step_started a #1",
            "step_finished a #1",
            "step_started b #1",
            "step_finished b #1",
            "checkpoint_passed halfway",
            "step_started c #1",
            "step_finished c #1",
            "run_finished done",
        ]
    );
    assert_eq!(log.calls(), ["a #1", "b #1", "c #1"]);
}

#[tokio::test(start_paused = true)]
async fn a_step_that_succeeds_on_its_second_attempt_is_finished_after_its_backoff() {
    let (log, harness) = (Log::start(), Harness::new());
    let plan = harness.plan(
        PlanBuilder::new(&log)
            .step("a", &[Call::Fail, Call::Succeed])
            .retries(3, Duration::from_secs(5))
            .step("b", &[]),
    );

    let finish = harness.run(&plan, options()).await;

    assert_eq!(finish.outcome, Outcome::Done);
    assert_eq!(
        harness.journal(),
        [
            "run_started",
            "step_started a #1",
            "step_retrying a #1: a broke (backoff 5000ms)",
            "step_started a #2",
            "step_finished a #2",
            "step_started b #1",
            "step_finished b #1",
            "run_finished done",
        ]
    );
    // Exactly one backoff between the two attempts, and no third attempt.
    assert_eq!(log.timed(), ["a #1 @0ms", "a #2 @5000ms", "b #1 @5000ms"]);
}

#[tokio::test(start_paused = true)]
async fn a_step_fails_after_its_last_attempt_and_no_sooner() {
    let (log, harness) = (Log::start(), Harness::new());
    let plan = harness.plan(
        PlanBuilder::new(&log)
            .step("a", &[])
            .step("b", &[Call::Fail, Call::Fail, Call::Fail, Call::Succeed])
            .retries(3, Duration::from_secs(2))
            .step("c", &[]),
    );

    let finish = harness.run(&plan, options()).await;

    assert_eq!(finish.outcome, Outcome::RolledBack);
    assert_eq!(
        harness.journal(),
        [
            "run_started",
            "step_started a #1",
            "step_finished a #1",
            "step_started b #1",
            "step_retrying b #1: b broke (backoff 2000ms)",
            "step_started b #2",
            "step_retrying b #2: b broke (backoff 2000ms)",
            "step_started b #3",
            "step_failed b #3: b broke",
            "rollback_started to the start: a",
            "compensation_started a #1",
            "compensation_finished a #1",
            "rollback_finished complete: undone [a], remaining []",
            "run_finished rolled_back",
        ]
    );
    assert_eq!(
        log.timed(),
        [
            "a #1 @0ms",
            "b #1 @0ms",
            "b #2 @2000ms",
            "b #3 @4000ms",
            "undo a #1 @4000ms"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_step_that_outlives_its_timeout_fails_and_is_rolled_back() {
    let (log, harness) = (Log::start(), Harness::new());
    let plan = harness.plan(
        PlanBuilder::new(&log)
            .step("a", &[])
            .step("b", &[Call::Sleep(Duration::from_secs(60))])
            .timeout(Duration::from_secs(5))
            .step("c", &[]),
    );

    let finish = harness.run(&plan, options()).await;

    assert_eq!(finish.outcome, Outcome::RolledBack);
    assert_eq!(
        finish.message,
        "step `b` failed; rolled back to the start (undone: `a`)"
    );
    assert_eq!(
        harness.journal(),
        [
            "run_started",
            "step_started a #1",
            "step_finished a #1",
            "step_started b #1",
            "step_failed b #1: timed out after 5s (timed out)",
            "rollback_started to the start: a",
            "compensation_started a #1",
            "compensation_finished a #1",
            "rollback_finished complete: undone [a], remaining []",
            "run_finished rolled_back",
        ]
    );
    // Cut off at 5 s, not after the 60 s the action wanted.
    assert_eq!(log.timed(), ["a #1 @0ms", "b #1 @0ms", "undo a #1 @5000ms"]);
}
