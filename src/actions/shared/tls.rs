//! `TlsClient`: the rustls client configuration every database connection
//! shares — whom to trust (`Trust`), how much to check (`Check`), and the
//! client certificate — on the aws-lc-rs provider named explicitly (the tree
//! compiles both aws-lc-rs and ring, so rustls cannot pick one by itself).
//! A refused certificate comes back as a `CertProblem` (tls_error.rs) that
//! names its subject and issuer.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};

use anyhow::{anyhow, Context};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::tls_error::CertProblem;

/// The one crypto provider: the AWS SDK's.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Makes aws-lc-rs the process default, for libraries that call
/// `ClientConfig::builder()` without a provider (mysql_async): with two
/// providers compiled in, that call panics otherwise.
pub fn install_default_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    });
}

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Encrypt only (libpq `require` without a root file, MySQL `REQUIRED`);
    /// the handshake's signatures are still checked.
    Nothing,
    /// The chain up to a trusted CA, not the name (`verify-ca`, `VERIFY_CA`).
    Chain,
    /// The chain and the host name (`verify-full`, `VERIFY_IDENTITY`).
    Full,
}

/// Whom the server's certificate must chain to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The CA certificates of a PEM file.
    File(PathBuf),
    /// The operating system's trust store.
    System,
}

impl Trust {
    /// How messages name it.
    pub fn describe(&self) -> String {
        match self {
            Trust::File(path) => format!("the CA certificates in `{}`", path.display()),
            Trust::System => "the system's trust store".to_string(),
        }
    }

    fn load(&self) -> anyhow::Result<RootCertStore> {
        let mut roots = RootCertStore::empty();
        match self {
            Trust::File(path) => {
                for cert in CertificateDer::pem_file_iter(path)
                    .map_err(|e| pem_error(path, "CA certificate", e))?
                {
                    let cert = cert.map_err(|e| pem_error(path, "CA certificate", e))?;
                    roots.add(cert).with_context(|| {
                        format!("`{}` holds an unusable CA certificate", path.display())
                    })?;
                }
                if roots.is_empty() {
                    return Err(anyhow!("`{}` holds no PEM certificate", path.display()));
                }
            }
            Trust::System => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
                if roots.is_empty() {
                    return Err(anyhow!(
                        "the system's trust store has no certificate (hint: install `ca-certificates`, or give a CA file)"
                    ));
                }
            }
        }
        Ok(roots)
    }
}

/// A client certificate and its key, both PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What a TLS client needs to be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsClient {
    pub check: Check,
    /// Required for `Chain` and `Full`; with `Nothing`, none.
    pub trust: Option<Trust>,
    pub identity: Option<Identity>,
}

impl TlsClient {
    /// The rustls configuration; files are read here, so a missing one is
    /// reported when connecting, not when a playbook is planned.
    pub fn config(&self) -> anyhow::Result<ClientConfig> {
        let provider = provider();
        let inner = match (&self.trust, self.check) {
            (_, Check::Nothing) => None,
            (Some(trust), _) => Some(
                WebPkiServerVerifier::builder_with_provider(
                    Arc::new(trust.load()?),
                    provider.clone(),
                )
                .build()
                .context("failed to build the certificate verifier")?,
            ),
            (None, _) => return Err(anyhow!("verifying the server's certificate needs a CA")),
        };
        let verifier = Verifier {
            inner,
            check: self.check,
            trusted: self.trust.as_ref().map(Trust::describe).unwrap_or_default(),
            provider: provider.clone(),
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("failed to set up TLS")?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier));
        match &self.identity {
            None => Ok(builder.with_no_client_auth()),
            Some(identity) => {
                let (chain, key) = identity.load()?;
                builder.with_client_auth_cert(chain, key).with_context(|| {
                    format!(
                        "the client certificate `{}` does not match its key `{}`",
                        identity.cert.display(),
                        identity.key.display()
                    )
                })
            }
        }
    }
}

impl Identity {
    fn load(&self) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
        let chain = CertificateDer::pem_file_iter(&self.cert)
            .map_err(|e| pem_error(&self.cert, "client certificate", e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem_error(&self.cert, "client certificate", e))?;
        if chain.is_empty() {
            return Err(anyhow!(
                "`{}` holds no PEM certificate",
                self.cert.display()
            ));
        }
        let text = std::fs::read(&self.key)
            .with_context(|| format!("failed to read the client key `{}`", self.key.display()))?;
        if String::from_utf8_lossy(&text).contains("ENCRYPTED PRIVATE KEY") {
            return Err(anyhow!(
                "the client key `{}` is encrypted, which cutover cannot use (hint: `openssl pkey -in {0} -out key.pem` writes it unencrypted; keep it 0600)",
                self.key.display()
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(&text)
            .map_err(|e| pem_error(&self.key, "client key", e))?;
        Ok((chain, key))
    }
}

fn pem_error(path: &Path, what: &str, error: rustls::pki_types::pem::Error) -> anyhow::Error {
    match error {
        rustls::pki_types::pem::Error::Io(io) => {
            anyhow!("failed to read the {what} `{}`: {io}", path.display())
        }
        rustls::pki_types::pem::Error::NoItemsFound => {
            anyhow!("`{}` holds no PEM {what}", path.display())
        }
        other => anyhow!("`{}` is not a PEM {what}: {other}", path.display()),
    }
}

/// Checks as much as `check` says; a refusal becomes a `CertProblem` that
/// carries the certificate's subject and issuer, which rustls's own errors do not.
#[derive(Debug)]
struct Verifier {
    inner: Option<Arc<WebPkiServerVerifier>>,
    check: Check,
    trusted: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(inner) = &self.inner else {
            return Ok(ServerCertVerified::assertion());
        };
        match inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Ok(verified) => Ok(verified),
            // webpki checks the chain first and the name last: a name error
            // means the chain was good.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if self.check == Check::Chain => Ok(ServerCertVerified::assertion()),
            Err(rustls::Error::InvalidCertificate(cause)) => {
                Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                    rustls::OtherError(Arc::new(CertProblem::new(
                        cause,
                        end_entity,
                        server_name,
                        &self.trusted,
                    ))),
                )))
            }
            Err(other) => Err(other),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
