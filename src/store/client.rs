//! `Store`: one session with the shared state database, kept for the whole
//! command. Its connection is driven on a runtime of its own (one thread), so
//! the journal's writer — synchronous, called from inside the run's own
//! runtime — can wait for a row to be committed before the run goes on.
//!
//! One session, never reconnected: the advisory locks of a run live with it,
//! so a session that breaks has lost them, and every later write fails — the
//! run stops rather than going on unjournaled or unlocked.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use tokio_postgres::Client;

use crate::actions::postgres::{describe_error, Endpoint};

/// Longest wait for one statement: a store that stops answering (a lost
/// network, no RST) must stop the run, not hang it.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    client: Arc<Client>,
    runtime: Option<tokio::runtime::Runtime>,
    label: String,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // May run inside another runtime's task: never block there.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Store {
    /// Connects to the store at `url` (a `postgres://` URL; TLS as its
    /// `sslmode` says). Errors name the store without its password.
    pub fn connect(url: &str) -> anyhow::Result<Store> {
        let endpoint = Endpoint::parse(url).context("--state: not a PostgreSQL URL")?;
        let label = endpoint.label().to_string();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("cutover-store")
            .enable_all()
            .build()
            .context("failed to start the store's runtime")?;
        let (sender, receiver) = std::sync::mpsc::channel();
        runtime.spawn(async move {
            let _ = sender.send(endpoint.connect().await);
        });
        let client = receiver
            .recv_timeout(STATEMENT_TIMEOUT)
            .map_err(|_| anyhow!("no answer from the state store {label}"))?
            .with_context(|| format!("failed to connect to the state store {label}"))?;
        let store = Store {
            inner: Arc::new(Inner {
                client: Arc::new(client),
                runtime: Some(runtime),
                label,
            }),
        };
        // A journal line is acted on once the store said it committed: a
        // database that acknowledges commits before they are on disk would
        // let a crash of the store take lines whose effects happened.
        store.call("make its commits durable", |client| async move {
            client
                .batch_execute(
                    "DO $$ BEGIN IF current_setting('synchronous_commit') = 'off' THEN
                         SET synchronous_commit = on; END IF; END $$",
                )
                .await
        })?;
        Ok(store)
    }

    /// `user@host:port/db`: the store, for messages (never its password).
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    /// Runs `work` with the session and waits for it (at most
    /// `STATEMENT_TIMEOUT`); `what` names it in the error.
    pub fn call<T, F, Fut>(&self, what: &str, work: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Client>) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>> + Send + 'static,
    {
        let (sender, receiver) = std::sync::mpsc::channel();
        let future = work(self.inner.client.clone());
        self.runtime().spawn(async move {
            let _ = sender.send(future.await);
        });
        let fail = |reason: String| {
            anyhow!(
                "the state store {} failed to {what}: {reason}",
                self.inner.label
            )
        };
        match receiver.recv_timeout(STATEMENT_TIMEOUT) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(fail(describe_error(&error))),
            Err(_) => Err(fail(format!(
                "no answer within {}",
                crate::duration::format_duration(STATEMENT_TIMEOUT)
            ))),
        }
    }

    /// Starts `work` in the background on the store's runtime (the heartbeat).
    pub fn spawn<F, Fut>(&self, work: F)
    where
        F: FnOnce(Arc<Client>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.runtime().spawn(work(self.inner.client.clone()));
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.inner
            .runtime
            .as_ref()
            .expect("the runtime lives until the store is dropped")
    }
}
