//! `cutover validate`: every problem in a playbook, or `valid`.

use super::args::{Output, ValidateArgs};
use super::{CliError, ExitCode};
use crate::playbook::{Diagnostics, Severity, Source};

pub fn validate(args: ValidateArgs) -> Result<ExitCode, CliError> {
    let source = read_source(&args.playbook)?;
    let result = crate::plan::validate(&source);
    let (diagnostics, ok) = match result {
        Ok((_, warnings)) => (warnings, true),
        Err(errors) => (errors, false),
    };
    if args.output == Output::Json {
        let items = diagnostics.sorted();
        let value = serde_json::json!({ "file": source.path(), "valid": ok, "problems": items });
        println!("{value}");
    } else {
        eprint!("{}", render(&source, diagnostics));
        if ok {
            println!("{}: valid", source.path().display());
        }
    }
    Ok(if ok { ExitCode::Done } else { ExitCode::Usage })
}

/// Reads a playbook; unreadable files are usage errors with the path.
pub fn read_source(path: &std::path::Path) -> Result<Source, CliError> {
    Source::read(path).map_err(|error| {
        CliError::new(
            ExitCode::Usage,
            format!("cannot read playbook {}: {error}", path.display()),
        )
    })
}

/// Renders diagnostics in file order, with a closing count.
pub fn render(source: &Source, diagnostics: Diagnostics) -> String {
    let items = diagnostics.sorted();
    let errors = items
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let mut out: String = items.iter().map(|d| d.render(source) + "\n").collect();
    if errors > 0 {
        out.push_str(&format!(
            "{}: {errors} problem{} found\n",
            source.path().display(),
            if errors == 1 { "" } else { "s" }
        ));
    }
    out
}

/// Compiles for execution, turning every kind of failure into its exit code.
pub fn compile(
    source: &Source,
    mode: crate::plan::EnvMode,
    overrides: &[(String, String)],
) -> Result<crate::plan::Plan, CliError> {
    crate::plan::compile(source, mode, overrides).map_err(|error| match error {
        crate::plan::CompileError::Invalid(diagnostics) => {
            CliError::rendered(ExitCode::Usage, render(source, diagnostics))
        }
        crate::plan::CompileError::Environment(problems) => CliError::new(
            ExitCode::Usage,
            format!(
                "{}: cannot resolve the playbook:\n  {}",
                source.path().display(),
                problems.join("\n  ")
            ),
        )
        .hint("check the environment variables the playbook reads (secrets among them) and any --vars file"),
    })
}
