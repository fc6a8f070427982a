//! `Canary`: the write canary of a run. It commits a numbered row every
//! `every` through the application's address on a thread of its own (a step
//! that blocks the engine's thread must not look like downtime), reconnects
//! on any error, and remembers when each commit was acknowledged. `finish`
//! stops it, looks for every acknowledged id on the verify URL, drops the
//! table, and returns the `Verdict`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};

use super::store::{Session, Store};
use super::verdict::{self, StepSpan, Verdict};
use crate::plan::CanarySpec;

/// Longest one commit may take before it counts as failed and the session is
/// replaced (a PgBouncer pause holds a commit this long at most).
const ATTEMPT_LIMIT: Duration = Duration::from_secs(5);

/// A running canary.
pub struct Canary {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Writes>,
    /// Every id acknowledged so far, in order, for the journal while it runs.
    acknowledged: Arc<Mutex<Vec<u64>>>,
    config: CanarySpec,
    /// The instant its milliseconds count from.
    started: Instant,
}

/// What the writing thread saw.
struct Writes {
    /// (id, acknowledged at) in commit order.
    acked: Vec<(u64, Instant)>,
    failed: u64,
    stopped: Instant,
}

/// How the end of a canary went: the verdict, or why it has none.
pub struct Checked {
    pub verdict: Result<Verdict, String>,
    /// Problems dropping the table (the verdict stands).
    pub cleanup: Option<String>,
}

impl Canary {
    /// Creates the table (so it exists before the first step moves data)
    /// and starts writing, numbering after `after` at least: the highest id an
    /// earlier process of the run journaled (its rows may be gone from the
    /// table — that is what the check must find, not reuse). Blocks until the
    /// table is there, or fails.
    pub fn start(config: &CanarySpec, after: u64) -> anyhow::Result<Canary> {
        let config = config.clone();
        let store = Store::parse(&config.url)?;
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let thread = {
            let stop = stop.clone();
            let shared = acknowledged.clone();
            let table = config.table.clone();
            let every = config.every;
            std::thread::Builder::new()
                .name("cutover-canary".into())
                .spawn(move || {
                    let runtime = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(runtime) => runtime,
                        Err(error) => {
                            let _ = ready_tx.send(Err(format!("no runtime: {error}")));
                            return Writes::empty();
                        }
                    };
                    runtime.block_on(async move {
                        let first = match store.prepare(&table).await {
                            Ok(top) => top.max(after) + 1,
                            Err(error) => {
                                let _ = ready_tx.send(Err(format!("{error:#}")));
                                return Writes::empty();
                            }
                        };
                        let _ = ready_tx.send(Ok(()));
                        write_until_stopped(&store, &table, every, first, &stop, &shared).await
                    })
                })
                .context("failed to start the canary's thread")?
        };
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                let _ = thread.join();
                return Err(anyhow!(error));
            }
            Err(_) => return Err(anyhow!("the canary's thread ended before it started")),
        }
        Ok(Canary {
            stop,
            thread,
            acknowledged,
            config,
            started: Instant::now(),
        })
    }

    /// The ids acknowledged after the first `from`, in order.
    pub fn acknowledged_since(&self, from: usize) -> Vec<u64> {
        let ids = self.acknowledged.lock().unwrap_or_else(|e| e.into_inner());
        ids.get(from..).map(<[u64]>::to_vec).unwrap_or_default()
    }

    /// After a go-back the writes belong on the old server: they are looked
    /// for through the application's address (now the old server again).
    pub fn verify_through_application(&mut self) {
        self.config.verify_url = self.config.url.clone();
    }

    /// Stops writing, checks every acknowledged write on the verify URL, drops
    /// the table unless kept. `timeline` holds the run's steps, in instants;
    /// `earlier`, ids an earlier process of the run acknowledged (journaled
    /// before it died), checked too.
    pub fn finish(
        self,
        timeline: &[(String, Instant, Option<Instant>)],
        earlier: &[u64],
    ) -> Checked {
        self.stop.store(true, Ordering::SeqCst);
        let writes = self.thread.join().unwrap_or_else(|_| Writes::empty());
        let base = self.started;
        let ms = |at: Instant| at.saturating_duration_since(base).as_millis() as u64;
        let spans: Vec<StepSpan> = timeline
            .iter()
            .map(|(step, start, end)| StepSpan {
                step: step.clone(),
                start_ms: ms(*start),
                end_ms: end.map(ms),
            })
            .collect();
        let mine: Vec<u64> = writes.acked.iter().map(|(id, _)| *id).collect();
        // This process numbers after every id in the table: the earlier ones are lower.
        let first_mine = mine.first().copied().unwrap_or(u64::MAX);
        let acked_ids: Vec<u64> = earlier
            .iter()
            .copied()
            .filter(|id| *id < first_mine)
            .chain(mine.iter().copied())
            .collect();
        let acked_at: Vec<u64> = writes.acked.iter().map(|(_, at)| ms(*at)).collect();
        let stopped_ms = ms(writes.stopped);
        let config = self.config.clone();
        // On a thread of its own: this runs inside the engine's runtime, and
        // a runtime cannot block on another from within.
        let checked = std::thread::scope(|scope| {
            scope
                .spawn(|| check(&config, &acked_ids))
                .join()
                .unwrap_or_else(|_| (Err("the check panicked".into()), None))
        });
        let verdict = checked.0.map(|present| {
            let lost = verdict::missing(&acked_ids, &present);
            let (gap_start_ms, longest_gap_ms) =
                verdict::longest_gap(&acked_at, stopped_ms).unwrap_or((0, stopped_ms));
            Verdict {
                acknowledged: acked_ids.len() as u64,
                missing: lost.len() as u64,
                first_missing: lost.iter().take(verdict::FIRST_MISSING).copied().collect(),
                longest_gap_ms,
                gap_start_ms,
                gap_steps: verdict::overlapping(
                    &spans,
                    gap_start_ms,
                    gap_start_ms + longest_gap_ms,
                    stopped_ms,
                ),
                failed_attempts: writes.failed,
            }
        });
        Checked {
            verdict,
            cleanup: checked.1,
        }
    }
}

