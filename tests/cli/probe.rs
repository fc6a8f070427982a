//! An application's writes, as the application saw them: a client that
//! commits a row through an address every 10 ms and remembers each commit the
//! database acknowledged, when, and which server answered.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One acknowledged commit.
#[derive(Clone, Debug)]
pub struct Ack {
    pub id: i64,
    pub at: Instant,
    /// The port of the server that committed it (`inet_server_port()`).
    pub port: i32,
}

/// A client that commits a row through `url` every 10 ms, reconnecting on any
/// error, and remembers what the database confirmed.
pub struct Probe {
    stop: Arc<AtomicBool>,
    committed: Arc<Mutex<Vec<Ack>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Probe {
    pub fn start(url: String) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let committed = Arc::new(Mutex::new(Vec::new()));
        let (flag, seen) = (stop.clone(), committed.clone());
        let handle = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let deadline = Instant::now() + Duration::from_secs(120);
                let mut client: Option<tokio_postgres::Client> = None;
                while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                    if client.as_ref().is_none_or(|c| c.is_closed()) {
                        client = match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
                            Ok((c, connection)) => {
                                tokio::spawn(connection);
                                Some(c)
                            }
                            Err(_) => None,
                        };
                    }
                    if let Some(c) = &client {
                        match c
                            .query_one(
                                "INSERT INTO probe DEFAULT VALUES RETURNING id, inet_server_port()",
                                &[],
                            )
                            .await
                        {
                            Ok(row) => seen.lock().unwrap().push(Ack {
                                id: row.get(0),
                                at: Instant::now(),
                                port: row.get(1),
                            }),
                            Err(_) => client = None,
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
        });
        Probe {
            stop,
            committed,
            handle: Some(handle),
        }
    }

    /// The commits acknowledged so far.
    pub fn acks(&self) -> Vec<Ack> {
        self.committed.lock().unwrap().clone()
    }

    pub fn finish(mut self) -> Vec<Ack> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().unwrap().join().unwrap();
        let committed = self.committed.lock().unwrap().clone();
        committed
    }
}
