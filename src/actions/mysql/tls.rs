//! `MyTls`: the mysql client's TLS options (`ssl-mode`, `ssl-ca`,
//! `ssl-cert`, `ssl-key`, in the URL's query) with the mysql client's
//! meaning: mysql_async's `SslOpts` for cutover's own connections, the
//! option-file lines of the client programs, and the replication channel's
//! `MASTER_SSL…` options.

use std::path::PathBuf;

use anyhow::anyhow;
use mysql_async::{ClientIdentity, SslOpts};

use crate::actions::shared::tls::{Check, Identity, TlsClient, Trust};

/// The query keys cutover takes out of a MySQL URL (both spellings, as in
/// option files).
pub const OWN_KEYS: &[&str] = &[
    "ssl-mode", "ssl_mode", "ssl-ca", "ssl_ca", "ssl-cert", "ssl_cert", "ssl-key", "ssl_key",
    "auth", "region",
];

/// The mysql client's `--ssl-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SslMode {
    Disabled,
    Preferred,
    Required,
    VerifyCa,
    VerifyIdentity,
}

impl SslMode {
    pub fn parse(text: &str) -> anyhow::Result<SslMode> {
        Ok(match text.to_ascii_uppercase().as_str() {
            "DISABLED" => SslMode::Disabled,
            "PREFERRED" => SslMode::Preferred,
            "REQUIRED" => SslMode::Required,
            "VERIFY_CA" => SslMode::VerifyCa,
            "VERIFY_IDENTITY" => SslMode::VerifyIdentity,
            _ => {
                return Err(anyhow!(
                    "invalid ssl-mode `{text}` (expected DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY)"
                ))
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disabled => "DISABLED",
            SslMode::Preferred => "PREFERRED",
            SslMode::Required => "REQUIRED",
            SslMode::VerifyCa => "VERIFY_CA",
            SslMode::VerifyIdentity => "VERIFY_IDENTITY",
        }
    }
}

/// The TLS options of one URL, as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MyTls {
    pub mode: Option<SslMode>,
    pub ca: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
}

impl MyTls {
    pub fn from_keys(taken: &[(String, String)]) -> anyhow::Result<MyTls> {
        let given = |key: &str| {
            let underscored = key.replace('-', "_");
            taken
                .iter()
                .rev()
                .find(|(k, _)| *k == key || *k == underscored)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        let tls = MyTls {
            mode: given("ssl-mode").map(|m| SslMode::parse(&m)).transpose()?,
            ca: given("ssl-ca"),
            cert: given("ssl-cert"),
            key: given("ssl-key"),
        };
        if tls.cert.is_some() != tls.key.is_some() {
            return Err(anyhow!("`ssl-cert` and `ssl-key` go together: give both"));
        }
        if tls.ca.is_none() && tls.mode >= Some(SslMode::VerifyCa) {
            return Err(anyhow!(
                "ssl-mode={} needs the CA to check the server's certificate against (hint: add `ssl-ca=/path/ca.pem`)",
                tls.mode().as_str()
            ));
        }
        Ok(tls)
    }

    /// The mode in force. As the mysql client: `PREFERRED` by default;
    /// with `ssl-ca`, `REQUIRED` (or no mode) checks the CA.
    pub fn mode(&self) -> SslMode {
        match (self.mode, &self.ca) {
            (None | Some(SslMode::Required), Some(_)) => SslMode::VerifyCa,
            (None, None) => SslMode::Preferred,
            (Some(mode), _) => mode,
        }
    }

    /// TLS is compulsory.
    pub fn required(&self) -> bool {
        self.mode() >= SslMode::Required
    }

    /// The rustls client of the VERIFY_CA probe (and of the diagnosis of a
    /// refused certificate).
    pub fn client(&self) -> TlsClient {
        let check = match self.mode() {
            SslMode::VerifyIdentity => Check::Full,
            SslMode::VerifyCa => Check::Chain,
            _ => Check::Nothing,
        };
        TlsClient {
            check,
            trust: self.ca.as_ref().map(|ca| Trust::File(PathBuf::from(ca))),
            identity: self.identity().map(|(cert, key)| Identity {
                cert: PathBuf::from(cert),
                key: PathBuf::from(key),
            }),
        }
    }

    fn identity(&self) -> Option<(&str, &str)> {
        Some((self.cert.as_deref()?, self.key.as_deref()?))
    }

    /// mysql_async's options; `name` is the name to check the certificate
    /// against instead of the host (VERIFY_CA: one of the certificate's own).
    pub fn ssl_opts(&self, name: Option<String>) -> Option<SslOpts> {
        let mode = self.mode();
        if mode == SslMode::Disabled {
            return None;
        }
        let mut opts =
            SslOpts::default().with_client_identity(self.identity().map(|(c, k)| {
                ClientIdentity::new(PathBuf::from(c).into(), PathBuf::from(k).into())
            }));
        match mode {
            SslMode::Disabled | SslMode::Preferred | SslMode::Required => {
                opts = opts.with_danger_accept_invalid_certs(true);
            }
            SslMode::VerifyCa | SslMode::VerifyIdentity => {
                if let Some(ca) = &self.ca {
                    opts = opts
                        .with_root_certs(vec![PathBuf::from(ca).into()])
                        .with_disable_built_in_roots(true);
                }
                if let Some(name) = name {
                    opts = opts.with_danger_tls_hostname_override(Some(name));
                }
            }
        }
        Some(opts)
    }

    /// `[client]` options (name, value) for `mariadb-dump`, `mariadb`,
    /// `mysqldump`, `mysql`. MariaDB's programs have no `ssl-mode` and MySQL
    /// 8's no `ssl`, so each is written `loose-`: the other kind skips it.
    pub fn client_options(&self) -> Vec<(&'static str, String)> {
        let mode = self.mode();
        let mut options = vec![("loose-ssl-mode", mode.as_str().to_string())];
        match mode {
            SslMode::Disabled => options.push(("loose-ssl", "0".into())),
            // MariaDB's clients before 11.4 have no "TLS if offered".
            SslMode::Preferred => {}
            SslMode::Required | SslMode::VerifyCa => options.push(("loose-ssl", "1".into())),
            SslMode::VerifyIdentity => {
                options.push(("loose-ssl", "1".into()));
                options.push(("loose-ssl-verify-server-cert", "1".into()));
            }
        }
        if mode != SslMode::Disabled {
            for (key, value) in [
                ("ssl-ca", &self.ca),
                ("ssl-cert", &self.cert),
                ("ssl-key", &self.key),
            ] {
                if let Some(value) = value {
                    options.push((key, value.clone()));
                }
            }
        }
        options
    }

    /// `MASTER_SSL…` options of a replication channel whose source URL asks
    /// for TLS (`REQUIRED` or stronger). The paths are on the target server.
    pub fn channel_options(&self, prefix: &str) -> Vec<(String, String)> {
        let mode = self.mode();
        if mode < SslMode::Required {
            return Vec::new();
        }
        let literal = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "''"));
        let mut options = vec![(format!("{prefix}_SSL"), "1".to_string())];
        for (key, value) in [("CA", &self.ca), ("CERT", &self.cert), ("KEY", &self.key)] {
            if let Some(value) = value {
                options.push((format!("{prefix}_SSL_{key}"), literal(value)));
            }
        }
        if mode == SslMode::VerifyIdentity {
            options.push((format!("{prefix}_SSL_VERIFY_SERVER_CERT"), "1".to_string()));
        }
        options
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(pairs: &[(&str, &str)]) -> anyhow::Result<MyTls> {
        let taken: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        MyTls::from_keys(&taken)
    }

