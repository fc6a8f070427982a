//! `pin`: the session settings every connection that copies, compares or
//! reads data runs under, whatever the server's, the database's or the
//! role's defaults — the ones pg_dump sets for its own session. Without them
//! a source whose `extra_float_digits` is 0 sends floats rounded to 15
//! digits, `IntervalStyle = sql_standard` sends `-3 1:00:08` for
//! `-3 days -01:00:08` (which the target reads as `-3 days +01:00:08`), and
//! `DateStyle = 'SQL, DMY'` sends `13/01/2025`, which a target reading MDY
//! refuses.

use anyhow::Context;
use tokio_postgres::Client;

use super::connect::{pg, Endpoint};

/// Settings that decide how values are written as text and read back
/// (COPY's text format, `::text`), and the timeouts a server's defaults could
/// use to end a long copy or checksum half-way.
///
/// Left alone: `search_path` (functions that CHECK constraints call run
/// under it, as the application expects; it changes how `regclass` values
/// print) and `session_replication_role` (set where needed).
pub const PINNED: &[(&str, &str)] = &[
    ("client_encoding", "UTF8"),
    ("standard_conforming_strings", "on"),
    ("TimeZone", "UTC"),
    ("DateStyle", "ISO, MDY"),
    ("IntervalStyle", "postgres"),
    // 3: the shortest text that reads back as the same float (PostgreSQL
    // 12+), 17 significant digits before.
    ("extra_float_digits", "3"),
    ("bytea_output", "hex"),
    // `money` is printed and read in the locale's format.
    ("lc_monetary", "C"),
    ("xmloption", "content"),
    // Row security would hide rows silently; off, a query it would filter fails.
    ("row_security", "off"),
    ("statement_timeout", "0"),
    ("lock_timeout", "0"),
    ("idle_in_transaction_session_timeout", "0"),
];

/// The `SET` statements of [`PINNED`], in one batch.
pub fn pin_sql() -> String {
    PINNED
        .iter()
        .map(|(name, value)| format!("SET {name} = '{value}';"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Applies [`PINNED`] to a session just opened (outside a transaction, so
/// the settings last as long as the session).
pub async fn pin(client: &Client, endpoint: &Endpoint) -> anyhow::Result<()> {
    client
        .batch_execute(&pin_sql())
        .await
        .map_err(pg)
        .with_context(|| format!("failed to set the session settings on {}", endpoint.label()))
}

/// Connects and pins the session.
pub async fn connect_pinned(endpoint: &Endpoint) -> anyhow::Result<Client> {
    let client = endpoint.connect().await?;
    pin(&client, endpoint).await?;
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_is_one_quoted_set() {
        let sql = pin_sql();
        assert_eq!(sql.matches("SET ").count(), PINNED.len());
        assert!(sql.contains("SET DateStyle = 'ISO, MDY';"));
        assert!(sql.contains("SET extra_float_digits = '3';"));
    }
}
