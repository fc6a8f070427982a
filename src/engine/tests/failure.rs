//! A failure: rollback back to the last checkpoint, newest first, and the
//! stop for an operator past the point of no return.

use super::fake::{Call, Log};
use super::harness::{options, Harness, PlanBuilder, RUN_ID};
use crate::journal::Outcome;

#[tokio::test(start_paused = true)]
async fn a_failure_undoes_the_steps_since_the_last_checkpoint_newest_first() {
    let (log, harness) = (Log::start(), Harness::new());
    let plan = harness.plan(
        PlanBuilder::new(&log)
            .step("a", &[])
            .checkpoint("first")
            .step("b", &[])
            .checkpoint("second")
            .step("c", &[])
            .step("d", &[])
            .no_rollback()
            .step("e", &[])
            .step("f", &[Call::Fail])
            .step("g", &[]),
    );

    let finish = harness.run(&plan, options()).await;

    assert_eq!(finish.outcome, Outcome::RolledBack);
    assert_eq!(
        finish.message,
        "step `f` failed; rolled back to checkpoint `second` (undone: `e`, `c`)"
    );
    assert_eq!(
        harness.journal(),
        [
            "run_started",
            "step_started a #1",
            "step_finished a #1",
            "checkpoint_passed first",
            "step_started b #1",
            "step_finished b #1",
            "checkpoint_passed second",
            "step_started c #1",
            "step_finished c #1",
            "step_started d #1",
            "step_finished d #1",
            "step_started e #1",
            "step_finished e #1",
            "step_started f #1",
            "step_failed f #1: f broke",
            // d has no rollback; a and b are behind the checkpoint.
            "rollback_started to second: e, c",
            "compensation_started e #1",
            "compensation_finished e #1",
            "compensation_started c #1",
            "compensation_finished c #1",
            "rollback_finished complete: undone [e, c], remaining []",
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
            "e #1",
            "f #1",
            "undo e #1",
            "undo c #1"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failure_past_the_point_of_no_return_undoes_nothing_and_needs_an_operator() {
    let (log, harness) = (Log::start(), Harness::new());
    let plan = harness.plan(
        PlanBuilder::new(&log)
            .step("a", &[])
            .checkpoint("ready")
            .step("swap", &[])
            .point_of_no_return()
            .step("b", &[])
            .step("smoke", &[Call::Fail])
            .step("c", &[]),
    );

    let finish = harness.run(&plan, options()).await;

    assert_eq!(finish.outcome, Outcome::NeedsOperator);
    let state_dir = harness.state_dir();
    assert_eq!(
        finish.message,
        format!(
            "step `smoke` failed: smoke broke\n\
             the run is past its point of no return (`swap`), so nothing was rolled back.\n\
             completed: `a`, `swap`, `b`\n\
             next: fix the cause and `cutover resume {RUN_ID} --state-dir {state_dir}` to retry, \
             or `cutover rollback {RUN_ID} --state-dir {state_dir}` to undo `b`, then `swap`"
        )
    );
    assert_eq!(
        harness.journal(),
        [
            "run_started",
            "step_started a #1",
            "step_finished a #1",
            "checkpoint_passed ready",
            "step_started swap #1",
            "step_finished swap #1",
            "step_started b #1",
            "step_finished b #1",
            "step_started smoke #1",
            "step_failed smoke #1: smoke broke",
            "run_finished needs_operator",
        ]
    );
    assert_eq!(log.calls(), ["a #1", "swap #1", "b #1", "smoke #1"]);
}

#[tokio::test(start_paused = true)]
async fn a_compensation_that_fails_for_good_stops_the_rollback_where_it_is() {
    let (log, harness) = (Log::start(), Harness::new());
    let plan = harness.plan(
        PlanBuilder::new(&log)
            .step("a", &[])
            .step("b", &[])
            .rollback_script(&[Call::Fail])
            .step("c", &[])
            .step("d", &[Call::Fail]),
    );

    let finish = harness.run(&plan, options()).await;

    assert_eq!(finish.outcome, Outcome::NeedsOperator);
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
            "compensation_finished c #1",
            "compensation_started b #1",
            "compensation_failed b #1: undo b broke",
            "rollback_finished incomplete: undone [c], remaining [b, a]",
            "run_finished needs_operator",
        ]
    );
    // `a` is older than the compensation that failed: it is left alone.
    assert_eq!(
        log.calls(),
        ["a #1", "b #1", "c #1", "d #1", "undo c #1", "undo b #1"]
    );
}

#[tokio::test(start_paused = true)]
async fn what_a_step_noted_before_failing_is_journaled_and_found_by_its_next_attempt() {
    let (log, harness) = (Log::start(), Harness::new());
    let plan = harness.plan(
        PlanBuilder::new(&log)
            .step("make", &[Call::NoteThenFail("bucket-1")])
            .retries(2, std::time::Duration::from_secs(1)),
    );

    let finish = harness.run(&plan, options()).await;

    assert_eq!(finish.outcome, crate::journal::Outcome::Done);
    assert_eq!(
        harness.journal(),
        [
            "run_started",
            "step_started make #1",
            "step_noted make #1: {\"made\":\"bucket-1\"}",
            "step_retrying make #1: make broke after making bucket-1 (backoff 1000ms)",
            "step_started make #2",
            "step_finished make #2",
            "run_finished done",
        ]
    );
    // The second attempt found what the first noted.
    assert_eq!(
        log.calls(),
        ["make #1", "make #2", "make recalls \"bucket-1\" #2"]
    );
}
