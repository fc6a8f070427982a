//! What the `rds.*` actions share beside their API: the tags on what a run
//! creates, the parts of a step's context they use, identifiers.

use std::collections::BTreeMap;

use super::api::{RUN_TAG, STEP_TAG};

/// The tags cutover puts on what a step creates.
pub fn run_tags(run: &str, step: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (RUN_TAG.to_string(), run.to_string()),
        (STEP_TAG.to_string(), step.to_string()),
    ])
}

pub(crate) use crate::actions::shared::aws::aws_fields;

/// The parts of a `StepContext` the RDS logic uses, so that logic can be
/// tested without an engine.
pub struct Here<'a> {
    pub run: &'a str,
    pub step: &'a str,
    pub report: &'a dyn Fn(crate::actions::Progress),
}

impl<'a> Here<'a> {
    pub fn of(cx: &'a crate::actions::StepContext<'_>) -> Self {
        Self {
            run: cx.run_id,
            step: cx.step,
            report: cx.progress,
        }
    }
}

/// An RDS identifier from free text: letters, digits and single hyphens,
/// starting with a letter, at most `max` characters.
pub fn identifier(text: &str, max: usize) -> String {
    let mut id = String::new();
    for c in text.chars() {
        let c = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '-'
        };
        if c == '-' && (id.is_empty() || id.ends_with('-')) {
            continue;
        }
        id.push(c);
    }
    if !id.starts_with(|c: char| c.is_ascii_alphabetic()) {
        id.insert_str(0, "c-");
    }
    id.truncate(max);
    id.trim_end_matches('-').to_string()
}

/// The snapshot id `rds.snapshot` uses when the playbook gives none: the run
/// id (which starts with the run's UTC start time) and the step, so a resumed
/// or rolled-back step finds the same snapshot.
pub fn default_snapshot_id(run: &str, step: &str) -> String {
    identifier(&format!("cutover-{run}-{step}"), 255)
}

/// Whether instance `id` is still to be created by this step: `true` when no
/// instance has that id; `false` when this run created it already (a resumed
/// step reuses it, saying `again`); an error when it belongs to someone else.
pub async fn instance_to_create<A: super::api::RdsApi>(
    api: &A,
    id: &str,
    here: &Here<'_>,
    again: &str,
) -> anyhow::Result<bool> {
    match api.instance(id).await? {
        Some(found) if found.created_by(here.run) => {
            (here.report)(crate::actions::Progress::Status(again.to_string()));
            Ok(false)
        }
        Some(_) => anyhow::bail!("instance `{id}` already exists and this run did not create it; choose another `instance`"),
        None => Ok(true),
    }
}
