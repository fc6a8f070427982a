//! `connect_pinned`: the session settings every connection that copies,
//! compares or reads data runs under, whatever the server's defaults (or its
//! `init_connect`) — the ones mariadb-dump sets for its own session. Without
//! them a TIMESTAMP reads in the server's time zone (a checksum between two
//! servers in different zones differs on every such table), `ANSI_QUOTES`
//! makes `SHOW CREATE TABLE` quote names with `"` (which a target without it
//! cannot parse), `PAD_CHAR_TO_FULL_LENGTH` pads CHAR values, and a server
//! that ignores the client's character set (`skip-character-set-client-handshake`)
//! sends text in its own.

use anyhow::anyhow;
use mysql_async::prelude::Queryable;

use super::connect::{describe, Endpoint};

/// The statement that pins a session:
///
/// - `NAMES utf8mb4` with an explicit collation: text in and out as
///   utf8mb4 (every character), compared the same way on both servers
///   (`SET NAMES` alone takes each server's own default collation);
/// - `time_zone = '+00:00'`: TIMESTAMPs read and written in UTC, no DST;
/// - `sql_mode`: no `ANSI_QUOTES`, `PIPES_AS_CONCAT`, `NO_BACKSLASH_ESCAPES`,
///   `PAD_CHAR_TO_FULL_LENGTH`, `EMPTY_STRING_IS_NULL` or strictness about
///   zero dates — what mariadb-dump's restore mode is: `NO_AUTO_VALUE_ON_ZERO`
///   keeps a zero in an AUTO_INCREMENT column a zero;
/// - `sql_quote_show_create = 1`: `SHOW CREATE` quotes every name;
/// - `autocommit = 1`: a statement outside an explicit transaction commits;
/// - MariaDB only (a comment MySQL skips): `max_statement_time = 0` (a server default would end a
///   long copy or checksum) and `explicit_defaults_for_timestamp = 1` (a
///   `TIMESTAMP NOT NULL` column created from `SHOW CREATE TABLE` stays
///   without the DEFAULT and ON UPDATE the server's OFF would add).
pub const PIN: &str = "SET NAMES utf8mb4 COLLATE utf8mb4_general_ci, \
    SESSION time_zone = '+00:00', \
    SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION', \
    SESSION sql_quote_show_create = 1, \
    SESSION autocommit = 1 \
    /*M!100108 , SESSION max_statement_time = 0, SESSION explicit_defaults_for_timestamp = 1 */";

/// Applies [`PIN`] to a session just opened.
pub async fn pin(conn: &mut mysql_async::Conn, endpoint: &Endpoint) -> anyhow::Result<()> {
    conn.query_drop(PIN).await.map_err(|error| {
        anyhow!(
            "{}: failed to set the session settings: {}",
            endpoint.label(),
            describe(&error)
        )
    })
}

/// Connects and pins the session.
pub async fn connect_pinned(endpoint: &Endpoint) -> anyhow::Result<mysql_async::Conn> {
    let mut conn = endpoint.connect().await?;
    pin(&mut conn, endpoint).await?;
    Ok(conn)
}
