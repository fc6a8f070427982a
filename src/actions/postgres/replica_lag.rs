//! A PostgreSQL streaming replica's own view of its replay: WAL received but
//! not yet replayed, and whether the WAL receiver is streaming.

use anyhow::Context;

use super::connect::Endpoint;
use crate::actions::shared::replica_lag::LagReading;
use crate::actions::shared::units::human_bytes;

/// Reads `pg_last_wal_receive_lsn()` against `pg_last_wal_replay_lsn()` and
/// the receiver's status on the replica at `url`.
pub async fn read(url: &str) -> anyhow::Result<LagReading> {
    let endpoint = Endpoint::parse(url)?;
    let client = endpoint.connect().await?;
    let row = client
        .query_one(
            "SELECT pg_is_in_recovery(), \
                    COALESCE((pg_last_wal_receive_lsn() - pg_last_wal_replay_lsn())::bigint, 0), \
                    COALESCE((SELECT status FROM pg_stat_wal_receiver LIMIT 1), '')",
            &[],
        )
        .await
        .with_context(|| format!("failed to read the replay position on {}", endpoint.label()))?;
    let in_recovery: bool = row.get(0);
    let behind: i64 = row.get(1);
    let receiver: String = row.get(2);
    if !in_recovery {
        return Ok(LagReading {
            caught_up: true,
            shown: "not in recovery (promoted already)".into(),
        });
    }
    let streaming = receiver == "streaming";
    let behind = behind.max(0) as u64;
    Ok(LagReading {
        caught_up: streaming && behind == 0,
        shown: match (streaming, behind) {
            (true, 0) => "everything received is replayed".into(),
            (true, n) => format!("{} received, not replayed yet", human_bytes(n)),
            (false, n) => format!(
                "WAL receiver is {} ({} received, not replayed)",
                if receiver.is_empty() {
                    "not running"
                } else {
                    receiver.as_str()
                },
                human_bytes(n)
            ),
        },
    })
}
