//! `CertProblem`: a refused server certificate with what an operator needs to
//! fix it (its subject, issuer, names and dates), and `explain`, which finds
//! a TLS failure inside any client library's error chain and says in words
//! what went wrong. rustls's own texts are Debug dumps (`UnknownIssuer`).

use std::error::Error as StdError;
use std::fmt;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{AlertDescription, CertificateError};
use x509_cert::der::Decode;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;

/// A server certificate the verifier refused, and why.
#[derive(Debug, Clone)]
pub struct CertProblem {
    pub cause: CertificateError,
    pub subject: String,
    pub issuer: String,
    pub not_before: String,
    pub not_after: String,
    /// `DNS:…` and `IP:…` of its subjectAltName.
    pub names: Vec<String>,
    /// The name cutover connected to.
    pub expected: String,
    /// Whom it was checked against ("the CA certificates in `ca.pem`").
    pub trusted: String,
}

impl CertProblem {
    pub fn new(
        cause: CertificateError,
        end_entity: &CertificateDer<'_>,
        server_name: &ServerName<'_>,
        trusted: &str,
    ) -> CertProblem {
        let mut problem = CertProblem {
            cause,
            subject: "?".into(),
            issuer: "?".into(),
            not_before: "?".into(),
            not_after: "?".into(),
            names: Vec::new(),
            expected: server_name.to_str().into_owned(),
            trusted: trusted.to_string(),
        };
        if let Ok(cert) = x509_cert::Certificate::from_der(end_entity.as_ref()) {
            let tbs = &cert.tbs_certificate;
            problem.subject = tbs.subject.to_string();
            problem.issuer = tbs.issuer.to_string();
            problem.not_before = tbs.validity.not_before.to_string();
            problem.not_after = tbs.validity.not_after.to_string();
            problem.names = subject_alt_names(&cert);
        }
        problem
    }

    fn who(&self) -> String {
        format!("subject \"{}\", issuer \"{}\"", self.subject, self.issuer)
    }
}

/// `DNS:…` and `IP:…` entries of a certificate's subjectAltName.
pub fn subject_alt_names(cert: &x509_cert::Certificate) -> Vec<String> {
    let Ok(Some((_, SubjectAltName(names)))) = cert.tbs_certificate.get::<SubjectAltName>() else {
        return Vec::new();
    };
    names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DnsName(dns) => Some(format!("DNS:{}", dns.as_str())),
            GeneralName::IpAddress(ip) => match ip.as_bytes().len() {
                4 => {
                    let b: [u8; 4] = ip.as_bytes().try_into().ok()?;
                    Some(format!("IP:{}", std::net::Ipv4Addr::from(b)))
                }
                16 => {
                    let b: [u8; 16] = ip.as_bytes().try_into().ok()?;
                    Some(format!("IP:{}", std::net::Ipv6Addr::from(b)))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

impl fmt::Display for CertProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use CertificateError::*;
        match &self.cause {
            UnknownIssuer | BadSignature => write!(
                f,
                "the server's certificate ({}) is not signed by a CA cutover trusts ({}) (hint: give the CA that issued it)",
                self.who(),
                self.trusted
            ),
            NotValidForName | NotValidForNameContext { .. } if self.names.is_empty() => write!(
                f,
                "the server's certificate ({}) has no subjectAltName, so it is valid for no host name; unlike libpq, rustls does not fall back to the CN (hint: reissue it with `subjectAltName=DNS:{}`, or check only the CA)",
                self.who(),
                self.expected
            ),
            NotValidForName | NotValidForNameContext { .. } => write!(
                f,
                "the server's certificate is for {}, not for \"{}\" ({}) (hint: connect by one of its names, or check only the CA)",
                self.names.join(", "),
                self.expected,
                self.who()
            ),
            Expired | ExpiredContext { .. } => write!(
                f,
                "the server's certificate expired: it was valid until {} ({})",
                self.not_after,
                self.who()
            ),
            NotValidYet | NotValidYetContext { .. } => write!(
                f,
                "the server's certificate is not valid yet: it is valid from {} ({}) (hint: check the clocks)",
                self.not_before,
                self.who()
            ),
            Revoked => write!(f, "the server's certificate was revoked ({})", self.who()),
            other => write!(
                f,
                "the server's certificate was refused: {other:?} ({})",
                self.who()
            ),
        }
    }
}

impl StdError for CertProblem {}

/// The TLS failure somewhere in `error`'s chain, in words; None when the
/// chain holds none. Looks inside `io::Error`s (whose `source()` skips the
/// error they wrap), where rustls's errors travel.
pub fn explain(error: &(dyn StdError + 'static)) -> Option<String> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(found) = rustls_error(e).map(words) {
            return Some(found);
        }
        if let Some(problem) = e.downcast_ref::<CertProblem>() {
            return Some(problem.to_string());
        }
        current = e.source();
    }
    None
}

fn rustls_error<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    if let Some(found) = e.downcast_ref::<rustls::Error>() {
        return Some(found);
    }
    let io = e.downcast_ref::<std::io::Error>()?;
    let inner: &(dyn StdError + 'static) = io.get_ref()?;
    rustls_error(inner)
}

fn words(error: &rustls::Error) -> String {
    match error {
        rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
            let inner: &(dyn StdError + Send + Sync + 'static) = &*other.0;
            match inner.downcast_ref::<CertProblem>() {
                Some(problem) => problem.to_string(),
                None => format!("the server's certificate was refused: {inner}"),
            }
        }
        rustls::Error::InvalidCertificate(cause) => {
            format!("the server's certificate was refused: {cause:?}")
        }
        rustls::Error::AlertReceived(alert) => match alert {
            AlertDescription::CertificateRequired | AlertDescription::HandshakeFailure => format!(
                "the server refused the TLS handshake (alert `{alert:?}`): it may require a client certificate"
            ),
            AlertDescription::UnknownCA
            | AlertDescription::BadCertificate
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::AccessDenied
            | AlertDescription::DecryptError => format!(
                "the server refused cutover's client certificate (TLS alert `{alert:?}`) (hint: is it signed by a CA the server trusts — PostgreSQL's `ssl_ca_file`, MariaDB's `ssl_ca` — and still valid?)"
            ),
            other => format!("the server ended the TLS handshake (alert `{other:?}`)"),
        },
        rustls::Error::NoCertificatesPresented => {
            "the server presented no certificate".to_string()
        }
        other => format!("the TLS handshake failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_certificate_problem_is_found_inside_an_io_error() {
        let problem = CertProblem {
            cause: CertificateError::UnknownIssuer,
            subject: "CN=localhost".into(),
            issuer: "CN=test CA".into(),
            not_before: "-".into(),
            not_after: "-".into(),
            names: vec!["DNS:localhost".into()],
            expected: "localhost".into(),
            trusted: "the CA certificates in `ca.pem`".into(),
        };
        let wrapped = rustls::Error::InvalidCertificate(CertificateError::Other(
            rustls::OtherError(Arc::new(problem)),
        ));
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, wrapped);
        let text = explain(&io).unwrap();
        assert!(
            text.contains("subject \"CN=localhost\", issuer \"CN=test CA\""),
            "{text}"
        );
        assert!(text.contains("not signed by a CA cutover trusts"), "{text}");
        let alert = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(AlertDescription::UnknownCA),
        );
        assert!(explain(&alert)
            .unwrap()
            .contains("refused cutover's client certificate"));
        assert!(explain(&std::io::Error::other("plain")).is_none());
    }
}