    #[test]
    fn modes_mean_what_the_mysql_client_means() {
        assert_eq!(tls(&[]).unwrap().mode(), SslMode::Preferred);
        assert_eq!(
            tls(&[("ssl-ca", "/ca.pem")]).unwrap().mode(),
            SslMode::VerifyCa
        );
        assert_eq!(
            tls(&[("ssl-mode", "required"), ("ssl_ca", "/ca.pem")])
                .unwrap()
                .mode(),
            SslMode::VerifyCa
        );
        assert!(tls(&[("ssl-mode", "VERIFY_IDENTITY")])
            .unwrap_err()
            .to_string()
            .contains("add `ssl-ca="));
        assert!(tls(&[("ssl-mode", "ON")])
            .unwrap_err()
            .to_string()
            .contains("invalid ssl-mode `ON`"));
        assert!(tls(&[("ssl-cert", "/c.pem")]).is_err());
        assert!(tls(&[("ssl-mode", "DISABLED")])
            .unwrap()
            .ssl_opts(None)
            .is_none());
    }

    #[test]
    fn the_channel_and_the_client_programs_get_the_same_settings() {
        let t = tls(&[
            ("ssl-mode", "VERIFY_IDENTITY"),
            ("ssl-ca", "/etc/mysql/ca.pem"),
        ])
        .unwrap();
        assert_eq!(
            t.channel_options("MASTER"),
            vec![
                ("MASTER_SSL".to_string(), "1".to_string()),
                (
                    "MASTER_SSL_CA".to_string(),
                    "'/etc/mysql/ca.pem'".to_string()
                ),
                ("MASTER_SSL_VERIFY_SERVER_CERT".to_string(), "1".to_string()),
            ]
        );
        let options = t.client_options();
        assert!(
            options.contains(&("loose-ssl-mode", "VERIFY_IDENTITY".into())),
            "{options:?}"
        );
        assert!(
            options.contains(&("loose-ssl-verify-server-cert", "1".into())),
            "{options:?}"
        );
        assert!(
            options.contains(&("ssl-ca", "/etc/mysql/ca.pem".into())),
            "{options:?}"
        );
        assert!(tls(&[]).unwrap().channel_options("MASTER").is_empty());
    }
}
