//! `probe`: a TLS handshake with a MySQL/MariaDB server and nothing after it
//! (greeting, SSLRequest, handshake; no login), checked by cutover's own
//! verifier. It serves `VERIFY_CA`, which mysql_async 0.37.1 cannot do (its
//! skip of the name check matches a rustls error text that changed): the
//! probe checks the chain and learns a name the certificate is for, and the
//! real connection then checks the chain again against that name. It also
//! names the subject and issuer of a refused certificate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Context};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use x509_cert::der::Decode;

use crate::actions::shared::tls::TlsClient;
use crate::actions::shared::tls_error;

/// The server's greeting says it can do TLS.
const CLIENT_SSL: u16 = 0x0800;

/// Why a probe failed.
#[derive(Debug)]
pub enum ProbeError {
    /// The server does not offer TLS (`have_ssl` is not YES).
    NoTls,
    /// Anything else, in words.
    Other(anyhow::Error),
}

/// The names (`DNS:…`, `IP:…`) of the certificate the server presented,
/// after `tls` accepted it.
pub async fn probe(host: &str, port: u16, tls: &TlsClient) -> Result<Vec<String>, ProbeError> {
    let config = tls.config().map_err(ProbeError::Other)?;
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| ProbeError::Other(anyhow!("`{host}` is not a host name TLS can check")))?;
    let attempt = async {
        let mut stream = TcpStream::connect((host, port))
            .await
            .with_context(|| format!("failed to reach {host}:{port}"))
            .map_err(ProbeError::Other)?;
        let greeting = read_packet(&mut stream).await.map_err(ProbeError::Other)?;
        if offers_tls(&greeting).map_err(ProbeError::Other)? {
            stream
                .write_all(&ssl_request())
                .await
                .context("failed to ask for TLS")
                .map_err(ProbeError::Other)?;
        } else {
            return Err(ProbeError::NoTls);
        }
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tls_stream = connector.connect(name, stream).await.map_err(|e| {
            ProbeError::Other(anyhow!(
                tls_error::explain(&e).unwrap_or_else(|| e.to_string())
            ))
        })?;
        let names = tls_stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|leaf| x509_cert::Certificate::from_der(leaf.as_ref()).ok())
            .map(|cert| tls_error::subject_alt_names(&cert))
            .unwrap_or_default();
        Ok(names)
    };
    match tokio::time::timeout(Duration::from_secs(10), attempt).await {
        Ok(result) => result,
        Err(_) => Err(ProbeError::Other(anyhow!(
            "no answer from {host}:{port} within 10s"
        ))),
    }
}

/// A name to check a `VERIFY_CA` server's certificate against: one of its
/// own, learned by a probe once per server and CA.
pub async fn name_for(host: &str, port: u16, tls: &TlsClient) -> Result<String, ProbeError> {
    static NAMES: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);
    let key = format!("{host}:{port}:{:?}", tls.trust);
    if let Some(name) = NAMES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .get(&key)
    {
        return Ok(name.clone());
    }
    let names = probe(host, port, tls).await?;
    let name = names
        .iter()
        .find_map(|n| n.strip_prefix("DNS:").map(|d| d.replace("*.", "any.")))
        .or_else(|| names.iter().find_map(|n| n.strip_prefix("IP:").map(str::to_string)))
        .ok_or_else(|| {
            ProbeError::Other(anyhow!(
                "the server's certificate has no subjectAltName, so no name can be checked against it (hint: reissue it with `subjectAltName=DNS:{host}`)"
            ))
        })?;
    NAMES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(key, name.clone());
    Ok(name)
}

async fn read_packet(stream: &mut TcpStream) -> anyhow::Result<Vec<u8>> {
    let mut header = [0u8; 4];
    stream
        .read_exact(&mut header)
        .await
        .context("the server closed the connection before its greeting")?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
    let mut payload = vec![0u8; len];
    stream
        .read_exact(&mut payload)
        .await
        .context("the server's greeting was cut short")?;
    Ok(payload)
}

/// Whether a greeting sets CLIENT_SSL; an error packet is the server's refusal.
fn offers_tls(greeting: &[u8]) -> anyhow::Result<bool> {
    match greeting.first() {
        Some(0xFF) => {
            let code = greeting.get(1..3).map(|b| u16::from_le_bytes([b[0], b[1]]));
            let message = String::from_utf8_lossy(greeting.get(3..).unwrap_or_default());
            Err(anyhow!(
                "{} (error {})",
                message.trim_start_matches('#'),
                code.unwrap_or(0)
            ))
        }
        Some(10) => {
            let version_end = greeting[1..]
                .iter()
                .position(|b| *b == 0)
                .ok_or_else(|| anyhow!("the server's greeting is malformed"))?;
            // version, NUL, thread id (4), scramble (8), filler (1), capabilities.
            let at = 1 + version_end + 1 + 4 + 8 + 1;
            let caps = greeting
                .get(at..at + 2)
                .ok_or_else(|| anyhow!("the server's greeting is malformed"))?;
            Ok(u16::from_le_bytes([caps[0], caps[1]]) & CLIENT_SSL != 0)
        }
        _ => Err(anyhow!("the server's greeting is not MySQL protocol 10")),
    }
}

/// The 32-byte SSLRequest (sequence 1): capabilities, max packet, charset.
fn ssl_request() -> Vec<u8> {
    // LONG_PASSWORD | PROTOCOL_41 | SSL | SECURE_CONNECTION
    let caps: u32 = 0x0001 | 0x0200 | 0x0800 | 0x8000;
    let mut packet = vec![32, 0, 0, 1];
    packet.extend_from_slice(&caps.to_le_bytes());
    packet.extend_from_slice(&(16u32 << 20).to_le_bytes());
    packet.push(45); // utf8mb4_general_ci
    packet.extend_from_slice(&[0u8; 23]);
    packet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_greeting_says_whether_tls_is_offered() {
        let mut greeting = vec![10];
        greeting.extend_from_slice(b"10.11.19-MariaDB\0");
        greeting.extend_from_slice(&[1, 0, 0, 0]);
        greeting.extend_from_slice(&[0; 8]);
        greeting.push(0);
        greeting.extend_from_slice(&0xFFFEu16.to_le_bytes());
        assert!(offers_tls(&greeting).unwrap());
        let at = greeting.len() - 2;
        greeting[at..].copy_from_slice(&0xF7FEu16.to_le_bytes());
        assert!(!offers_tls(&greeting).unwrap());
        let refusal = [&[0xFF, 0x13, 0x04][..], b"Host is blocked"].concat();
        assert!(offers_tls(&refusal)
            .unwrap_err()
            .to_string()
            .contains("Host is blocked (error 1043)"));
        assert_eq!(ssl_request().len(), 36);
    }
}
