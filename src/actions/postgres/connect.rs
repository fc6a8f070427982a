//! `Endpoint`: a database named by URL — parsed once, connected with a
//! timeout over TLS as `sslmode` says (handshake.rs), and described as
//! `user@host:port/db` (never with its password) in every message. Errors
//! carry the server's own message and SQLSTATE.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{anyhow, Context};
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config};

use super::conninfo;
pub use super::error::{describe, pg};
use super::tls::{PgTls, SslMode};
use crate::actions::shared::iam::Iam;

/// Used when the URL has no `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A database to connect to.
#[derive(Debug, Clone)]
pub struct Endpoint {
    config: Config,
    label: String,
    tls: PgTls,
    /// `auth=iam`: the password is a fresh RDS token for each connection.
    iam: Option<Iam>,
    /// Built at the first TLS attempt (files are read then, not when a
    /// playbook is planned); the error as text, since it is shown again.
    tls_config: Arc<OnceLock<Result<Arc<rustls::ClientConfig>, String>>>,
    /// The token of the latest connection, for the client tools started
    /// after it (a token is checked only when a session starts).
    token: Arc<Mutex<Option<String>>>,
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

    /// A session that cannot write, whatever the database's defaults: for
    /// measuring (`Action::measure`), which must never change a server.
    pub fn read_only(url: &str) -> anyhow::Result<Endpoint> {
        let mut endpoint = Self::as_the_application(url)?;
        let options = match endpoint.config.get_options() {
            Some(o) => format!("{o} -c default_transaction_read_only=on"),
            None => "-c default_transaction_read_only=on".to_string(),
        };
        endpoint.config.options(&options);
        Ok(endpoint)
    }

    /// A session as the application gets it: the database's own defaults
    /// (read-only while frozen), nothing overridden. For checks.
    pub fn as_the_application(url: &str) -> anyhow::Result<Endpoint> {
        Self::with_env(url, |var| std::env::var(var).ok())
    }

    /// As `as_the_application`, with the `PGSSL*` variables read from `env`.
    fn with_env(url: &str, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Endpoint> {
        let (rest, taken) = conninfo::split(url)?;
        let mut config: Config = rest
            .parse()
            .map_err(|error: tokio_postgres::Error| anyhow!("invalid PostgreSQL URL: {error}"))?;
        let mut tls = PgTls::from_keys(&taken, env)?;
        let iam = iam_of(&config, &taken, &mut tls)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("cutover");
        }
        let label = config_label(&config);
        Ok(Endpoint {
            config,
            label,
            tls,
            iam,
            tls_config: Arc::default(),
            token: Arc::default(),
        })
    }

    /// The `sslmode` in force for this server (unix sockets never use TLS, as in libpq).
    pub fn ssl_mode(&self) -> SslMode {
        let all_sockets = !self.config.get_hosts().is_empty()
            && self
                .config
                .get_hosts()
                .iter()
                .all(|h| matches!(h, Host::Unix(_)));
        if all_sockets {
            SslMode::Disable
        } else {
            self.tls.mode()
        }
    }

    /// True with `auth=iam`.
    pub fn uses_iam(&self) -> bool {
        self.iam.is_some()
    }

    fn rustls_config(&self) -> anyhow::Result<Arc<rustls::ClientConfig>> {
        self.tls_config
            .get_or_init(|| {
                self.tls
                    .client()
                    .and_then(|client| client.config())
                    .map(Arc::new)
                    .map_err(|e| format!("{e:#}"))
            })
            .clone()
            .map_err(|e| anyhow!(e))
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
        let mut config = self.config.clone();
        if let Some(iam) = &self.iam {
            let token = iam
                .token()
                .await
                .with_context(|| format!("failed to connect to {}", self.label))?;
            config.password(token.as_bytes());
            *self.token.lock().unwrap_or_else(|e| e.into_inner()) = Some(token);
        }
        // tokio-postgres bounds only the TCP connect with `connect_timeout`: a
        // server that accepts and never answers would hold the TLS handshake
        // or the startup forever. The deadline covers the whole connect.
        let limit = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(CONNECT_TIMEOUT);
        let opened = match tokio::time::timeout(
            limit,
            super::handshake::open(&config, self.ssl_mode(), || self.rustls_config()),
        )
        .await
        {
            Ok(opened) => opened,
            Err(_) => Err(anyhow::anyhow!(
                "no answer within {} (`connect_timeout`; hint: the server accepted the connection but never spoke — is it hung, or is this the right port?)",
                crate::duration::format_duration(limit)
            )),
        };
        match opened {
            Ok(client) => Ok(client),
            Err(error) if self.iam.is_some() && error.to_string().contains("28P01") => Err(error
                .context("the server refused the IAM token (hint: `GRANT rds_iam TO` the user, and allow `rds-db:connect` on it to the AWS identity that signs)"))
            .with_context(|| format!("failed to connect to {}", self.label)),
            Err(error) => Err(error).with_context(|| format!("failed to connect to {}", self.label)),
        }
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
        if self.iam.is_some() {
            if let Some(token) = self.token.lock().unwrap_or_else(|e| e.into_inner()).clone() {
                env.push(("PGPASSWORD", token));
            }
        } else if let Some(password) = self.config.get_password() {
            env.push(("PGPASSWORD", String::from_utf8_lossy(password).into_owned()));
        }
        if let Some(timeout) = self.config.get_connect_timeout() {
            env.push(("PGCONNECT_TIMEOUT", timeout.as_secs().max(1).to_string()));
        }
        env.extend(self.tls.libpq_env());
        env
    }

