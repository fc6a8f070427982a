//! Files and values given on the command line for a run: `--vars FILE`,
//! `--checklist-file FILE`, `--confirm`, `--now`.

use std::collections::BTreeMap;
use std::path::Path;

use super::{CliError, ExitCode};
use crate::playbook::{Node, NodeKind, Source};

/// Reads a `--vars` file: a YAML mapping of var names to scalar values.
pub fn read_vars(path: &Path) -> Result<(String, Vec<(String, String)>), CliError> {
    let source = Source::read(path).map_err(|e| {
        CliError::new(
            ExitCode::Usage,
            format!("cannot read --vars file {}: {e}", path.display()),
        )
    })?;
    let vars = parse_vars(&source)?;
    Ok((source.text().to_string(), vars))
}

/// Parses a vars file's text (also used for the copy kept in a run directory).
pub fn parse_vars(source: &Source) -> Result<Vec<(String, String)>, CliError> {
    let bad = |line: usize, col: usize, message: &str| {
        CliError::new(ExitCode::Usage, format!("{}:{line}:{col}: {message}", source.path().display()))
            .hint("a vars file is a mapping of names to values, e.g. `source: postgres://app@staging-db/orders`")
    };
    let root: Node = crate::playbook::parse_yaml(source.text())
        .map_err(|d| bad(d.span.line, d.span.col, &d.message))?;
    let NodeKind::Map(entries) = &root.kind else {
        return Err(bad(root.span.line, root.span.col, "expected a mapping"));
    };
    entries
        .iter()
        .map(|(key, value)| match (key.as_scalar(), value.as_scalar()) {
            (Some(k), Some(v)) if !value.is_null() => Ok((k.to_string(), v.to_string())),
            _ => Err(bad(
                value.span.line,
                value.span.col,
                "expected `name: value` with a text value",
            )),
        })
        .collect()
}

/// `--sign-key FILE`, read before anything runs: a bad key is a usage error,
/// not a run that ends unsigned.
pub fn signer(exec: &super::args::ExecArgs) -> Result<Option<crate::journal::Signer>, CliError> {
    exec.sign_key
        .as_deref()
        .map(crate::journal::Signer::from_file)
        .transpose()
        .map_err(|e| {
            CliError::new(ExitCode::Usage, format!("--sign-key: {e:#}"))
                .hint("the private key stays with you; `audit verify --pubkey` checks with its public half")
        })
}

/// `--confirm` ids and the ids of a `--checklist-file`, each with how it was given.
pub fn confirmations(
    confirm: &[String],
    file: Option<&Path>,
) -> Result<BTreeMap<String, String>, CliError> {
    let mut out: BTreeMap<String, String> = confirm
        .iter()
        .map(|id| (id.clone(), "--confirm".to_string()))
        .collect();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::new(
                ExitCode::Usage,
                format!("cannot read checklist file {}: {e}", path.display()),
            )
        })?;
        for line in text.lines() {
            let id = line
                .split('#')
                .next()
                .unwrap_or("")
                .trim()
                .trim_start_matches("- ")
                .trim();
            if !id.is_empty() {
                out.insert(id.to_string(), format!("checklist file {}", path.display()));
            }
        }
    }
    Ok(out)
}

/// Parses `--now`: an instant with an offset, or a civil time in `zone`.
pub fn parse_now(
    text: &str,
    zone: Option<&jiff::tz::TimeZone>,
) -> Result<jiff::Timestamp, CliError> {
    if let Ok(timestamp) = text.parse::<jiff::Timestamp>() {
        return Ok(timestamp);
    }
    let civil: jiff::civil::DateTime = text.parse().map_err(|_| {
        CliError::new(ExitCode::Usage, format!("--now: `{text}` is not a time"))
            .hint("write `2026-12-05T22:30:00Z`, `2026-12-05T22:30+01:00`, or `2026-12-05T22:30` in the window's zone")
    })?;
    let zone = zone.cloned().unwrap_or(jiff::tz::TimeZone::UTC);
    zone.to_ambiguous_timestamp(civil)
        .compatible()
        .map_err(|e| CliError::new(ExitCode::Usage, format!("--now: {e}")))
}
