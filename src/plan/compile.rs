//! `compile`: source → `Plan`, or every problem found. `validate` is the same
//! path without resolving the environment.

use std::path::Path;

use super::model::DEFAULT_ROLLBACK_RETRIES;
use super::{check, Plan, PlanItem, PlannedCall, PlannedStep, Redactor, RollbackOrigin, Values};
use crate::actions;
use crate::playbook::{
    self, ActionCall, Diagnostics, Entry, Playbook, Retries, RollbackSpec, Source,
};

pub use super::values::EnvMode;

/// Why a playbook cannot become a plan.
#[derive(Debug)]
pub enum CompileError {
    /// Problems in the file, each with its position.
    Invalid(Diagnostics),
    /// The file is fine but the environment is not (unset variables).
    Environment(Vec<String>),
}

/// Loads and checks a playbook without touching the environment.
pub fn validate(source: &Source) -> Result<(Playbook, Diagnostics), Diagnostics> {
    let (playbook, mut diagnostics) = playbook::load(source)?;
    check(&playbook, &mut diagnostics);
    if diagnostics.has_errors() {
        Err(diagnostics)
    } else {
        Ok((playbook, diagnostics))
    }
}

/// Loads, checks and resolves a playbook into a runnable plan.
pub fn compile(source: &Source, mode: EnvMode) -> Result<Plan, CompileError> {
    let (playbook, _warnings) = validate(source).map_err(CompileError::Invalid)?;
    let values = Values::new(&playbook.vars, &playbook.secrets, mode);
    let mut problems = Vec::new();
    let mut items = Vec::new();
    for entry in &playbook.steps {
        match entry {
            Entry::Checkpoint(c) => items.push(PlanItem::Checkpoint(c.checkpoint.clone())),
            Entry::Step(step) => {
                let call = resolve_call(
                    &step.action,
                    step.with.as_ref(),
                    step.timeout.map(|t| t.0),
                    step.retries,
                    &values,
                );
                let call = match call {
                    Ok(call) => call,
                    Err(message) => {
                        problems.push(format!("step `{}`: {message}", step.id));
                        continue;
                    }
                };
                let (rollback, rollback_origin) = match &step.rollback {
                    RollbackSpec::None => (None, RollbackOrigin::OptedOut),
                    RollbackSpec::Implied => match call.action.inverse() {
                        Some(action) => (
                            Some(PlannedCall {
                                action,
                                timeout: call.timeout,
                                retries: DEFAULT_ROLLBACK_RETRIES,
                            }),
                            RollbackOrigin::Implied,
                        ),
                        None => (None, RollbackOrigin::NoInverse),
                    },
                    RollbackSpec::Call(ActionCall {
                        action,
                        with,
                        timeout,
                        retries,
                        ..
                    }) => {
                        let retries = retries.or(Some(DEFAULT_ROLLBACK_RETRIES));
                        match resolve_call(
                            action,
                            with.as_ref(),
                            timeout.map(|t| t.0),
                            retries,
                            &values,
                        ) {
                            Ok(call) => (Some(call), RollbackOrigin::Explicit),
                            Err(message) => {
                                problems.push(format!("rollback of step `{}`: {message}", step.id));
                                continue;
                            }
                        }
                    }
                };
                items.push(PlanItem::Step(Box::new(PlannedStep {
                    id: step.id.clone(),
                    name: step.name.clone(),
                    idempotent: step.idempotent.unwrap_or_else(|| call.action.idempotent()),
                    call,
                    estimate: step.estimate.map(|e| e.0),
                    point_of_no_return: step.point_of_no_return,
                    rollback,
                    rollback_origin,
                })));
            }
        }
    }
    if !problems.is_empty() {
        return Err(CompileError::Environment(problems));
    }
    let base_dir = source
        .path()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    Ok(Plan {
        name: playbook.name,
        description: playbook.description,
        source_path: source.path().to_path_buf(),
        base_dir: if base_dir.as_os_str().is_empty() {
            ".".into()
        } else {
            base_dir
        },
        sha256: source.sha256(),
        items,
        redactor: Redactor::new(values.secret_values()),
    })
}

fn resolve_call(
    action: &str,
    with: Option<&serde_json::Value>,
    timeout: Option<std::time::Duration>,
    retries: Option<Retries>,
    values: &Values,
) -> Result<PlannedCall, String> {
    let info = actions::lookup(action).ok_or_else(|| format!("unknown action `{action}`"))?;
    let json = values.render_json(with.unwrap_or(&serde_json::json!({})))?;
    let action = (info.decode)(json).map_err(|e| e.message)?;
    Ok(PlannedCall {
        action,
        timeout,
        retries: retries.unwrap_or_default(),
    })
}
