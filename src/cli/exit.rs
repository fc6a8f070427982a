//! `ExitCode`, the one table of exit codes (README, `--help`), and `CliError`,
//! the error every subcommand returns.

use std::fmt::Write;

use crate::journal::Outcome;

/// The documented exit codes: the only place their numbers are written.
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

impl ExitCode {
    /// Every code, in order.
    pub const ALL: [ExitCode; 6] = [
        ExitCode::Done,
        ExitCode::Internal,
        ExitCode::Usage,
        ExitCode::RolledBack,
        ExitCode::NeedsOperator,
        ExitCode::Refused,
    ];

    /// The number the process exits with.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// What the code means, as `--help` lists it (lines broken to fit 80 columns).
    fn meaning(self) -> &'static str {
        match self {
            ExitCode::Done => "done",
            ExitCode::Internal => {
                "internal error (I/O), or `audit verify` found a line or a head signature\n\
                 that does not verify"
            }
            ExitCode::Usage => "invalid playbook or command line",
            ExitCode::RolledBack => {
                "rolled back: a step failed, the run was interrupted, or `cutover rollback`\n\
                 ran"
            }
            ExitCode::NeedsOperator => {
                "an operator must decide: a failure past the point of no return, a rollback\n\
                 that failed, or a resume without a decision"
            }
            ExitCode::Refused => {
                "refused before the first step: outside the window, the checklist not\n\
                 confirmed or a check failed, the playbook locked by another run, or an\n\
                 approval gate with no terminal and no --approve"
            }
        }
    }

    /// The `Exit codes:` section of `--help`.
    pub fn help() -> String {
        let mut out = String::from("Exit codes:");
        for code in Self::ALL {
            let meaning = code.meaning().replace('\n', "\n     ");
            let _ = write!(out, "\n  {}  {meaning}", code.code());
        }
        out
    }
}

/// How a run ended decides how the process exits.
impl From<Outcome> for ExitCode {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Done => ExitCode::Done,
            Outcome::RolledBack => ExitCode::RolledBack,
            Outcome::NeedsOperator => ExitCode::NeedsOperator,
            Outcome::Refused => ExitCode::Refused,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The `--help` section, byte for byte, within 80 columns.
    #[test]
    fn help_lists_every_code() {
        let help = ExitCode::help();
        assert_eq!(
            help,
            "Exit codes:
  0  done
  1  internal error (I/O), or `audit verify` found a line or a head signature
     that does not verify
  2  invalid playbook or command line
  3  rolled back: a step failed, the run was interrupted, or `cutover rollback`
     ran
  4  an operator must decide: a failure past the point of no return, a rollback
     that failed, or a resume without a decision
  5  refused before the first step: outside the window, the checklist not
     confirmed or a check failed, the playbook locked by another run, or an
     approval gate with no terminal and no --approve"
        );
        assert!(help.lines().all(|line| line.chars().count() <= 80));
    }

    /// README's `## Exit codes` table lists exactly the enum's codes, in order.
    #[test]
    fn readme_table_lists_exactly_the_codes() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("\n## Exit codes\n")
            .nth(1)
            .expect("README has an `## Exit codes` section");
        let section = section.split("\n## ").next().unwrap_or(section);
        let listed: Vec<i32> = section
            .lines()
            .filter_map(|line| line.strip_prefix("| "))
            .filter_map(|row| row.split(" |").next())
            .filter_map(|cell| cell.trim().parse().ok())
            .collect();
        let codes: Vec<i32> = ExitCode::ALL.iter().map(|c| c.code()).collect();
        assert_eq!(listed, codes);
    }

    #[test]
    fn every_outcome_has_its_code() {
        let codes: Vec<ExitCode> = [
            Outcome::Done,
            Outcome::RolledBack,
            Outcome::NeedsOperator,
            Outcome::Refused,
        ]
        .into_iter()
        .map(ExitCode::from)
        .collect();
        assert_eq!(
            codes,
            [
                ExitCode::Done,
                ExitCode::RolledBack,
                ExitCode::NeedsOperator,
                ExitCode::Refused
            ]
        );
    }
}
