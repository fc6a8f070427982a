//! Connections by `mysql://user:password@host:port/db` URL, over TLS as
//! `ssl-mode` says (tls.rs), with errors that name the server but never the
//! password.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Context};
use mysql_async::prelude::Queryable;

use super::probe::{self, ProbeError};
use super::tls::{MyTls, SslMode};
use crate::actions::shared::iam::Iam;
use crate::actions::shared::{query, tls as shared_tls, tls_error};

/// A server reached by URL, and how to name it in messages.
#[derive(Debug, Clone)]
pub struct Endpoint {
    opts: mysql_async::Opts,
    label: String,
    tls: MyTls,
    /// `auth=iam`: the password is a fresh RDS token for each connection.
    iam: Option<Iam>,
    /// The token of the latest connection, for the client programs started after it.
    token: Arc<Mutex<Option<String>>>,
    /// The deadline of a whole connect (TCP, TLS, authentication): the URL's
    /// `connect_timeout` in seconds, else `CONNECT_TIMEOUT`.
    connect_timeout: Duration,
}

/// Used when the URL has no `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl Endpoint {
    pub fn parse(url: &str) -> anyhow::Result<Endpoint> {
        let (rest, timeout) = query::take(url, &["connect_timeout", "connect-timeout"]);
        let connect_timeout = match timeout.last() {
            None => CONNECT_TIMEOUT,
            Some((key, value)) => match value.parse::<u64>() {
                Ok(seconds) if seconds > 0 => Duration::from_secs(seconds),
                // 0 means "wait forever" to the mysql client; a cutover never does.
                Ok(_) => CONNECT_TIMEOUT,
                Err(_) => {
                    return Err(anyhow!(
                        "invalid MySQL URL: `{key}` must be a number of seconds, not `{value}`"
                    ))
                }
            },
        };
        let (rest, taken) = query::take(&rest, super::tls::OWN_KEYS);
        let explicit_socket_choice = rest.contains("prefer_socket=");
        let opts = mysql_async::Opts::from_url(&rest)
            .map_err(|error| anyhow!("invalid MySQL URL: {error}"))?;
        let mut tls = MyTls::from_keys(&taken)?;
        let iam = iam_of(&opts, &taken, &mut tls)?;
        let mut builder = mysql_async::OptsBuilder::from_opts(opts);
        if tls.required() && !explicit_socket_choice {
            // The driver would move a loopback session onto the server's
            // socket, without TLS: asked for TLS, it gets TLS.
            builder = builder.prefer_socket(false);
        }
        let opts: mysql_async::Opts = builder.into();
        let label = format!(
            "{}@{}:{}/{}",
            opts.user().unwrap_or("root"),
            opts.ip_or_hostname(),
            opts.tcp_port(),
            opts.db_name().unwrap_or("")
        );
        Ok(Endpoint {
            opts,
            label,
            tls,
            iam,
            token: Arc::default(),
            connect_timeout,
        })
    }

    /// The TLS options, for the client programs and the replication channel.
    pub fn tls(&self) -> &MyTls {
        &self.tls
    }

    /// True with `auth=iam`.
    pub fn uses_iam(&self) -> bool {
        self.iam.is_some()
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

    /// The password, for handing to the server (CHANGE MASTER) or a client
    /// program — never to print. With `auth=iam`, the latest connection's token.
    pub fn password(&self) -> String {
        match &self.iam {
            Some(_) => self
                .token
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
                .unwrap_or_default(),
            None => self.opts.pass().unwrap_or("").to_string(),
        }
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
            ..self.clone()
        }
    }

    pub async fn connect(&self) -> anyhow::Result<mysql_async::Conn> {
        match tokio::time::timeout(self.connect_timeout, self.try_connect()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(error)) => Err(anyhow!("failed to connect to {}: {error:#}", self.label)),
            Err(_) => Err(anyhow!(
                "failed to connect to {}: no answer within {} (`connect_timeout`; hint: the server accepted the connection but never spoke — is it hung, or is this the right port?)",
                self.label,
                crate::duration::format_duration(self.connect_timeout)
            )),
        }
    }

    async fn try_connect(&self) -> anyhow::Result<mysql_async::Conn> {
        // mysql_async builds its rustls client without naming a provider.
        shared_tls::install_default_provider();
        let mut builder = mysql_async::OptsBuilder::from_opts(self.opts.clone());
        if let Some(iam) = &self.iam {
            let token = iam.token().await?;
            builder = builder
                .pass(Some(token.clone()))
                .enable_cleartext_plugin(true);
            *self.token.lock().unwrap_or_else(|e| e.into_inner()) = Some(token);
        }
        let mode = self.tls.mode();
        let name = match mode {
            SslMode::VerifyCa if self.socket().is_none() => {
                match probe::name_for(&self.host(), self.port(), &self.tls.client()).await {
                    Ok(name) => Some(name),
                    Err(ProbeError::NoTls) => return Err(self.no_tls(mode)),
                    Err(ProbeError::Other(error)) => return Err(error),
                }
            }
            _ => None,
        };
        let secured = builder.clone().ssl_opts(self.tls.ssl_opts(name));
        match mysql_async::Conn::new(secured).await {
            Ok(conn) => Ok(conn),
            // PREFERRED: a server without TLS says so before any credential is sent.
            Err(mysql_async::Error::Driver(
                mysql_async::DriverError::NoClientSslFlagFromServer,
            )) if mode == SslMode::Preferred => mysql_async::Conn::new(builder.ssl_opts(None))
                .await
                .map_err(|e| self.failure(&e, false)),
            Err(mysql_async::Error::Driver(
                mysql_async::DriverError::NoClientSslFlagFromServer,
            )) => Err(self.no_tls(mode)),
            Err(error) => Err(self.diagnose(&error, mode != SslMode::Disabled).await),
        }
    }

    fn no_tls(&self, mode: SslMode) -> anyhow::Error {
        anyhow!(
            "the server does not offer TLS (`have_ssl` is not YES: it has no `ssl_cert`/`ssl_key`), and ssl-mode={} requires it (hint: configure the server's certificate, or use ssl-mode=PREFERRED)",
            mode.as_str()
        )
    }

    /// A refused certificate is looked at again by cutover's own verifier,
    /// which names its subject and issuer.
    async fn diagnose(&self, error: &mysql_async::Error, tls: bool) -> anyhow::Error {
        let refused = matches!(
            tls_rustls_error(error),
            Some(rustls::Error::InvalidCertificate(_))
        );
        if refused && self.socket().is_none() {
            let mut client = self.tls.client();
            client.identity = None;
            if let Err(ProbeError::Other(explained)) =
                probe::probe(&self.host(), self.port(), &client).await
            {
                return explained;
            }
        }
        self.failure(error, tls)
    }

    fn failure(&self, error: &mysql_async::Error, tls: bool) -> anyhow::Error {
        let text = describe(error);
        let hint = match error {
            mysql_async::Error::Server(server) if server.code == 1045 && self.iam.is_some() => {
                " (hint: the IAM token was refused: the user must be `IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'`, and the AWS identity that signs needs `rds-db:connect` on it)"
            }
            // MariaDB with `require_secure_transport=ON` answers a login
            // without TLS as a wrong password; MySQL says so (3159).
            mysql_async::Error::Server(server) if !tls && matches!(server.code, 1045 | 3159) => {
                " (hint: the server may require TLS — `require_secure_transport=ON` refuses logins without it, MariaDB as `Access denied`: use ssl-mode=REQUIRED or stronger)"
            }
            _ => "",
        };
        anyhow!("{text}{hint}")
    }
}

