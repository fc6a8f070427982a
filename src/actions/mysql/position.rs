//! Where the source's binary log stood when `mysql.copy` took its snapshot,
//! kept on the target (database `_cutover`) so `mysql.replicate` starts
//! replication exactly there. A copy resumed after a crash took more than one
//! snapshot: the first and the last position are both kept, and replication
//! replays from the first idempotently until it has passed the last.

use mysql_async::prelude::Queryable;
use serde::{Deserialize, Serialize};

use super::connect::{describe, Endpoint};

/// The database on the target holding cutover's own bookkeeping.
pub const INTERNAL_DB: &str = "_cutover";

/// A position in the source's binary log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinlogPosition {
    /// Binary log file, e.g. `mariadb-bin.000003`.
    pub file: String,
    /// Byte offset in `file`.
    pub pos: u64,
    /// The same point as a GTID position (MariaDB `gtid_binlog_pos`, MySQL
    /// `gtid_executed`), when the server has GTIDs.
    pub gtid: Option<String>,
}

impl std::fmt::Display for BinlogPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.pos)?;
        if let Some(gtid) = self.gtid.as_deref().filter(|g| !g.is_empty()) {
            write!(f, " (GTID {gtid})")?;
        }
        Ok(())
    }
}

/// What `mysql.copy` recorded on the target for one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCopy {
    /// The source, as `user@host:port/db` (no password).
    pub source: String,
    /// The first snapshot's position; None when the source had no binary log.
    pub first: Option<BinlogPosition>,
    /// The last snapshot's position (equal to `first` unless the copy was resumed).
    pub last: Option<BinlogPosition>,
    /// The copy finished.
    pub done: bool,
}

fn fail(endpoint: &Endpoint) -> impl Fn(mysql_async::Error) -> anyhow::Error + '_ {
    move |error| anyhow::anyhow!("{}: {}", endpoint.label(), describe(&error))
}

/// True when the server is MariaDB (GTIDs, syntax and variables differ from MySQL's).
pub async fn is_mariadb(conn: &mut mysql_async::Conn, endpoint: &Endpoint) -> anyhow::Result<bool> {
    let version: Option<String> = conn
        .query_first("SELECT VERSION()")
        .await
        .map_err(fail(endpoint))?;
    Ok(version
        .unwrap_or_default()
        .to_lowercase()
        .contains("mariadb"))
}

/// Whether the server writes a binary log (`log_bin`).
pub async fn binlog_enabled(
    conn: &mut mysql_async::Conn,
    endpoint: &Endpoint,
) -> anyhow::Result<bool> {
    let log_bin: Option<(String, String)> = conn
        .query_first("SHOW GLOBAL VARIABLES LIKE 'log_bin'")
        .await
        .map_err(fail(endpoint))?;
    Ok(matches!(log_bin, Some((_, ref v)) if v.eq_ignore_ascii_case("ON") || v == "1"))
}

/// The source's binary log position now, None when it writes none (`log_bin`
/// off). Without a lock the file/offset and the GTID position are two reads
/// a write may fall between: for waiting on (catch up), not for snapshots.
pub async fn current(
    conn: &mut mysql_async::Conn,
    endpoint: &Endpoint,
) -> anyhow::Result<Option<BinlogPosition>> {
    if !binlog_enabled(conn, endpoint).await? {
        return Ok(None);
    }
    let mariadb = is_mariadb(conn, endpoint).await?;
    under_lock(conn, endpoint, mariadb).await.map(Some)
}

/// The binary log position now, read while a global read lock holds every
/// write back (so it is exactly the position of snapshots taken under it).
/// Quick: nothing here reads the binary log itself.
pub async fn under_lock(
    conn: &mut mysql_async::Conn,
    endpoint: &Endpoint,
    mariadb: bool,
) -> anyhow::Result<BinlogPosition> {
    let (file, pos) = master_status(conn, endpoint).await?;
    let variable = if mariadb {
        "SELECT @@GLOBAL.gtid_binlog_pos"
    } else {
        "SELECT @@GLOBAL.gtid_executed"
    };
    let gtid = conn
        .query_first::<Option<String>, _>(variable)
        .await
        .ok()
        .flatten()
        .flatten()
        .filter(|g| !g.is_empty());
    Ok(BinlogPosition { file, pos, gtid })
}

