//! `PgTls`: libpq's TLS settings (`sslmode`, `sslrootcert`, `sslcert`,
//! `sslkey`, from the connection string, else `PGSSLMODE` …, else libpq's
//! defaults), with libpq's meaning: the rustls client for cutover's own
//! connections, the environment of the client tools, and the keys of a
//! subscription's connection string.

use std::path::PathBuf;

use anyhow::anyhow;

use crate::actions::shared::tls::{Check, Identity, TlsClient, Trust};

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn parse(text: &str) -> anyhow::Result<SslMode> {
        Ok(match text {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(anyhow!(
                    "invalid sslmode `{other}` (expected disable, allow, prefer, require, verify-ca or verify-full)"
                ))
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// TLS is compulsory.
    pub fn requires_tls(self) -> bool {
        matches!(
            self,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
        )
    }
}

/// The TLS settings of one connection string, as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PgTls {
    /// None: libpq's default (`prefer`, or `verify-full` with `sslrootcert=system`).
    pub mode: Option<SslMode>,
    pub rootcert: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
}

impl PgTls {
    /// From the connection string's keys, else the `PGSSL*` variables of `env`.
    pub fn from_keys(
        taken: &[(String, String)],
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<PgTls> {
        let given = |key: &str, var: &str| {
            taken
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .or_else(|| env(var))
                .filter(|v| !v.is_empty())
        };
        let tls = PgTls {
            mode: given("sslmode", "PGSSLMODE")
                .map(|m| SslMode::parse(&m))
                .transpose()?,
            rootcert: given("sslrootcert", "PGSSLROOTCERT"),
            cert: given("sslcert", "PGSSLCERT"),
            key: given("sslkey", "PGSSLKEY"),
        };
        if tls.rootcert.as_deref() == Some("system") {
            if let Some(mode) = tls.mode.filter(|m| *m != SslMode::VerifyFull) {
                return Err(anyhow!(
                    "weak sslmode `{}` may not be used with sslrootcert=system (use `verify-full`)",
                    mode.as_str()
                ));
            }
        }
        Ok(tls)
    }

    /// The mode in force.
    pub fn mode(&self) -> SslMode {
        self.mode
            .unwrap_or(if self.rootcert.as_deref() == Some("system") {
                SslMode::VerifyFull
            } else {
                SslMode::Prefer
            })
    }

    /// The rustls client for a TLS attempt. As libpq: a root file (given, or
    /// `~/.postgresql/root.crt` when it exists) makes every mode check the
    /// chain; only `verify-full` checks the name; `verify-*` without one is an error.
    pub fn client(&self) -> anyhow::Result<TlsClient> {
        let trust = match self.rootcert.as_deref() {
            Some("system") => Some(Trust::System),
            Some(path) => Some(Trust::File(PathBuf::from(path))),
            None => home_file("root.crt").map(Trust::File),
        };
        let check = match (self.mode(), &trust) {
            (SslMode::VerifyFull, Some(_)) => Check::Full,
            (_, Some(_)) => Check::Chain,
            (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
                return Err(anyhow!(
                    "sslmode={} needs the CA to check the server's certificate against, and there is no `~/.postgresql/root.crt` (hint: add `sslrootcert=/path/ca.pem`, or `sslrootcert=system` for the system's trust store)",
                    self.mode().as_str()
                ))
            }
            (_, None) => Check::Nothing,
        };
        let cert = self
            .cert
            .clone()
            .map(PathBuf::from)
            .or_else(|| home_file("postgresql.crt"));
        let identity = match cert {
            None => None,
            Some(cert) => {
                let key = self
                    .key
                    .clone()
                    .map(PathBuf::from)
                    .or_else(|| home_path("postgresql.key"))
                    .filter(|k| k.exists())
                    .ok_or_else(|| {
                        anyhow!(
                            "client certificate `{}` given, but no key (hint: add `sslkey=/path/client.key`)",
                            cert.display()
                        )
                    })?;
                Some(Identity { cert, key })
            }
        };
        Ok(TlsClient {
            check,
            trust,
            identity,
        })
    }

    /// `PGSSL*` for `pg_dump`, `pg_restore` and `psql`: the settings as
    /// given, so libpq applies its own defaults exactly as cutover did.
    pub fn libpq_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("PGSSLMODE", self.mode().as_str().to_string())];
        if let Some(root) = &self.rootcert {
            // `system` is libpq 16's; older client tools read it as a file name.
            let root = match root.as_str() {
                "system" => system_bundle().unwrap_or_else(|| root.clone()),
                path => path.to_string(),
            };
            env.push(("PGSSLROOTCERT", root));
        }
        if let Some(cert) = &self.cert {
            env.push(("PGSSLCERT", cert.clone()));
        }
        if let Some(key) = &self.key {
            env.push(("PGSSLKEY", key.clone()));
        }
        env
    }

    /// The keys of a subscription's connection string. It is read by the
    /// *subscriber's* server, so paths are paths there.
    pub fn conninfo_keys(&self) -> Vec<(&'static str, String)> {
        let mut keys = vec![("sslmode", self.mode().as_str().to_string())];
        for (key, value) in [
            ("sslrootcert", &self.rootcert),
            ("sslcert", &self.cert),
            ("sslkey", &self.key),
        ] {
            if let Some(value) = value {
                keys.push((key, value.clone()));
            }
        }
        keys
    }
}