/// The rustls error inside a mysql_async error.
fn tls_rustls_error(error: &mysql_async::Error) -> Option<&rustls::Error> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        if let Some(found) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// `auth=iam` (or `auth=password`, the default) and the `region` for it.
/// IAM needs TLS and the cleartext plugin: without an `ssl-mode`, it is `REQUIRED`.
fn iam_of(
    opts: &mysql_async::Opts,
    taken: &[(String, String)],
    tls: &mut MyTls,
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
    if opts.pass().is_some_and(|p| !p.is_empty()) {
        return Err(anyhow!(
            "`auth=iam` signs the password itself: remove the one in the URL"
        ));
    }
    match tls.mode {
        None if tls.ca.is_none() => tls.mode = Some(SslMode::Required),
        Some(SslMode::Disabled | SslMode::Preferred) => {
            return Err(anyhow!(
                "`auth=iam` sends its token as a cleartext password, so it needs TLS: use ssl-mode=REQUIRED, VERIFY_CA or VERIFY_IDENTITY, not `{}`",
                tls.mode().as_str()
            ))
        }
        _ => {}
    }
    Ok(Some(Iam {
        host: opts.ip_or_hostname().to_string(),
        port: opts.tcp_port(),
        user: opts.user().unwrap_or("root").to_string(),
        region: value("region").map(str::to_string),
    }))
}

/// The server's own message (`Access denied …`, `Unknown database …`), without
/// the driver's wrapping.
pub fn describe(error: &mysql_async::Error) -> String {
    match error {
        mysql_async::Error::Server(server) => format!("{} (error {})", server.message, server.code),
        other => tls_error::explain(other).unwrap_or_else(|| other.to_string()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_and_iam_keys_leave_the_url_before_the_driver_reads_it() {
        let endpoint =
            Endpoint::parse("mysql://app:pw@db.internal:3307/shop?ssl-mode=VERIFY_CA&ssl-ca=/ca.pem&stmt_cache_size=0")
                .unwrap();
        assert_eq!(endpoint.tls().mode(), SslMode::VerifyCa);
        assert_eq!(endpoint.label(), "app@db.internal:3307/shop");
        assert_eq!(endpoint.password(), "pw");
        let iam = Endpoint::parse("mysql://app@shop.abc.eu-west-1.rds.amazonaws.com/shop?auth=iam")
            .unwrap();
        assert!(iam.uses_iam());
        assert_eq!(iam.tls().mode(), SslMode::Required);
        assert_eq!(iam.password(), "", "no token before the first connection");
        let error = |url: &str| Endpoint::parse(url).unwrap_err().to_string();
        assert!(error("mysql://app@db/shop?auth=iam&ssl-mode=PREFERRED").contains("needs TLS"));
        assert!(error("mysql://app:pw@db/shop?auth=iam").contains("remove the one in the URL"));
    }
}
