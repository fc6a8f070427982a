//! `describe`: a tokio-postgres error as the operator reads it — the
//! server's message with its SQLSTATE, or the client's own with its causes.

use anyhow::anyhow;

/// The server's message with its SQLSTATE, or the client's for errors the
/// server never saw (refused, timed out).
pub fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        if let Some(detail) = db.detail() {
            text.push_str(&format!("; {detail}"));
        }
        if let Some(hint) = db.hint() {
            text.push_str(&format!(" (hint: {hint})"));
        }
        return text;
    }
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        let line = inner.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        cause = inner.source();
    }
    text
}

/// Turns a tokio-postgres error into an anyhow error with its SQLSTATE.
pub fn pg(error: tokio_postgres::Error) -> anyhow::Error {
    anyhow!(describe(&error))
}
