//! `postgres.sync_sequences`: sets every target sequence to the source's value.
//! Logical replication does not carry sequences; `pg_sequences` on the source
//! does. Also the last part of `postgres.copy`.

use anyhow::anyhow;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use tokio_postgres::Client;

use super::connect::label;
use super::connect::{pg, quote_ident, Endpoint};
use super::session::connect_pinned;
use super::tables::INTERNAL_SCHEMA;
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};

/// Parameters of `postgres.sync_sequences`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncSequences {
    /// The database whose sequence values are read.
    pub source: String,
    /// The database whose sequences are set.
    pub target: String,
}

/// A sequence's position.
#[derive(Debug, Clone)]
pub struct SequenceValue {
    pub schema: String,
    pub name: String,
    /// None when the sequence was never used: the target restarts at `start`.
    pub last_value: Option<i64>,
    pub start: i64,
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "postgres.sync_sequences",
    SyncSequences,
    "set every sequence of the target to the source's value"
);

#[async_trait(?Send)]
impl Action for SyncSequences {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn endpoints(&self) -> Vec<String> {
        vec![
            crate::actions::shared::endpoint::database(&self.source),
            crate::actions::shared::endpoint::database(&self.target),
        ]
    }

    fn describe(&self) -> String {
        format!(
            "set the sequences of {} to the values of {}",
            label(&self.target),
            label(&self.source)
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let source = Endpoint::parse(&self.source)?;
        let target = Endpoint::parse(&self.target)?;
        let (src, dst) = tokio::try_join!(connect_pinned(&source), connect_pinned(&target))?;
        let count = copy_sequences(&src, &dst, cx).await?;
        Ok(Applied {
            data: serde_json::json!({ "sequences": count }),
            ..Applied::default()
        })
    }

    // Setting the sequences to the source's values twice lands in the same place.
    fn idempotent(&self) -> bool {
        true
    }

    // No inverse: sequences set part-way stay ahead of the target's rows, which is harmless; the next run sets them all (see the doc page).
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}

/// Reads every sequence of the source and sets the target's; fails, after
/// setting the others, naming those the target lacks.
pub async fn copy_sequences(
    src: &Client,
    dst: &Client,
    cx: &StepContext<'_>,
) -> anyhow::Result<usize> {
    let values = read_sequences(src).await?;
    let present: Vec<(String, String)> = read_sequences(dst)
        .await?
        .into_iter()
        .map(|s| (s.schema, s.name))
        .collect();
    let mut missing = Vec::new();
    let mut set = 0;
    for seq in &values {
        if !present.contains(&(seq.schema.clone(), seq.name.clone())) {
            missing.push(format!("{}.{}", seq.schema, seq.name));
            continue;
        }
        let name = format!("{}.{}", quote_ident(&seq.schema), quote_ident(&seq.name));
        let (value, called) = match seq.last_value {
            Some(v) => (v, true),
            None => (seq.start, false),
        };
        dst.query(
            "SELECT setval($1::text::regclass, $2, $3)",
            &[&name, &value, &called],
        )
        .await
        .map_err(|e| pg(e).context(format!("failed to set {}.{}", seq.schema, seq.name)))?;
        set += 1;
        cx.report(Progress::Output(format!(
            "{}.{} = {}",
            seq.schema,
            seq.name,
            match seq.last_value {
                Some(v) => v.to_string(),
                None => format!("unused (restarts at {})", seq.start),
            }
        )));
    }
    cx.report(Progress::Status(format!("{set} sequence(s) set")));
    if !missing.is_empty() {
        return Err(anyhow!("the target has no sequence {}", missing.join(", ")));
    }
    Ok(set)
}

async fn read_sequences(client: &Client) -> anyhow::Result<Vec<SequenceValue>> {
    let rows = client
        .query(
            "SELECT schemaname::text, sequencename::text, last_value, start_value FROM pg_sequences
             WHERE schemaname <> $1 ORDER BY 1, 2",
            &[&INTERNAL_SCHEMA],
        )
        .await
        .map_err(pg)
        .map_err(|e| e.context("failed to read pg_sequences"))?;
    Ok(rows
        .iter()
        .map(|r| SequenceValue {
            schema: r.get(0),
            name: r.get(1),
            last_value: r.get(2),
            start: r.get(3),
        })
        .collect())
}