    /// A libpq connection string for a subscription (`CREATE SUBSCRIPTION …
    /// CONNECTION`), password and TLS settings included: it is stored in the
    /// subscriber's catalog and used by the subscriber's server, so
    /// certificate paths are paths on that server.
    pub fn conninfo(&self) -> anyhow::Result<String> {
        if self.iam.is_some() {
            return Err(anyhow!(
                "{} uses `auth=iam`, whose tokens expire after 15 minutes, but a subscription keeps its connection string to reconnect for as long as it replicates (hint: give the source URL a password for a role with the `rds_replication` role)",
                self.label
            ));
        }
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
            parts.push(format!("{key}={}", conninfo::quote(&value)));
        }
        for (key, value) in self.tls.conninfo_keys() {
            parts.push(format!("{key}={}", conninfo::quote(&value)));
        }
        Ok(parts.join(" "))
    }
}

/// `auth=iam` (or `auth=password`, the default) and the `region` for it.
/// IAM needs TLS: without an `sslmode`, it is `require`.
fn iam_of(
    config: &Config,
    taken: &[(String, String)],
    tls: &mut PgTls,
) -> anyhow::Result<Option<Iam>> {
    let value = |key: &str| {
        taken
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    match value("auth") {
        None | Some("password") => return Ok(None),
        Some("iam") => {}
        Some(other) => {
            return Err(anyhow!(
                "invalid auth `{other}` (expected `password` or `iam`)"
            ))
        }
    }
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        _ => {
            return Err(anyhow!(
                "`auth=iam` needs a host name to sign the token for"
            ))
        }
    };
    if config.get_password().is_some() {
        return Err(anyhow!(
            "`auth=iam` signs the password itself: remove the one in the URL"
        ));
    }
    match tls.mode {
        None => tls.mode = Some(SslMode::Require),
        Some(mode) if !mode.requires_tls() => {
            return Err(anyhow!(
                "`auth=iam` sends its token as a cleartext password, so it needs TLS: use sslmode=require, verify-ca or verify-full, not `{}`",
                mode.as_str()
            ))
        }
        Some(_) => {}
    }
    Ok(Some(Iam {
        host,
        port: config.get_ports().first().copied().unwrap_or(5432),
        user: config.get_user().unwrap_or("postgres").to_string(),
        region: value("region").map(str::to_string),
    }))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> anyhow::Result<Endpoint> {
        Endpoint::with_env(url, |_| None)
    }

    #[test]
    fn tls_keys_reach_the_client_tools_and_the_subscription() {
        let endpoint =
            parse("postgres://app:pw@db.internal:5433/orders?sslmode=verify-full&sslrootcert=/etc/ca.pem&connect_timeout=3")
                .unwrap();
        assert_eq!(endpoint.ssl_mode(), SslMode::VerifyFull);
        assert_eq!(endpoint.label(), "app@db.internal:5433/orders");
        let env = endpoint.libpq_env();
        assert!(
            env.contains(&("PGSSLMODE", "verify-full".into())),
            "{env:?}"
        );
        assert!(
            env.contains(&("PGSSLROOTCERT", "/etc/ca.pem".into())),
            "{env:?}"
        );
        let conninfo = endpoint.conninfo().unwrap();
        assert!(
            conninfo.contains("sslmode='verify-full' sslrootcert='/etc/ca.pem'"),
            "{conninfo}"
        );
        assert!(conninfo.contains("password='pw'"), "{conninfo}");
        let keywords = parse("host=/run/postgresql dbname=orders sslmode=require").unwrap();
        assert_eq!(
            keywords.ssl_mode(),
            SslMode::Disable,
            "a socket never uses TLS"
        );
    }

    #[test]
    fn iam_needs_tls_a_host_and_no_password_and_cannot_be_subscribed_to() {
        let iam =
            parse("postgres://app@db.abc.eu-west-1.rds.amazonaws.com/orders?auth=iam").unwrap();
        assert!(iam.uses_iam());
        assert_eq!(iam.ssl_mode(), SslMode::Require);
        assert!(iam
            .conninfo()
            .unwrap_err()
            .to_string()
            .contains("rds_replication"));
        assert!(!iam.libpq_env().iter().any(|(k, _)| *k == "PGPASSWORD"));
        let error = |url: &str| parse(url).unwrap_err().to_string();
        assert!(error("postgres://app@db/orders?auth=iam&sslmode=prefer").contains("needs TLS"));
        assert!(error("postgres://app:pw@db/orders?auth=iam").contains("remove the one in the URL"));
        assert!(error("postgres://app@db/orders?auth=kerberos").contains("invalid auth `kerberos`"));
        assert!(!error("postgres://app:s3cret@db/orders?sslmode=bogus").contains("s3cret"));
    }
}
