//! `postgres.drop_replication`: drop the subscription (and its slots) and the
//! publication `postgres.replicate` made; the implied rollback of it. As the
//! undo of a replicate step it drops exactly what that step's notes name — also
//! after a failure, a timeout or a crash half-way through — including the
//! table-sync slots of a subscription that never finished its initial copy.

use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use tokio_postgres::Client;

use super::catalog::exists;
use super::connect::{label, pg, quote_ident, Endpoint};
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};

/// Note keys `postgres.replicate` journals before it creates each object.
pub const NOTE_PUBLICATION: &str = "made_publication";
pub const NOTE_SUBSCRIPTION: &str = "made_subscription";
pub const NOTE_SLOT: &str = "made_slot";
/// The subscription's oid, which names its table-sync slots on the source.
pub const NOTE_SUBSCRIPTION_OID: &str = "subscription_oid";
/// The oid this undo read before dropping the subscription, for its retries.
const NOTE_DROPPING_OID: &str = "dropping_subscription_oid";

/// Parameters of `postgres.drop_replication`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DropReplication {
    /// The publisher.
    pub source: String,
    /// The subscriber.
    pub target: String,
    #[serde(default = "default_name")]
    pub publication: String,
    #[serde(default = "default_name")]
    pub subscription: String,
}

fn default_name() -> String {
    "cutover".to_string()
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "postgres.drop_replication",
    DropReplication,
    "drop the subscription (and its slots) and the publication of postgres.replicate"
);

/// What to drop: from the step's notes when it has any, else the parameters.
struct Doomed {
    publication: Option<String>,
    subscription: Option<String>,
    slot: Option<String>,
    oid: Option<u32>,
    /// Named by notes: made by this run, so an active slot is ours to end.
    noted: bool,
}

impl DropReplication {
    fn doomed(&self, cx: &StepContext<'_>) -> Doomed {
        let text = |key: &str| cx.recall(key).and_then(|v| v.as_str()).map(str::to_string);
        let oid = [NOTE_SUBSCRIPTION_OID, NOTE_DROPPING_OID]
            .iter()
            .find_map(|key| cx.recall(key).and_then(|v| v.as_u64()))
            .and_then(|oid| u32::try_from(oid).ok());
        let noted = [NOTE_PUBLICATION, NOTE_SUBSCRIPTION, NOTE_SLOT]
            .iter()
            .any(|key| cx.recall(key).is_some());
        if noted {
            Doomed {
                publication: text(NOTE_PUBLICATION),
                subscription: text(NOTE_SUBSCRIPTION),
                slot: text(NOTE_SLOT),
                oid,
                noted,
            }
        } else {
            // A step of its own, or the undo of a step that noted nothing
            // (a journal from before notes): what the parameters name.
            Doomed {
                publication: Some(self.publication.clone()),
                subscription: Some(self.subscription.clone()),
                slot: Some(self.subscription.clone()),
                oid,
                noted,
            }
        }
    }
}

