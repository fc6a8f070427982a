//! `compile`: source → `Plan`, or every problem found. `validate` is the same
//! path without resolving the environment.

use std::path::Path;

use super::model::DEFAULT_ROLLBACK_RETRIES;
use super::window::{parse_range, OnOverrun, WindowSpec};
use super::{
    check, CanarySpec, OnSlow, Plan, PlanItem, PlannedCall, PlannedCheck, PlannedStep,
    RollbackOrigin, Values, Webhook,
};
use crate::actions;
use crate::playbook::{
    self, ActionCall, Diagnostics, Entry, Playbook, Retries, RollbackSpec, Source,
};
use crate::redact::Redactor;

pub use super::values::EnvMode;
use super::values::MIN_SECRET_LEN;

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
/// `overrides` replace vars of the same name (`--vars FILE`: rehearsal targets).
pub fn compile(
    source: &Source,
    mode: EnvMode,
    overrides: &[(String, String)],
) -> Result<Plan, CompileError> {
    let (mut playbook, _warnings) = validate(source).map_err(CompileError::Invalid)?;
    for (name, value) in overrides {
        match playbook.vars.iter_mut().find(|(known, _)| known == name) {
            Some(var) => var.1 = value.clone(),
            None => {
                return Err(CompileError::Environment(vec![format!(
                    "--vars: the playbook has no var `{name}`"
                )]))
            }
        }
    }
    let values = Values::new(&playbook.vars, &playbook.secrets, mode);
    if let Some(short) = values.short_secret() {
        return Err(CompileError::Environment(vec![format!(
            "secret `{short}` is shorter than {MIN_SECRET_LEN} characters: it cannot be masked without masking every occurrence of those letters in the output"
        )]));
    }
    let mut problems = Vec::new();
    let mut items = Vec::new();
    for entry in &playbook.steps {
        match entry {
            Entry::Checkpoint(c) => items.push(PlanItem::Checkpoint(c.checkpoint.clone())),
            Entry::Step(step) => match plan_step(step, &playbook, &values) {
                Ok(planned) => items.push(PlanItem::Step(Box::new(planned))),
                Err(problem) => problems.push(problem),
            },
        }
    }
    let mut go_back = Vec::new();
    for step in crate::playbook::steps_of(&playbook.go_back) {
        match plan_step(step, &playbook, &values) {
            Ok(planned) => go_back.push(planned),
            Err(problem) => problems.push(format!("go_back: {problem}")),
        }
    }
    if !problems.is_empty() {
        // A parameter error may quote a value built from a secret.
        let redactor = Redactor::new(values.secret_values());
        return Err(CompileError::Environment(
            problems.iter().map(|p| redactor.redact(p)).collect(),
        ));
    }
    let base_dir = source
        .path()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let checklist = playbook
        .checklist
        .iter()
        .map(|item| {
            let verify = match &item.verify {
                Some(call) => Some(
                    resolve_call(
                        &call.action,
                        call.with.as_ref(),
                        call.timeout.map(|t| t.0),
                        call.retries,
                        &values,
                    )
                    .map_err(|message| format!("checklist `{}`: {message}", item.id))?,
                ),
                None => None,
            };
            Ok(PlannedCheck {
                id: item.id.clone(),
                text: item.text.clone(),
                verify,
            })
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(|message| CompileError::Environment(vec![message]))?;
    let notify = playbook
        .notify
        .iter()
        .map(|hook| {
            let headers = hook
                .headers
                .iter()
                .map(|(k, v)| Ok((k.clone(), values.render(v)?)))
                .collect::<Result<Vec<_>, String>>()?;
            Ok(Webhook {
                url: values.render(&hook.url)?,
                headers,
            })
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(|message| CompileError::Environment(vec![format!("webhook: {message}")]))?;
    let window = playbook.window.as_ref().map(window_spec);
    let canary = match &playbook.canary {
        Some(canary) => Some(
            canary_spec(canary, &values)
                .map_err(|message| CompileError::Environment(vec![format!("canary: {message}")]))?,
        ),
        None => None,
    };
    Ok(Plan {
        canary,
        downtime_budget: playbook.downtime_budget.map(|b| b.0),
        checklist,
        window,
        notify,
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
        go_back,
        redactor: Redactor::new(values.secret_values()),
    })
}

/// One step with its rollback decided and its `with` decoded.
fn plan_step(
    step: &crate::playbook::Step,
    playbook: &Playbook,
    values: &Values,
) -> Result<PlannedStep, String> {
    let call = resolve_call(
        &step.action,
        step.with.as_ref(),
        step.timeout.map(|t| t.0),
        step.retries,
        values,
    )
    .map_err(|message| format!("step `{}`: {message}", step.id))?;
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
            let call = resolve_call(action, with.as_ref(), timeout.map(|t| t.0), retries, values)
                .map_err(|message| format!("rollback of step `{}`: {message}", step.id))?;
            (Some(call), RollbackOrigin::Explicit)
        }
    };
    Ok(PlannedStep {
        id: step.id.clone(),
        name: step.name.clone(),
        idempotent: step.idempotent.unwrap_or_else(|| call.action.idempotent()),
        call,
        estimate: step.estimate.map(|e| e.0),
        estimate_p90: None,
        estimate_source: if step.estimate.is_some() {
            crate::plan::EstimateSource::Playbook
        } else {
            crate::plan::EstimateSource::Unknown
        },
        scale_note: None,
        point_of_no_return: step.point_of_no_return,
        rollback,
        rollback_origin,
        on_slow: match step.on_slow.as_deref().or(playbook.on_slow.as_deref()) {
            Some("pause") => OnSlow::Pause,
            Some("rollback") => OnSlow::Rollback,
            _ => OnSlow::Warn,
        },
        slow_factor: step
            .slow_factor
            .or(playbook.slow_factor)
            .unwrap_or(super::model::DEFAULT_SLOW_FACTOR),
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

/// The window, already checked: ranges parse and the zone exists.
fn window_spec(window: &crate::playbook::Window) -> WindowSpec {
    let ranges = |list: &[String]| {
        list.iter()
            .filter_map(|text| parse_range(text).ok().map(|range| (text.clone(), range)))
            .collect()
    };
    WindowSpec {
        timezone: jiff::tz::TimeZone::get(&window.timezone).unwrap_or(jiff::tz::TimeZone::UTC),
        timezone_name: window.timezone.clone(),
        allow: ranges(&window.allow),
        deny: ranges(&window.deny),
        margin: window.margin.map(|m| m.0).unwrap_or_default(),
        on_overrun: match window.on_overrun.as_deref() {
            Some("pause") => OnOverrun::Pause,
            Some("continue") => OnOverrun::Continue,
            _ => OnOverrun::Rollback,
        },
    }
}

/// The canary with its templates resolved; the URL's scheme picks the engine.
fn canary_spec(canary: &crate::playbook::Canary, values: &Values) -> Result<CanarySpec, String> {
    let url = values.render(&canary.url)?;
    let verify_url = match &canary.verify_url {
        Some(text) => values.render(text)?,
        None => url.clone(),
    };
    for text in [&url, &verify_url] {
        if crate::actions::shared::engine::Engine::of(text).is_none() {
            return Err(
                "the URL must start with postgres:// or mysql:// (mariadb:// too)".to_string(),
            );
        }
    }
    Ok(CanarySpec {
        url,
        verify_url,
        every: canary
            .every
            .map(|e| e.0)
            .unwrap_or(std::time::Duration::from_millis(10)),
        table: canary
            .table
            .clone()
            .unwrap_or_else(|| "cutover_canary".to_string()),
        keep: canary.keep,
    })
}
