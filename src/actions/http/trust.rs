//! `with_ca_file`: an HTTP client that also trusts an internal CA (`ca_file`,
//! PEM, one or more certificates), on top of the public roots.

use anyhow::{anyhow, Context};

/// `builder` trusting the certificates of `ca_file` as well.
pub(crate) fn with_ca_file(
    builder: reqwest::ClientBuilder,
    ca_file: Option<&str>,
) -> anyhow::Result<reqwest::ClientBuilder> {
    let Some(path) = ca_file else {
        return Ok(builder);
    };
    let pem = std::fs::read(path).with_context(|| format!("failed to read `ca_file` `{path}`"))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| anyhow!("`ca_file` `{path}` is not PEM: {e}"))?;
    if certs.is_empty() {
        return Err(anyhow!("`ca_file` `{path}` holds no PEM certificate"));
    }
    Ok(certs
        .into_iter()
        .fold(builder, |builder, cert| builder.add_root_certificate(cert)))
}
