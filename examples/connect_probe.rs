//! A connection timer for the TLS benchmark: opens `N` sessions one after
//! another through cutover's own `Endpoint::connect` (so `sslmode` and the
//! rest of the URL mean what they mean in a playbook), runs `SELECT 1` on
//! each, and prints the median and 90th percentile of connect + query, in ms.
//!
//! `cargo run --release --example connect_probe -- URL [N]`

use std::time::Instant;

use cutover::actions::postgres::Endpoint;

fn main() {
    let mut args = std::env::args().skip(1);
    let url = args.next().expect("usage: connect_probe URL [N]");
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(200);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let endpoint = Endpoint::parse(&url).expect("a PostgreSQL URL");
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let started = Instant::now();
            let client = endpoint.connect().await.expect("connect");
            client.simple_query("SELECT 1").await.expect("SELECT 1");
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            drop(client);
        }
        times.sort_by(f64::total_cmp);
        let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
        println!("{:.2} {:.2}", at(0.5), at(0.9));
    });
}