impl Writes {
    fn empty() -> Writes {
        Writes {
            acked: Vec::new(),
            failed: 0,
            stopped: Instant::now(),
        }
    }
}

/// The loop of the writing thread: one commit per `every`, a new session
/// after any error.
async fn write_until_stopped(
    store: &Store,
    table: &str,
    every: Duration,
    first: u64,
    stop: &AtomicBool,
    shared: &Mutex<Vec<u64>>,
) -> Writes {
    let mut writes = Writes::empty();
    let mut session: Option<Session> = None;
    let mut next = first;
    while !stop.load(Ordering::SeqCst) {
        let began = Instant::now();
        if session.is_none() {
            session = tokio::time::timeout(ATTEMPT_LIMIT, store.open())
                .await
                .ok()
                .and_then(Result::ok);
        }
        let acknowledged = match session.as_mut() {
            Some(open) => {
                // Each attempt takes a fresh id: a commit whose answer was
                // lost may still have happened, and is simply not checked.
                let id = next;
                next += 1;
                match tokio::time::timeout(ATTEMPT_LIMIT, open.insert(table, id)).await {
                    Ok(Ok(())) => Some(id),
                    _ => None,
                }
            }
            None => None,
        };
        match acknowledged {
            Some(id) => {
                writes.acked.push((id, Instant::now()));
                shared.lock().unwrap_or_else(|e| e.into_inner()).push(id);
            }
            None => {
                writes.failed += 1;
                session = None;
            }
        }
        if let Some(rest) = every.checked_sub(began.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }
    writes.stopped = Instant::now();
    writes
}

/// On a runtime of its own: the ids present on the verify URL, then the
/// drop (unless kept) on both URLs.
fn check(config: &CanarySpec, acked: &[u64]) -> (Result<Vec<u64>, String>, Option<String>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return (Err(format!("no runtime: {error}")), None),
    };
    runtime.block_on(async {
        let present = match Store::parse(&config.verify_url) {
            Ok(verify) => match (acked.first(), acked.last()) {
                (Some(low), Some(high)) => verify
                    .present(&config.table, *low, *high)
                    .await
                    .map_err(|e| format!("{e:#}")),
                _ => Ok(Vec::new()),
            },
            Err(error) => Err(format!("{error:#}")),
        };
        if config.keep {
            return (present, None);
        }
        let mut problems = Vec::new();
        let mut urls = vec![&config.verify_url];
        if config.url != config.verify_url {
            urls.push(&config.url);
        }
        for url in urls {
            let dropped = match Store::parse(url) {
                Ok(store) => store.drop_table(&config.table).await,
                Err(error) => Err(error),
            };
            if let Err(error) = dropped {
                problems.push(format!("{error:#}"));
            }
        }
        let cleanup = (!problems.is_empty()).then(|| problems.join("; "));
        (present, cleanup)
    })
}
