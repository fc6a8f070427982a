//! `open`: one connection in a given `sslmode`, with libpq's fallbacks that
//! tokio-postgres does not make — `allow` tries without TLS, then with it
//! when the server refuses; `prefer` tries with TLS, then without it when the
//! TLS attempt fails — and errors that say what is wrong in TLS terms.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::anyhow;
use tokio_postgres::config::SslMode as DriverMode;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{Client, Config, NoTls, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::error::describe;
use super::tls::SslMode;
use crate::actions::shared::tls_error;

/// Connects `config` in `mode`; `tls` builds the rustls client (only called
/// when TLS is tried).
pub async fn open(
    config: &Config,
    mode: SslMode,
    tls: impl Fn() -> anyhow::Result<Arc<rustls::ClientConfig>>,
) -> anyhow::Result<Client> {
    match mode {
        SslMode::Disable => plain(config).await.map_err(|e| failure(&e, mode)),
        SslMode::Allow => match plain(config).await {
            Ok(client) => Ok(client),
            // The server answered (pg_hba says `hostssl`): libpq tries again with TLS.
            Err(first) if first.as_db_error().is_some() => {
                let (result, _) = encrypted(config, tls()?, DriverMode::Require).await;
                result.map_err(|second| {
                    anyhow!(
                        "without TLS: {}; then over TLS: {}",
                        explained(&first),
                        explained(&second)
                    )
                })
            }
            Err(error) => Err(failure(&error, mode)),
        },
        SslMode::Prefer => match encrypted(config, tls()?, DriverMode::Prefer).await {
            (Ok(client), _) => Ok(client),
            // libpq tries again without TLS when the TLS attempt failed, in
            // the handshake or after it.
            (Err(first), true) => plain(config).await.map_err(|second| {
                anyhow!(
                    "over TLS: {}; then without TLS: {}",
                    explained(&first),
                    explained(&second)
                )
            }),
            (Err(error), false) => Err(failure(&error, mode)),
        },
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
            encrypted(config, tls()?, DriverMode::Require)
                .await
                .0
                .map_err(|e| failure(&e, mode))
        }
    }
}

async fn plain(config: &Config) -> Result<Client, tokio_postgres::Error> {
    let mut config = config.clone();
    config.ssl_mode(DriverMode::Disable);
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// The result, and whether a TLS handshake was started (the server said yes
/// to TLS).
async fn encrypted(
    config: &Config,
    tls: Arc<rustls::ClientConfig>,
    mode: DriverMode,
) -> (Result<Client, tokio_postgres::Error>, bool) {
    let mut config = config.clone();
    config.ssl_mode(mode);
    let tried = Arc::new(AtomicBool::new(false));
    let connector = Tracked {
        inner: MakeRustlsConnect::new((*tls).clone()),
        tried: tried.clone(),
    };
    let result = match config.connect(connector).await {
        Ok((client, connection)) => {
            tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok(client)
        }
        Err(error) => Err(error),
    };
    (result, tried.load(Ordering::Relaxed))
}

/// The error in words: a TLS failure explained, a server's refusal with a
/// hint where the fix is known.
fn explained(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let text = describe(error);
        let message = db.message();
        let hint = if message.contains("no encryption") {
            " (hint: the server's pg_hba.conf admits this connection only over TLS (`hostssl`): use sslmode=require or stronger)"
        } else if message.contains("requires a valid client certificate") {
            " (hint: give a client certificate: sslcert=… and sslkey=…)"
        } else if message.contains("certificate authentication failed") {
            " (hint: the client certificate's CN must be the user name, or be mapped to it in pg_ident.conf)"
        } else {
            ""
        };
        return format!("{text}{hint}");
    }
    tls_error::explain(error).unwrap_or_else(|| describe(error))
}

fn failure(error: &tokio_postgres::Error, mode: SslMode) -> anyhow::Error {
    // tokio-postgres's own words for an 'N' to the SSLRequest; it has no
    // variant to match.
    if describe(error).contains("server does not support TLS") {
        return anyhow!(
            "the server does not offer TLS, and sslmode={} requires it (hint: turn `ssl` on in the server's postgresql.conf, or use sslmode=prefer)",
            mode.as_str()
        );
    }
    anyhow!(explained(error))
}

/// A connector that notes whether the server agreed to TLS.
struct Tracked {
    inner: MakeRustlsConnect,
    tried: Arc<AtomicBool>,
}

struct TrackedConnect<T> {
    inner: T,
    tried: Arc<AtomicBool>,
}

impl MakeTlsConnect<Socket> for Tracked {
    type Stream = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream;
    type TlsConnect = TrackedConnect<<MakeRustlsConnect as MakeTlsConnect<Socket>>::TlsConnect>;
    type Error = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<Self::TlsConnect, Self::Error> {
        Ok(TrackedConnect {
            inner: <MakeRustlsConnect as MakeTlsConnect<Socket>>::make_tls_connect(
                &mut self.inner,
                domain,
            )?,
            tried: self.tried.clone(),
        })
    }
}

impl<S, T: TlsConnect<S>> TlsConnect<S> for TrackedConnect<T> {
    type Stream = T::Stream;
    type Error = T::Error;
    type Future = T::Future;

    fn connect(self, stream: S) -> Self::Future {
        self.tried.store(true, Ordering::Relaxed);
        self.inner.connect(stream)
    }
}
