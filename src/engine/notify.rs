//! Webhooks: the run tells chat and paging tools about its start, checkpoints,
//! failures, rollbacks and end. A webhook that fails never fails the run; the
//! failure is journaled.

use std::time::Duration;

use crate::journal::{Event, Record};
use crate::plan::Webhook;
use crate::redact::Redactor;
use crate::report::describe_record;

/// How long one webhook may take before it is given up.
pub(super) const TIMEOUT: Duration = Duration::from_secs(5);

/// A message waiting to be posted.
#[derive(Debug, Clone)]
pub(super) struct Announcement {
    about: String,
    body: serde_json::Value,
}

/// The announcement a record deserves, if any (records are already redacted).
/// `hash` is the journal hash of `record`'s own line: `run_finished` carries
/// it as `head` (`{seq, hash}`), so whoever receives the webhook holds a copy
/// of the chain's end that the state directory's owner cannot rewrite.
pub(super) fn announcement(
    playbook: &str,
    run_id: &str,
    record: &Record,
    hash: &str,
) -> Option<Announcement> {
    let about = match &record.event {
        Event::RunStarted { .. } => "run_started",
        Event::CheckpointPassed { .. } => "checkpoint_passed",
        Event::StepFailed { .. } => "step_failed",
        Event::RollbackStarted { .. } => "rollback_started",
        Event::RollbackFinished { .. } => "rollback_finished",
        Event::GoBackStarted { .. } => "go_back_started",
        Event::GoBackFinished { .. } => "go_back_finished",
        Event::WindowOverrun { .. } => "window_overrun",
        Event::RunFinished { .. } => "run_finished",
        _ => return None,
    };
    let line = describe_record(record).unwrap_or_default();
    let (outcome, head) = match &record.event {
        Event::RunFinished { outcome, .. } => (
            Some(outcome.as_str()),
            Some(serde_json::json!({ "seq": record.seq, "hash": hash })),
        ),
        _ => (None, None),
    };
    Some(Announcement {
        about: about.to_string(),
        body: serde_json::json!({
            // `text` is what Slack, Mattermost and most chat webhooks display.
            "text": format!("cutover `{playbook}` run {run_id}: {line}"),
            "playbook": playbook,
            "run_id": run_id,
            "event": about,
            "step": record.step,
            "outcome": outcome,
            "ts": record.ts,
            "data": serde_json::to_value(&record.event).ok().and_then(|v| v.get("data").cloned()),
            "head": head,
        }),
    })
}

/// `https://hooks.example.com/…`: where a webhook goes without the path, which
/// often holds its token.
fn shown(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?']).next().unwrap_or("");
            format!("{scheme}://{host}/…")
        }
        None => "(invalid url)".into(),
    }
}

/// A webhook as a posting task needs it: URL, URL as shown, headers.
type Hook = (String, String, Vec<(String, String)>);

/// Posts one announcement to every webhook; returns the events to journal.
/// Runs as a task of its own, so a slow webhook never delays a step.
async fn post(client: reqwest::Client, hooks: Vec<Hook>, announcement: Announcement) -> Vec<Event> {
    // All hooks at once: three slow webhooks cost one timeout, not three.
    let posts = hooks.into_iter().map(|(url, shown_url, headers)| {
        let (client, body, about) = (
            client.clone(),
            announcement.body.clone(),
            announcement.about.clone(),
        );
        async move {
            let mut request = client.post(&url).json(&body);
            for (name, value) in &headers {
                request = request.header(name, value);
            }
            let url = shown_url;
            match request.send().await {
                Ok(response) if response.status().is_success() => Event::NotificationSent {
                    url,
                    about,
                    status: response.status().as_u16(),
                },
                Ok(response) => Event::NotificationFailed {
                    url,
                    about,
                    error: format!("HTTP {}", response.status()),
                },
                Err(error) => Event::NotificationFailed {
                    url,
                    about,
                    error: describe(error),
                },
            }
        }
    });
    futures_util::future::join_all(posts).await
}

/// Starts posting an announcement to `hooks` in the background.
pub(super) fn announce(
    hooks: &[Webhook],
    redactor: &Redactor,
    announcement: Announcement,
) -> Option<tokio::task::JoinHandle<Vec<Event>>> {
    let client = reqwest::Client::builder().timeout(TIMEOUT).build().ok()?;
    let hooks = hooks
        .iter()
        .map(|hook| {
            (
                hook.url.clone(),
                redactor.redact(&shown(&hook.url)),
                hook.headers.clone(),
            )
        })
        .collect();
    Some(tokio::spawn(post(client, hooks, announcement)))
}

fn describe(error: reqwest::Error) -> String {
    if error.is_timeout() {
        format!("no answer within {}s", TIMEOUT.as_secs())
    } else if error.is_connect() {
        "could not connect".into()
    } else {
        error.without_url().to_string()
    }
}
