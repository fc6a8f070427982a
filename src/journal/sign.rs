//! The signed head: an Ed25519 signature of the journal's `head` (its last
//! line's seq and hash) under a key held outside the state directory, so a
//! journal rewritten in full — chain and head recomputed — no longer passes
//! `audit verify --pubkey`. Keys are PEM as `openssl genpkey -algorithm
//! ed25519` (PKCS#8) and `openssl pkey -pubout` (SubjectPublicKeyInfo) write.

use std::path::Path;

use anyhow::Context;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier, VerifyingKey};

/// What is signed: a fixed prefix (so the signature cannot be taken for one
/// over other data), the run id (so one run's signature cannot vouch for
/// another run's directory) and the head's line.
fn message(run_id: &str, head: &str) -> Vec<u8> {
    format!("cutover journal head v1\n{run_id}\n{}\n", head.trim_end()).into_bytes()
}

/// A private key ready to sign heads.
pub struct Signer {
    key: SigningKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself.
        f.write_str("Signer(ed25519)")
    }
}

impl Signer {
    /// Reads a PEM PKCS#8 Ed25519 private key. The error names the file and
    /// what it should hold, never its contents.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read signing key {}", path.display()))?;
        let key = SigningKey::from_pkcs8_pem(&text).map_err(|_| {
            anyhow::anyhow!(
                "{} is not an Ed25519 private key in PEM (PKCS#8); make one with `openssl genpkey -algorithm ed25519 -out FILE`",
                path.display()
            )
        })?;
        Ok(Self { key })
    }

    /// Signs the head as written (`SEQ HASH`), giving the signature file's text.
    pub fn sign(&self, run_id: &str, head: &str) -> String {
        let signature = self.key.sign(&message(run_id, head));
        format!("ed25519 {}\n", hex::encode(signature.to_bytes()))
    }
}

/// Reads a PEM SubjectPublicKeyInfo Ed25519 public key.
pub fn public_key(path: &Path) -> anyhow::Result<VerifyingKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read public key {}", path.display()))?;
    VerifyingKey::from_public_key_pem(&text).map_err(|_| {
        anyhow::anyhow!(
            "{} is not an Ed25519 public key in PEM; make one with `openssl pkey -in PRIVATE -pubout -out FILE`",
            path.display()
        )
    })
}

/// Checks `signature_text` (the signature file) against the head. `Err` says
/// why it does not verify, in words for `audit verify`.
pub fn check(
    key: &VerifyingKey,
    run_id: &str,
    head: &str,
    signature_text: &str,
) -> Result<(), String> {
    let hex_text = signature_text
        .trim()
        .strip_prefix("ed25519 ")
        .ok_or("the signature file is not `ed25519 HEX`")?;
    let bytes: [u8; 64] = hex::decode(hex_text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the signature file does not hold a 64-byte signature")?;
    key.verify(&message(run_id, head), &Signature::from_bytes(&bytes))
        .map_err(|_| {
            "the head's signature does not match: the head (or the journal with it) was rewritten, or it was signed with another key".to_string()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer {
            key: SigningKey::from_bytes(&[7; 32]),
        }
    }

    #[test]
    fn a_signed_head_verifies_and_nothing_else_does() {
        let signer = signer();
        let public = signer.key.verifying_key();
        let head = "12 ab12\n";
        let signature = signer.sign("run-1", head);
        assert_eq!(check(&public, "run-1", head, &signature), Ok(()));
        assert!(check(&public, "run-1", "13 ab12\n", &signature).is_err());
        assert!(check(&public, "run-2", head, &signature).is_err());
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key();
        assert!(check(&other, "run-1", head, &signature).is_err());
        assert!(check(&public, "run-1", head, "garbage").is_err());
    }
}