#[async_trait(?Send)]
impl Action for DropReplication {
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
            "drop subscription `{}` on {} and publication `{}` on {}",
            self.subscription,
            label(&self.target),
            self.publication,
            label(&self.source)
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let source = Endpoint::parse(&self.source)?;
        let target = Endpoint::parse(&self.target)?;
        let mut doomed = self.doomed(cx);
        let mut dropped = Vec::new();
        // The source may be down (the reason for the undo): the subscription
        // is dropped on the target all the same, and its slots when it is back.
        let mut src = None;
        let mut slots_before = Vec::new();
        if let Some(subscription) = &doomed.subscription {
            let dst = target.connect().await?;
            if let Some(oid) = super::catalog::subscription_oid(&dst, subscription).await? {
                if doomed.oid != Some(oid) {
                    // Kept for a retry after the subscription is gone.
                    cx.note(serde_json::json!({ (NOTE_DROPPING_OID): oid }))?;
                    doomed.oid = Some(oid);
                }
                // Which slots DROP SUBSCRIPTION takes with it, to name them.
                if let Ok(client) = source.connect().await {
                    slots_before = slots(&client, &doomed).await.unwrap_or_default();
                    src = Some(client);
                }
                drop_subscription(&dst, subscription, cx).await?;
                dropped.push(format!("subscription {subscription}"));
            }
        }
        let src = match src {
            Some(client) => client,
            None => source.connect().await?,
        };
        if let Some(publication) = &doomed.publication {
            if exists(&src, "pg_publication", "pubname", publication).await? {
                src.batch_execute(&format!("DROP PUBLICATION {}", quote_ident(publication)))
                    .await
                    .map_err(pg)
                    .with_context(|| {
                        format!(
                            "failed to drop publication `{publication}` on {}",
                            source.label()
                        )
                    })?;
                dropped.push(format!("publication {publication}"));
            }
        }
        let remaining = slots(&src, &doomed).await?;
        for slot in &remaining {
            drop_slot(&src, slot, doomed.noted).await.with_context(|| {
                format!(
                    "failed to drop replication slot `{slot}` on {}",
                    source.label()
                )
            })?;
        }
        let mut gone: Vec<&String> = slots_before.iter().chain(&remaining).collect();
        gone.sort();
        gone.dedup();
        dropped.extend(gone.into_iter().map(|slot| format!("slot {slot}")));
        cx.report(Progress::Status(if dropped.is_empty() {
            "nothing to drop".to_string()
        } else {
            format!("dropped {}", dropped.join(", "))
        }));
        Ok(Applied {
            data: serde_json::json!({ "dropped": dropped }),
            ..Applied::default()
        })
    }

    // Drops only what is still there.
    fn idempotent(&self) -> bool {
        true
    }

    // No inverse to undo a half-done drop with (a dropped slot's WAL is
    // gone); running it again finishes it.
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}

/// DROP SUBSCRIPTION also drops its slots on the publisher; when that fails
/// (the publisher down, a slot still busy), the slots are detached and the
/// caller drops them on the source.
async fn drop_subscription(
    dst: &Client,
    subscription: &str,
    cx: &StepContext<'_>,
) -> anyhow::Result<()> {
    let sub = quote_ident(subscription);
    if let Err(error) = dst.batch_execute(&format!("DROP SUBSCRIPTION {sub}")).await {
        cx.report(Progress::Status(format!(
            "could not drop subscription `{subscription}` with its slots ({}); detaching them",
            super::connect::describe(&error)
        )));
        dst.batch_execute(&format!(
            "ALTER SUBSCRIPTION {sub} DISABLE; ALTER SUBSCRIPTION {sub} SET (slot_name = NONE); DROP SUBSCRIPTION {sub}"
        ))
        .await
        .map_err(pg)
        .with_context(|| format!("failed to drop subscription `{subscription}`"))?;
    }
    Ok(())
}

/// The slots still on the source: the subscription's own and, by its oid,
/// its table-sync slots.
async fn slots(src: &Client, doomed: &Doomed) -> anyhow::Result<Vec<String>> {
    let main = doomed.slot.clone().unwrap_or_default();
    let sync = match doomed.oid {
        Some(oid) => format!("pg\\_{oid}\\_sync\\_%"),
        None => String::new(),
    };
    let rows = src
        .query(
            "SELECT slot_name::text FROM pg_replication_slots
             WHERE slot_name = $1 OR ($2 <> '' AND slot_name LIKE $2) ORDER BY 1",
            &[&main, &sync],
        )
        .await
        .map_err(pg)?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Drops one slot. A slot is busy for a moment after its subscription went
/// (its WAL sender exits); a slot this run made whose sender lingers — a
/// table-sync COPY blocked on a lock — has its sender ended.
async fn drop_slot(src: &Client, slot: &str, ours: bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut ended = false;
    loop {
        let row = src
            .query_opt(
                "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1",
                &[&slot],
            )
            .await
            .map_err(pg)?;
        let Some(row) = row else { return Ok(()) };
        match row.get::<_, Option<i32>>(0) {
            None => {
                src.query("SELECT pg_drop_replication_slot($1)", &[&slot])
                    .await
                    .map_err(pg)?;
                return Ok(());
            }
            Some(pid) if ours && !ended && Instant::now() + Duration::from_secs(8) > deadline => {
                src.query("SELECT pg_terminate_backend($1)", &[&pid])
                    .await
                    .map_err(pg)?;
                ended = true;
            }
            Some(pid) if Instant::now() > deadline => {
                anyhow::bail!(
                    "it is still in use by process {pid} (hint: another subscriber may be using a slot of that name)"
                );
            }
            Some(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
