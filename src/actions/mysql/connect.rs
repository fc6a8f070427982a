//! Connections by `mysql://user:password@host:port/db` URL, with errors that
//! name the server but never the password.

use std::time::Duration;

use anyhow::{anyhow, Context};
use mysql_async::prelude::Queryable;

/// A server reached by URL, and how to name it in messages.
#[derive(Debug, Clone)]
pub struct Endpoint {
    opts: mysql_async::Opts,
    label: String,
}

impl Endpoint {
    pub fn parse(url: &str) -> anyhow::Result<Endpoint> {
        let opts = mysql_async::Opts::from_url(url)
            .map_err(|error| anyhow!("invalid MySQL URL: {error}"))?;
        let label = format!(
            "{}@{}:{}/{}",
            opts.user().unwrap_or("root"),
            opts.ip_or_hostname(),
            opts.tcp_port(),
            opts.db_name().unwrap_or("")
        );
        Ok(Endpoint { opts, label })
    }

    /// `user@host:port/db`, for messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The database the URL names ("" when none).
    pub fn db(&self) -> &str {
        self.opts.db_name().unwrap_or("")
    }

    pub fn host(&self) -> String {
        self.opts.ip_or_hostname().to_string()
    }

    pub fn port(&self) -> u16 {
        self.opts.tcp_port()
    }

    pub fn user(&self) -> &str {
        self.opts.user().unwrap_or("root")
    }

    /// The password, for handing to the server (CHANGE MASTER) — never to print.
    pub fn password(&self) -> &str {
        self.opts.pass().unwrap_or("")
    }

    /// The Unix socket the URL names (`?socket=/run/mysqld/mysqld.sock`), if any.
    pub fn socket(&self) -> Option<&str> {
        self.opts.socket()
    }

    /// The server runs on this machine (loopback or a socket): its data
    /// directory and CPUs are ours to look at.
    pub fn is_local(&self) -> bool {
        self.socket().is_some()
            || matches!(
                self.opts.ip_or_hostname(),
                "localhost" | "127.0.0.1" | "::1" | "[::1]"
            )
    }

    /// The same server without a default database (to create it, or to
    /// reach `_cutover`).
    pub fn without_db(&self) -> Endpoint {
        let opts = mysql_async::OptsBuilder::from_opts(self.opts.clone()).db_name(None::<String>);
        Endpoint {
            opts: opts.into(),
            label: self.label.clone(),
        }
    }

    pub async fn connect(&self) -> anyhow::Result<mysql_async::Conn> {
        let connect = mysql_async::Conn::new(self.opts.clone());
        match tokio::time::timeout(Duration::from_secs(10), connect).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(error)) => Err(anyhow!(
                "failed to connect to {}: {}",
                self.label,
                describe(&error)
            )),
            Err(_) => Err(anyhow!(
                "failed to connect to {}: no answer within 10s",
                self.label
            )),
        }
    }
}

/// The server's own message (`Access denied …`, `Unknown database …`), without
/// the driver's wrapping.
pub fn describe(error: &mysql_async::Error) -> String {
    match error {
        mysql_async::Error::Server(server) => format!("{} (error {})", server.message, server.code),
        other => other.to_string(),
    }
}

/// Runs a statement, naming the server on failure.
pub async fn exec(
    conn: &mut mysql_async::Conn,
    endpoint: &Endpoint,
    sql: &str,
) -> anyhow::Result<()> {
    conn.query_drop(sql)
        .await
        .map_err(|error| anyhow!("{}: {}", endpoint.label(), describe(&error)))
        .with_context(|| format!("failed to run `{sql}`"))
}

/// `user@host:port/db` of a URL, for describing steps ("?" when it does not parse).
pub fn label(url: &str) -> String {
    Endpoint::parse(url)
        .map(|e| e.label().to_string())
        .unwrap_or_else(|_| "?".into())
}
