//! What `postgres.health` and `mysql.health` share: the connection limit's
//! range, the lock-wait line and limit, and one error listing every limit
//! exceeded. Each engine only says how to read its figures.

use anyhow::anyhow;

use crate::actions::{Progress, StepContext};

/// `max_connections_pct` is a percentage.
pub fn check_pct(pct: f64) -> anyhow::Result<()> {
    if (0.0..=100.0).contains(&pct) {
        Ok(())
    } else {
        Err(anyhow!(
            "`max_connections_pct: {pct}` must be between 0 and 100"
        ))
    }
}

/// Reports the lock waits (`what`: `session(s)` or `transaction(s)`) and
/// adds to `exceeded` when there are more than `max`.
pub fn lock_waits(
    cx: &StepContext<'_>,
    lines: &[String],
    max: u32,
    what: &str,
    exceeded: &mut Vec<String>,
) {
    cx.report(Progress::Output(format!(
        "lock waits   {}{}",
        lines.len(),
        if lines.is_empty() {
            String::new()
        } else {
            format!(": {}", lines.join("; "))
        }
    )));
    if lines.len() as u64 > u64::from(max) {
        exceeded.push(format!(
            "{} {what} wait on locks, more than max_lock_waits {max}: {}",
            lines.len(),
            lines.join("; ")
        ));
    }
}

/// Every limit exceeded, in one error; Ok when none was.
pub fn verdict(server: &str, exceeded: &[String]) -> anyhow::Result<()> {
    if exceeded.is_empty() {
        return Ok(());
    }
    Err(anyhow!(
        "{server} is not healthy:\n  - {}",
        exceeded.join("\n  - ")
    ))
}
