//! A write probe for the downtime benchmark: commits a row through `URL` every
//! 10 ms, reconnecting on any error, until SIGTERM or `SECONDS` pass; then
//! prints how many commits it saw and the longest gap between two of them.
//!
//! `cargo run --release --example write_probe -- URL [SECONDS]`

use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let url = args.next().expect("usage: write_probe URL [SECONDS]");
    let limit = Duration::from_secs(args.next().and_then(|s| s.parse().ok()).unwrap_or(300));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("signal");
        let started = Instant::now();
        let mut commits: Vec<Instant> = Vec::new();
        let mut errors = 0u64;
        let mut client: Option<tokio_postgres::Client> = None;
        loop {
            if started.elapsed() > limit {
                break;
            }
            if client.as_ref().is_none_or(|c| c.is_closed()) {
                client = match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
                    Ok((c, connection)) => {
                        tokio::spawn(connection);
                        Some(c)
                    }
                    Err(error) => {
                        errors += 1;
                        eprintln!("{:?} connect: {error}", started.elapsed());
                        None
                    }
                };
            }
            if let Some(c) = &client {
                // The simple protocol: no prepared statement, so the probe
                // works through PgBouncer's transaction pooling too.
                match c.simple_query("INSERT INTO probe DEFAULT VALUES").await {
                    Ok(_) => commits.push(Instant::now()),
                    Err(error) => {
                        errors += 1;
                        eprintln!("{:?} commit: {error}", started.elapsed());
                        client = None;
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                _ = term.recv() => break,
            }
        }
        let gap = commits
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or_default();
        println!(
            "commits={} errors={} longest_gap_ms={}",
            commits.len(),
            errors,
            gap.as_millis()
        );
    });
}