/// `~/.postgresql/NAME`, whether or not it exists.
fn home_path(name: &str) -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(".postgresql").join(name))
}

/// `~/.postgresql/NAME` when it exists (libpq's default files).
fn home_file(name: &str) -> Option<PathBuf> {
    home_path(name).filter(|p| p.is_file())
}

/// The system's CA bundle as one file, for libpq before 16.
fn system_bundle() -> Option<String> {
    std::env::var("SSL_CERT_FILE")
        .ok()
        .into_iter()
        .chain(
            [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/cert.pem",
            ]
            .map(String::from),
        )
        .find(|p| std::path::Path::new(p).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_url_wins_over_the_environment_and_prefer_is_the_default() {
        let env = |var: &str| match var {
            "PGSSLMODE" => Some("require".to_string()),
            "PGSSLROOTCERT" => Some("/env/ca.pem".to_string()),
            _ => None,
        };
        let tls = PgTls::from_keys(&keys(&[("sslmode", "verify-ca")]), env).unwrap();
        assert_eq!(tls.mode(), SslMode::VerifyCa);
        assert_eq!(tls.rootcert.as_deref(), Some("/env/ca.pem"));
        assert_eq!(
            PgTls::from_keys(&[], |_| None).unwrap().mode(),
            SslMode::Prefer
        );
        let system = PgTls::from_keys(&keys(&[("sslrootcert", "system")]), |_| None).unwrap();
        assert_eq!(system.mode(), SslMode::VerifyFull);
        let weak = PgTls::from_keys(
            &keys(&[("sslrootcert", "system"), ("sslmode", "require")]),
            |_| None,
        );
        assert!(weak.unwrap_err().to_string().contains("use `verify-full`"));
        let bad = PgTls::from_keys(&keys(&[("sslmode", "verify_full")]), |_| None);
        assert!(bad
            .unwrap_err()
            .to_string()
            .contains("invalid sslmode `verify_full`"));
    }

    #[test]
    fn a_root_file_makes_require_check_the_chain_and_verify_full_the_name() {
        let with_root = |mode: &str| {
            PgTls::from_keys(
                &keys(&[("sslmode", mode), ("sslrootcert", "/ca.pem")]),
                |_| None,
            )
            .unwrap()
            .client()
            .unwrap()
            .check
        };
        assert_eq!(with_root("require"), Check::Chain);
        assert_eq!(with_root("verify-ca"), Check::Chain);
        assert_eq!(with_root("verify-full"), Check::Full);
        let tls = PgTls {
            mode: Some(SslMode::VerifyFull),
            ..PgTls::default()
        };
        if home_file("root.crt").is_none() {
            assert!(tls
                .client()
                .unwrap_err()
                .to_string()
                .contains("sslrootcert=system"));
        }
        let env = PgTls {
            mode: Some(SslMode::VerifyCa),
            rootcert: Some("/ca.pem".into()),
            ..PgTls::default()
        };
        assert_eq!(
            env.conninfo_keys(),
            vec![
                ("sslmode", "verify-ca".to_string()),
                ("sslrootcert", "/ca.pem".to_string())
            ]
        );
    }
}
