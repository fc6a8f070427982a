//! The DDL guard: `postgres.replicate` keeps the source's schema fingerprint
//! as the comment of its publication, on the source; `postgres.ready` and
//! `postgres.catch_up` compare the source's schema with it and fail naming
//! every object that changed.
//!
//! Why the publication's comment rather than the journal: a step sees only
//! its own journaled memory, never an earlier step's; and the publication is
//! the one object every later step can reach (through the subscription's
//! `subpublications` on the target), which lives exactly as long as the
//! replication it describes (`postgres.drop_replication` drops both), and
//! survives a resume, a second run and a run from another machine.

use anyhow::{anyhow, Context};
use tokio_postgres::Client;

use super::connect::{pg, quote_ident, quote_literal};
use super::fingerprint::Fingerprint;

/// What starts a fingerprint comment (any other comment is left alone when read).
const PREFIX: &str = "cutover schema fingerprint v1: ";

/// The fingerprint kept on `publication`, if it holds one.
async fn stored(src: &Client, publication: &str) -> anyhow::Result<Option<Fingerprint>> {
    let comment: Option<String> = src
        .query_opt(
            "SELECT obj_description(oid, 'pg_publication') FROM pg_publication WHERE pubname = $1",
            &[&publication],
        )
        .await
        .map_err(pg)?
        .and_then(|r| r.get(0));
    let Some(json) = comment.as_deref().and_then(|c| c.strip_prefix(PREFIX)) else {
        return Ok(None);
    };
    serde_json::from_str(json)
        .map(Some)
        .with_context(|| format!("the schema fingerprint on publication `{publication}` is unreadable (hint: `COMMENT ON PUBLICATION {} IS NULL` and run `postgres.replicate` again to record a new one)", quote_ident(publication)))
}

/// Records the source's fingerprint on `publication` unless it holds one
/// already (a second attempt keeps the first: the target's schema was copied
/// then); returns what is recorded.
pub async fn record(src: &Client, publication: &str) -> anyhow::Result<Fingerprint> {
    if let Some(kept) = stored(src, publication).await? {
        return Ok(kept);
    }
    let fingerprint = Fingerprint::read(src, publication).await?;
    let json = serde_json::to_string(&fingerprint)?;
    src.batch_execute(&format!(
        "COMMENT ON PUBLICATION {} IS {}",
        quote_ident(publication),
        quote_literal(&format!("{PREFIX}{json}"))
    ))
    .await
    .map_err(pg)
    .context("failed to record the schema fingerprint on the publication")?;
    Ok(fingerprint)
}

/// A short summary for applied data: counts and a digest of the whole.
pub fn summary(fingerprint: &Fingerprint) -> serde_json::Value {
    use sha2::Digest;
    let json = serde_json::to_string(fingerprint).unwrap_or_default();
    let digest = sha2::Sha256::digest(json.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    serde_json::json!({
        "tables": fingerprint.tables.len(),
        "sequences": fingerprint.sequences.len(),
        "sha256": hex,
        "kept_on": "publication comment",
    })
}

/// Fails naming every change since `postgres.replicate` recorded the
/// fingerprint, for the publications `subscription` (on `dst`) reads from.
/// Returns how many publications held a fingerprint (0: nothing to compare,
/// e.g. reverse replication or a publication made by hand).
pub async fn check(src: &Client, dst: &Client, subscription: &str) -> anyhow::Result<usize> {
    let publications: Vec<String> = dst
        .query_opt(
            "SELECT subpublications FROM pg_subscription WHERE subname = $1",
            &[&subscription],
        )
        .await
        .map_err(pg)?
        .map(|r| r.get(0))
        .unwrap_or_default();
    let mut checked = 0;
    let mut changes = Vec::new();
    for publication in &publications {
        let Some(before) = stored(src, publication).await? else {
            continue;
        };
        checked += 1;
        let now = Fingerprint::read(src, publication).await?;
        changes.extend(now.changes_since(&before));
    }
    if changes.is_empty() {
        return Ok(checked);
    }
    let names: Vec<String> = publications.iter().map(|p| quote_ident(p)).collect();
    Err(anyhow!(
        "schema changed on the source since replicate: {} (hint: logical replication does not carry DDL: make the same change on the target, then `COMMENT ON PUBLICATION {} IS NULL` on the source and run `postgres.replicate` again, which keeps the subscription and records the schema anew)",
        changes.join("; "),
        names.join(", ")
    ))
}