/// The binary log position of the snapshot this connection's transaction
/// holds (MariaDB's `binlog_snapshot_*`), with its GTID position — no lock
/// needed. Reading the GTID (`BINLOG_GTID_POS`) scans the binlog file up to
/// the position: do it outside any lock.
pub async fn of_snapshot(
    conn: &mut mysql_async::Conn,
    endpoint: &Endpoint,
) -> anyhow::Result<BinlogPosition> {
    let rows: Vec<(String, String)> = conn
        .query("SHOW SESSION STATUS LIKE 'binlog_snapshot_%'")
        .await
        .map_err(fail(endpoint))?;
    let get = |name: &str| {
        rows.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let (file, pos) = match (get("binlog_snapshot_file"), get("binlog_snapshot_position")) {
        (Some(file), Some(pos)) if !file.is_empty() => (file, pos.parse().unwrap_or(0)),
        _ => master_status(conn, endpoint).await?,
    };
    let gtid = conn
        .exec_first::<Option<String>, _, _>("SELECT BINLOG_GTID_POS(?, ?)", (&file, pos))
        .await
        .map_err(fail(endpoint))?
        .flatten()
        .filter(|g| !g.is_empty());
    Ok(BinlogPosition { file, pos, gtid })
}

async fn master_status(
    conn: &mut mysql_async::Conn,
    endpoint: &Endpoint,
) -> anyhow::Result<(String, u64)> {
    let row: Option<mysql_async::Row> = conn
        .query_first("SHOW MASTER STATUS")
        .await
        .map_err(fail(endpoint))?;
    let row = row.ok_or_else(|| {
        anyhow::anyhow!(
            "{}: SHOW MASTER STATUS returned nothing although log_bin is on",
            endpoint.label()
        )
    })?;
    let file: String = row.get(0).unwrap_or_default();
    let pos: u64 = row.get(1).unwrap_or(0);
    Ok((file, pos))
}

/// Creates `_cutover` and its tables on the target if they are missing.
pub async fn ensure_internal(
    conn: &mut mysql_async::Conn,
    endpoint: &Endpoint,
) -> anyhow::Result<()> {
    conn.query_drop(format!(
        "CREATE DATABASE IF NOT EXISTS `{INTERNAL_DB}`;
         CREATE TABLE IF NOT EXISTS `{INTERNAL_DB}`.copy_position (
           db VARCHAR(64) NOT NULL PRIMARY KEY, source VARCHAR(255) NOT NULL,
           first_pos TEXT NULL, last_pos TEXT NULL, done TINYINT NOT NULL DEFAULT 0,
           updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP) ENGINE=InnoDB;
         CREATE TABLE IF NOT EXISTS `{INTERNAL_DB}`.copy_progress (
           db VARCHAR(64) NOT NULL, item VARCHAR(255) NOT NULL, `rows` BIGINT NULL, bytes BIGINT NULL, detail TEXT NULL,
           done_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, PRIMARY KEY (db, item)) ENGINE=InnoDB"
    ))
    .await
    .map_err(fail(endpoint))
}

fn encode(position: &Option<BinlogPosition>) -> Option<String> {
    position
        .as_ref()
        .map(|p| serde_json::to_string(p).unwrap_or_default())
}

fn decode(text: Option<String>) -> Option<BinlogPosition> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

/// Records a snapshot's position for `db`: the first one becomes `first`,
/// every one becomes `last`.
pub async fn record_snapshot(
    conn: &mut mysql_async::Conn,
    endpoint: &Endpoint,
    db: &str,
    source: &str,
    position: &Option<BinlogPosition>,
) -> anyhow::Result<()> {
    let text = encode(position);
    conn.exec_drop(
        format!(
            "INSERT INTO `{INTERNAL_DB}`.copy_position (db, source, first_pos, last_pos, done) VALUES (?, ?, ?, ?, 0)
             ON DUPLICATE KEY UPDATE last_pos = VALUES(last_pos), source = VALUES(source), done = 0"
        ),
        (db, source, &text, &text),
    )
    .await
    .map_err(fail(endpoint))
}

/// Forgets an earlier copy's positions of `db`: a copy starting afresh.
pub async fn forget(
    conn: &mut mysql_async::Conn,
    endpoint: &Endpoint,
    db: &str,
) -> anyhow::Result<()> {
    conn.exec_drop(
        format!("DELETE FROM `{INTERNAL_DB}`.copy_position WHERE db = ?"),
        (db,),
    )
    .await
    .map_err(fail(endpoint))
}

/// Marks the copy of `db` finished.
pub async fn record_done(
    conn: &mut mysql_async::Conn,
    endpoint: &Endpoint,
    db: &str,
) -> anyhow::Result<()> {
    conn.exec_drop(
        format!("UPDATE `{INTERNAL_DB}`.copy_position SET done = 1 WHERE db = ?"),
        (db,),
    )
    .await
    .map_err(fail(endpoint))
}

/// What a copy recorded for `db` on this target, if any.
pub async fn recorded(
    conn: &mut mysql_async::Conn,
    endpoint: &Endpoint,
    db: &str,
) -> anyhow::Result<Option<RecordedCopy>> {
    let exists: Option<u64> = conn
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = 'copy_position'",
            (INTERNAL_DB,),
        )
        .await
        .map_err(fail(endpoint))?;
    if exists.unwrap_or(0) == 0 {
        return Ok(None);
    }
    let row: Option<(String, Option<String>, Option<String>, u8)> = conn
        .exec_first(
            format!("SELECT source, first_pos, last_pos, done FROM `{INTERNAL_DB}`.copy_position WHERE db = ?"),
            (db,),
        )
        .await
        .map_err(fail(endpoint))?;
    Ok(row.map(|(source, first, last, done)| RecordedCopy {
        source,
        first: decode(first),
        last: decode(last),
        done: done != 0,
    }))
}
