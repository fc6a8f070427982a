//! `Record`: one journal line — `seq`, `ts`, `event`, `step`, `data`, `hash`.
//!
//! The hash covers the line's exact text without its `hash` field, chained to
//! the previous line's hash, so verification needs no canonical JSON.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Event;

/// The hash the first line chains to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    /// RFC 3339, UTC.
    pub ts: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub step: Option<String>,
    #[serde(flatten)]
    pub event: Event,
}

impl Record {
    /// The JSON line with its hash, given the previous line's hash.
    pub fn to_line(&self, prev_hash: &str) -> (String, String) {
        let body = serde_json::to_string(self).expect("events serialize");
        let hash = chain_hash(prev_hash, &body);
        let line = format!("{},\"hash\":\"{hash}\"}}", &body[..body.len() - 1]);
        (line, hash)
    }
}

/// sha256 of the previous hash followed by this line's text without its hash.
pub fn chain_hash(prev_hash: &str, body: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(body.as_bytes());
    hex::encode(hasher.finalize())
}

/// Splits a line into its body (as hashed) and its recorded hash.
pub fn split_line(line: &str) -> Option<(String, &str)> {
    const SUFFIX_LEN: usize = ",\"hash\":\"\"}".len() + 64;
    if line.len() < SUFFIX_LEN
        || !line.ends_with("\"}")
        || !line.is_char_boundary(line.len() - SUFFIX_LEN)
    {
        return None;
    }
    let (body, suffix) = line.split_at(line.len() - SUFFIX_LEN);
    let hash = suffix.strip_prefix(",\"hash\":\"")?.strip_suffix("\"}")?;
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((format!("{body}}}"), hash))
}
