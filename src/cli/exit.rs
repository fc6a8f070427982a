//! Exit codes and the error type every subcommand returns.

use std::fmt::Write;

/// The documented exit codes (README, `--help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum ExitCode {
    Done = 0,
    /// Something went wrong that is none of the cases below (an I/O error).
    Internal = 1,
    /// Invalid playbook or command line.
    Usage = 2,
    /// A step failed and the run was rolled back.
    RolledBack = 3,
    /// An operator must decide: past the point of no return, a failed rollback,
    /// an undecided resume.
    NeedsOperator = 4,
    /// Refused before the first step: window, checklist, lock, approvals.
    Refused = 5,
}

/// An error with its exit code, printed as `error: …`, `caused by: …` and `hint: …`.
#[derive(Debug)]
pub struct CliError {
    pub code: ExitCode,
    pub message: String,
    pub hint: Option<String>,
}

impl CliError {
    pub fn new(code: ExitCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Already-rendered output (diagnostics) that should be printed as is.
    pub fn rendered(code: ExitCode, text: String) -> Self {
        Self {
            code,
            message: text,
            hint: None,
        }
    }

    pub fn print(&self) {
        let mut out = String::new();
        if self.message.contains(": error: ") || self.message.starts_with("error") {
            out.push_str(&self.message);
        } else {
            let _ = writeln!(out, "error: {}", self.message);
        }
        if let Some(hint) = &self.hint {
            let _ = writeln!(out, "hint: {hint}");
        }
        eprint!("{}", crate::redact::redact_urls(&out));
    }
}

impl From<anyhow::Error> for CliError {
    fn from(error: anyhow::Error) -> Self {
        let mut message = error.to_string();
        for cause in error.chain().skip(1) {
            let _ = write!(message, "\ncaused by: {cause}");
        }
        Self::new(ExitCode::Internal, message)
    }
}
