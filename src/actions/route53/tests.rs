//! `route53.swap`'s waiting and putting back, against a fake Route 53 whose
//! changes stay `PENDING` for as long as a test says; time is paused, so the
//! TTL waits are measured, not slept.

use std::cell::RefCell;
use std::path::Path;
use std::time::Duration;

use super::api::{Op, RecordSet, Route53Api};
use super::swap::Swap;
use crate::actions::shared::aws::AwsError;
use crate::actions::{ApprovalFuture, Input, Progress, StepContext};

#[derive(Default)]
struct Fake {
    record: RefCell<Option<RecordSet>>,
    /// The statuses GetChange answers, one per call, the last repeated.
    statuses: RefCell<Vec<&'static str>>,
    changes: RefCell<Vec<(Op, RecordSet)>>,
}

impl Route53Api for Fake {
    async fn record(
        &self,
        _zone: &str,
        _name: &str,
        _type: &str,
        _set: Option<&str>,
    ) -> Result<Option<RecordSet>, AwsError> {
        Ok(self.record.borrow().clone())
    }

    async fn change(&self, _zone: &str, op: Op, set: &RecordSet) -> Result<String, AwsError> {
        self.changes.borrow_mut().push((op, set.clone()));
        *self.record.borrow_mut() = match op {
            Op::Upsert => Some(set.clone()),
            Op::Delete => None,
        };
        Ok(format!("/change/C{}", self.changes.borrow().len()))
    }

    async fn change_status(&self, _id: &str) -> Result<String, AwsError> {
        let mut statuses = self.statuses.borrow_mut();
        let status = if statuses.len() > 1 {
            statuses.remove(0)
        } else {
            statuses.first().copied().unwrap_or("INSYNC")
        };
        Ok(status.to_string())
    }
}

struct NoInput;

impl Input for NoInput {
    fn approve<'a>(&'a self, _: &'a str, _: &'a str) -> ApprovalFuture<'a> {
        Box::pin(async { Err("no operator in a unit test".to_string()) })
    }
    fn confirm<'a>(&'a self, _: &'a str, _: &'a str) -> ApprovalFuture<'a> {
        Box::pin(async { Err("no operator in a unit test".to_string()) })
    }
}

/// Runs `f` with a context whose notes go into `memory`, as the engine's do.
async fn with_cx<T>(
    memory: &RefCell<serde_json::Map<String, serde_json::Value>>,
    f: impl AsyncFnOnce(&StepContext<'_>) -> T,
) -> T {
    let snapshot = memory.borrow().clone();
    let noted = |note: &serde_json::Value| {
        if let Some(map) = note.as_object() {
            memory.borrow_mut().extend(map.clone());
        }
        Ok(())
    };
    let cx = StepContext {
        run_id: "r1",
        step: "dns",
        attempt: 1,
        base_dir: Path::new("."),
        input: &NoInput,
        progress: &|_: Progress| {},
        spawned: &|_| {},
        noted: &noted,
        memory: &snapshot,
        redactor: &crate::redact::Redactor::default(),
    };
    f(&cx).await
}

fn swap(with: serde_json::Value) -> Swap {
    serde_json::from_value(with).unwrap()
}

fn old_record() -> RecordSet {
    RecordSet {
        name: "db.example.com.".into(),
        record_type: "CNAME".into(),
        set_identifier: None,
        weight: None,
        region: None,
        failover: None,
        multi_value_answer: None,
        health_check_id: None,
        ttl: Some(300),
        values: vec!["old.example.net".into()],
        alias: None,
    }
}

fn cname() -> Swap {
    swap(serde_json::json!({
        "zone_id": "Z1", "name": "db.example.com", "type": "CNAME",
        "to": "new.example.net", "ttl": 60
    }))
}

#[tokio::test(start_paused = true)]
async fn waits_for_insync_then_the_old_ttl_and_the_undo_puts_the_old_set_back() {
    let api = Fake {
        record: RefCell::new(Some(old_record())),
        statuses: RefCell::new(vec!["PENDING", "PENDING", "INSYNC"]),
        ..Fake::default()
    };
    let memory = RefCell::new(serde_json::Map::new());
    let step = cname();
    let started = tokio::time::Instant::now();
    let data = with_cx(&memory, async |cx| step.swap(&api, cx).await)
        .await
        .unwrap();
    // Two PENDING answers 10 s apart (the most a wait lets pass between
    // two questions), then the old record's 300 s TTL.
    assert_eq!(started.elapsed(), Duration::from_secs(2 * 10 + 300));
    assert_eq!(data["waited_ttl_s"], 300);
    assert_eq!(data["before"]["values"][0], "old.example.net");
    assert_eq!(
        api.record.borrow().as_ref().unwrap().values,
        vec!["new.example.net"]
    );
    assert_eq!(memory.borrow()["before"]["ttl"], 300);

    let undo = step.inverse_swap();
    let data = with_cx(&memory, async |cx| undo.put_back(&api, cx).await)
        .await
        .unwrap();
    assert_eq!(data["restored"], true);
    assert_eq!(api.record.borrow().as_ref(), Some(&old_record()));
}

#[tokio::test(start_paused = true)]
async fn a_change_that_stays_pending_times_out_naming_the_change() {
    let api = Fake {
        record: RefCell::new(Some(old_record())),
        statuses: RefCell::new(vec!["PENDING"]),
        ..Fake::default()
    };
    let memory = RefCell::new(serde_json::Map::new());
    let step = swap(serde_json::json!({
        "zone_id": "Z1", "name": "db.example.com", "type": "CNAME",
        "to": "new.example.net", "ttl": 60, "timeout": "2m"
    }));
    let error = with_cx(&memory, async |cx| step.swap(&api, cx).await)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "Route 53 change `/change/C1` (UPSERT db.example.com CNAME) is still `PENDING` after 2m \
         (hint: raise `timeout`, or `cutover resume` goes on waiting)"
    );
    // The old set was noted before the change: the undo can put it back.
    assert_eq!(memory.borrow()["before"]["values"][0], "old.example.net");
}

