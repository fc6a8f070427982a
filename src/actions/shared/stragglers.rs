//! `Straggler` and `settle`: the client sessions still connected to the old
//! server after a swap, as both engines list them, and the wait for them to
//! go. `postgres.stragglers` and `mysql.stragglers` only say how to list.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use anyhow::anyhow;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::actions::Progress;
use crate::duration::{format_duration, DurationText};

/// The parameters both stragglers actions take.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StragglerParams {
    /// The old server (`postgres://…` or `mysql://…`). PostgreSQL: a superuser
    /// or `pg_monitor` sees every session; MySQL: `PROCESS`.
    pub url: String,
    /// Roles (MySQL: users) whose sessions are expected and not counted (monitoring).
    #[serde(default)]
    pub ignore_roles: Vec<String>,
    /// Fail when more sessions than this remain (default 0).
    #[serde(default)]
    pub max: u32,
    /// Wait up to this long for the sessions to go before counting.
    #[serde(default)]
    pub wait: Option<DurationText>,
}

impl StragglerParams {
    /// `check that at most 0 client session(s) remain on app@old:5432/shop …`.
    pub fn describe(&self, server: &str) -> String {
        let wait = self
            .wait
            .map(|w| format!(", waiting up to {}", format_duration(w.0)))
            .unwrap_or_default();
        let ignored = if self.ignore_roles.is_empty() {
            String::new()
        } else {
            format!(" (not counting {})", self.ignore_roles.join(", "))
        };
        format!(
            "check that at most {} client session(s) remain on {server}{ignored}{wait}",
            self.max
        )
    }
}

/// How often the sessions are listed again while waiting.
const EVERY: Duration = Duration::from_millis(500);

/// How many sessions the error and the output name, at most.
const SHOWN: usize = 20;

/// One client session.
#[derive(Debug, Clone, PartialEq)]
pub struct Straggler {
    pub id: i64,
    pub role: String,
    /// `address:port`, or `local` for a unix socket.
    pub client: String,
    /// `application_name` (PostgreSQL) or the current database (MySQL).
    pub application: String,
    /// Seconds since `since` (the session began; MySQL: its current command).
    pub seconds: f64,
    /// What `seconds` counts from: `connected` or `in this state`.
    pub since: &'static str,
    pub state: String,
}

impl Straggler {
    pub fn describe(&self) -> String {
        let application = if self.application.is_empty() {
            String::new()
        } else {
            format!(" `{}`", self.application)
        };
        format!(
            "{} from {}{application} ({}, {} for {}; session {})",
            self.role,
            self.client,
            self.state,
            self.since,
            format_duration(Duration::from_secs(self.seconds.max(0.0) as u64)),
            self.id
        )
    }
}

/// Lists, and with `wait` lists again until at most `max` remain or the wait
/// is over; then fails above `max`, naming them. Returns the last list.
pub async fn settle<F, Fut>(
    server: &str,
    max: u32,
    wait: Option<Duration>,
    report: &dyn Fn(Progress),
    mut list: F,
) -> anyhow::Result<Vec<Straggler>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Vec<Straggler>>>,
{
    let started = Instant::now();
    loop {
        let sessions = list().await?;
        let over = sessions.len() > max as usize;
        let left = wait.and_then(|w| w.checked_sub(started.elapsed()));
        match left {
            Some(left) if over => {
                report(Progress::Status(format!(
                    "{} session(s) still on {server}, waiting for them to go ({} left)",
                    sessions.len(),
                    format_duration(Duration::from_secs(left.as_secs()))
                )));
                tokio::time::sleep(EVERY.min(left)).await;
            }
            _ => {
                for session in sessions.iter().take(SHOWN) {
                    report(Progress::Output(format!(
                        "straggler  {}",
                        session.describe()
                    )));
                }
                if !over {
                    report(Progress::Status(format!(
                        "{} client session(s) on {server} (at most {max})",
                        sessions.len()
                    )));
                    return Ok(sessions);
                }
                return Err(refusal(server, max, wait, &sessions));
            }
        }
    }
}

fn refusal(
    server: &str,
    max: u32,
    wait: Option<Duration>,
    sessions: &[Straggler],
) -> anyhow::Error {
    let waited = wait
        .map(|w| format!(" after waiting {}", format_duration(w)))
        .unwrap_or_default();
    let listed: Vec<String> = sessions
        .iter()
        .take(SHOWN)
        .map(Straggler::describe)
        .collect();
    let more = sessions.len().saturating_sub(SHOWN);
    anyhow!(
        "{} client session(s) still on {server}{waited}, more than max {max}:\n  - {}{}\nhint: these clients did not follow the swap: restart them, or point them at the new server; `ignore_roles` leaves known ones out",
        sessions.len(),
        listed.join("\n  - "),
        if more > 0 { format!("\n  … and {more} more") } else { String::new() }
    )
}

/// The applied data both actions journal.
pub fn applied(server: &str, sessions: &[Straggler]) -> serde_json::Value {
    serde_json::json!({
        "server": server,
        "sessions": sessions.len(),
        "stragglers": sessions.iter().take(SHOWN).map(|s| serde_json::json!({
            "id": s.id, "role": s.role, "client": s.client,
            "application": s.application, "seconds": s.seconds.round(), "state": s.state,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(role: &str) -> Straggler {
        Straggler {
            id: 42,
            role: role.into(),
            client: "10.0.0.7:51234".into(),
            application: "billing-worker".into(),
            seconds: 125.0,
            since: "connected",
            state: "idle".into(),
        }
    }

    #[test]
    fn a_straggler_reads_as_who_from_where_and_since_when() {
        assert_eq!(
            session("app").describe(),
            "app from 10.0.0.7:51234 `billing-worker` (idle, connected for 2m5s; session 42)"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn above_max_fails_naming_them_and_a_wait_lets_them_go() {
        let noop = |_: Progress| {};
        let error = settle("old", 0, None, &noop, || async { Ok(vec![session("app")]) })
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("1 client session(s) still on old"),
            "{error}"
        );
        assert!(error.contains("app from 10.0.0.7:51234"), "{error}");
        let calls = std::cell::Cell::new(0);
        let gone = settle("old", 0, Some(Duration::from_secs(5)), &noop, || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move { Ok(if n < 3 { vec![session("app")] } else { vec![] }) }
        })
        .await
        .unwrap();
        assert!(gone.is_empty());
        assert_eq!(calls.get(), 3);
    }
}
