//! A MySQL/MariaDB replica's own view of its replay: both threads running,
//! `Seconds_Behind_Master` 0 and every event read from the source executed.

use super::channel::Dialect;
use super::connect::Endpoint;
use crate::actions::shared::replica_lag::LagReading;

/// RDS read replicas (and `CALL mysql.rds_set_external_master`) use the
/// unnamed default channel.
const RDS_CHANNEL: &str = "";

/// Reads the default channel's status on the replica at `url`.
pub async fn read(url: &str) -> anyhow::Result<LagReading> {
    let endpoint = Endpoint::parse(url)?;
    let mut conn = endpoint.connect().await?;
    let dialect = Dialect::detect(&mut conn, &endpoint).await?;
    let status = dialect.status(&mut conn, &endpoint, RDS_CHANNEL).await?;
    let _ = conn.disconnect().await;
    let Some(status) = status else {
        return Ok(LagReading {
            caught_up: true,
            shown: "not a replica (promoted already)".into(),
        });
    };
    let replayed = status.read_file == status.exec_file && status.read_pos == status.exec_pos;
    let caught_up = status.running() && status.seconds_behind == Some(0) && replayed;
    let shown = if !status.running() {
        let error = [status.io_error.as_str(), status.sql_error.as_str()]
            .into_iter()
            .filter(|e| !e.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        format!(
            "replication is not running (I/O {}, SQL {}{})",
            status.io_running,
            status.sql_running,
            if error.is_empty() {
                String::new()
            } else {
                format!(": {error}")
            }
        )
    } else if replayed {
        format!("{} behind", status.seconds_behind_text())
    } else {
        format!(
            "{} behind, executed {}:{} of {}:{} read",
            status.seconds_behind_text(),
            status.exec_file,
            status.exec_pos,
            status.read_file,
            status.read_pos
        )
    };
    Ok(LagReading { caught_up, shown })
}
