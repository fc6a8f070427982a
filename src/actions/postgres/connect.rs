//! `Endpoint`: a database named by URL — parsed once, connected with a
//! timeout, and described as `user@host:port/db` (never with its password) in
//! every message. Errors carry the server's own message and SQLSTATE.

use std::time::Duration;

use anyhow::{anyhow, Context};
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};

/// Used when the URL has no `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A database to connect to.
#[derive(Debug, Clone)]
pub struct Endpoint {
    config: Config,
    label: String,
}

impl Endpoint {
    /// Parses a `postgres://` URL (or a `key=value` string). The error never
    /// repeats the text: it may hold a password.
    pub fn parse(url: &str) -> anyhow::Result<Endpoint> {
        let mut endpoint = Self::as_the_application(url)?;
        // A frozen database (`postgres.read_only`) makes sessions read-only by
        // default; cutover's own sessions must still be able to thaw it.
        let options = match endpoint.config.get_options() {
            Some(o) => format!("{o} -c default_transaction_read_only=off"),
            None => "-c default_transaction_read_only=off".to_string(),
        };
        endpoint.config.options(&options);
        Ok(endpoint)
    }

    /// A session as the application gets it: the database's own defaults
    /// (read-only while frozen), nothing overridden. For checks.
    pub fn as_the_application(url: &str) -> anyhow::Result<Endpoint> {
        let mut config: Config = url
            .parse()
            .map_err(|error: tokio_postgres::Error| anyhow!("invalid PostgreSQL URL: {error}"))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("cutover");
        }
        let label = config_label(&config);
        Ok(Endpoint { config, label })
    }

    /// `user@host:port/db`, for messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn dbname(&self) -> &str {
        self.config
            .get_dbname()
            .or_else(|| self.config.get_user())
            .unwrap_or("postgres")
    }

    pub fn user(&self) -> &str {
        self.config.get_user().unwrap_or("postgres")
    }

    /// True when the server runs on this machine (loopback or a unix socket).
    pub fn is_local(&self) -> bool {
        self.config.get_hosts().iter().all(|host| match host {
            Host::Tcp(name) => matches!(name.as_str(), "localhost" | "127.0.0.1" | "::1"),
            Host::Unix(_) => true,
        })
    }

    /// Connects; the connection is driven by a task that ends with the client.
    pub async fn connect(&self) -> anyhow::Result<Client> {
        let (client, connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|error| anyhow!(describe(&error)))
            .with_context(|| format!("failed to connect to {}", self.label))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    /// The libpq environment for `pg_dump`, `pg_restore` and `psql`: the
    /// password goes through `PGPASSWORD`, never the command line.
    pub fn libpq_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("PGDATABASE", self.dbname().to_string()),
            ("PGUSER", self.user().to_string()),
            ("PGAPPNAME", "cutover".to_string()),
            (
                "PGOPTIONS",
                "-c default_transaction_read_only=off".to_string(),
            ),
        ];
        if let Some(host) = self.config.get_hosts().first() {
            env.push((
                "PGHOST",
                match host {
                    Host::Tcp(name) => name.clone(),
                    Host::Unix(path) => path.display().to_string(),
                },
            ));
        }
        if let Some(port) = self.config.get_ports().first() {
            env.push(("PGPORT", port.to_string()));
        }
        if let Some(password) = self.config.get_password() {
            env.push(("PGPASSWORD", String::from_utf8_lossy(password).into_owned()));
        }
        if let Some(timeout) = self.config.get_connect_timeout() {
            env.push(("PGCONNECT_TIMEOUT", timeout.as_secs().max(1).to_string()));
        }
        env
    }

    /// A libpq connection string for a subscription (`CREATE SUBSCRIPTION …
    /// CONNECTION`), password included: it is stored in the subscriber's catalog.
    pub fn conninfo(&self) -> String {
        let mut parts = Vec::new();
        for (key, value) in self.libpq_env() {
            let key = match key {
                "PGHOST" => "host",
                "PGPORT" => "port",
                "PGUSER" => "user",
                "PGDATABASE" => "dbname",
                "PGPASSWORD" => "password",
                "PGCONNECT_TIMEOUT" => "connect_timeout",
                _ => continue,
            };
            parts.push(format!("{key}={}", conninfo_quote(&value)));
        }
        parts.join(" ")
    }
}

fn conninfo_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn config_label(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres");
    let db = config.get_dbname().unwrap_or(user);
    format!("{user}@{host}:{port}/{db}")
}

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

/// Quotes an identifier the way `quote_ident` does.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string literal.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `user@host:port/db`, or a placeholder for a URL that does not parse (the
/// step fails on it later, with the reason).
pub fn label(url: &str) -> String {
    match Endpoint::parse(url) {
        Ok(endpoint) => endpoint.label().to_string(),
        // `plan` shows an unset variable as `<unset NAME>`: keep it readable.
        Err(_) if url.starts_with('<') && !url.contains('@') => url.to_string(),
        Err(_) => "<invalid URL>".to_string(),
    }
}