#[tokio::test(start_paused = true)]
async fn a_record_that_did_not_exist_is_deleted_by_the_undo_and_no_ttl_is_waited() {
    let api = Fake::default();
    let memory = RefCell::new(serde_json::Map::new());
    let step = cname();
    let started = tokio::time::Instant::now();
    let data = with_cx(&memory, async |cx| step.swap(&api, cx).await)
        .await
        .unwrap();
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(data["before"], serde_json::Value::Null);
    let undo = step.inverse_swap();
    with_cx(&memory, async |cx| undo.put_back(&api, cx).await)
        .await
        .unwrap();
    assert!(api.record.borrow().is_none());
    let changes = api.changes.borrow();
    assert_eq!(changes.last().map(|c| c.0), Some(Op::Delete));
}

#[tokio::test(start_paused = true)]
async fn a_retry_keeps_the_record_set_the_first_attempt_noted() {
    let api = Fake {
        record: RefCell::new(Some(old_record())),
        ..Fake::default()
    };
    let memory = RefCell::new(serde_json::Map::new());
    let step = cname();
    with_cx(&memory, async |cx| step.swap(&api, cx).await)
        .await
        .unwrap();
    // The second attempt finds the new record in place, and must not take it
    // for the old one.
    with_cx(&memory, async |cx| step.swap(&api, cx).await)
        .await
        .unwrap();
    assert_eq!(memory.borrow()["before"]["values"][0], "old.example.net");
}

#[tokio::test]
async fn an_undo_of_a_swap_that_never_read_the_record_changes_nothing() {
    let api = Fake {
        record: RefCell::new(Some(old_record())),
        ..Fake::default()
    };
    let memory = RefCell::new(serde_json::Map::new());
    let undo = cname().inverse_swap();
    let data = with_cx(&memory, async |cx| undo.put_back(&api, cx).await)
        .await
        .unwrap();
    assert_eq!(data["restored"], false);
    assert!(api.changes.borrow().is_empty());
}

#[test]
fn parameters_that_route53_would_refuse_are_refused_by_validate() {
    let error = |with: serde_json::Value| {
        serde_json::from_value::<Swap>(with)
            .unwrap_err()
            .to_string()
    };
    let base = serde_json::json!({ "zone_id": "Z1", "name": "db.example.com", "type": "CNAME" });
    let with = |more: serde_json::Value| {
        let mut all = base.clone();
        all.as_object_mut()
            .unwrap()
            .extend(more.as_object().unwrap().clone());
        all
    };
    assert!(error(base.clone()).contains("give `to` (the new values) or `alias`"));
    assert!(error(with(serde_json::json!({ "to": "a.example" }))).contains("`to` needs a `ttl`"));
    assert!(
        error(with(serde_json::json!({ "to": ["a", "b"], "ttl": 5 })))
            .contains("a CNAME has exactly one value")
    );
    assert!(error(with(serde_json::json!({
        "alias": { "dns_name": "lb", "zone_id": "Z2" }, "ttl": 5
    })))
    .contains("an alias has no `ttl`"));
    assert!(error(with(
        serde_json::json!({ "to": "a", "ttl": 5, "weight": 10 })
    ))
    .contains("needs a `set_identifier`"));
    assert!(error(with(
        serde_json::json!({ "to": "a", "ttl": 5, "colour": 1 })
    ))
    .contains("unknown field `colour`"));
    let mut bad_type = with(serde_json::json!({ "to": "a", "ttl": 5 }));
    bad_type["type"] = "cname".into();
    assert!(error(bad_type).contains("unknown record type `cname`"));
}
