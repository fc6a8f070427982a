//! `Plain`: timestamped lines, for logs and pipes (no terminal).

use std::io::Write;
use std::time::Instant;

use super::transfer::{figures, plain_line_due};
use super::{clock, describe_record, Observer};
use crate::actions::Progress;
use crate::journal::Record;

pub struct Plain<W: Write> {
    out: W,
    /// Show each output line of running steps.
    pub show_output: bool,
    /// When the running transfer's figures were last printed.
    transfer_line: Option<Instant>,
}

impl<W: Write> Plain<W> {
    pub fn new(out: W) -> Self {
        Self {
            out,
            show_output: true,
            transfer_line: None,
        }
    }
}

impl<W: Write> Observer for Plain<W> {
    fn record(&mut self, record: &Record) {
        if matches!(
            record.event,
            crate::journal::Event::StepStarted { .. } | crate::journal::Event::StepFinished { .. }
        ) {
            self.transfer_line = None;
        }
        if let Some(line) = describe_record(record) {
            let _ = writeln!(self.out, "{}Z {line}", clock(record));
            let _ = self.out.flush();
        }
    }

    fn progress(&mut self, step: &str, progress: &Progress) {
        match progress {
            Progress::Output(line) if self.show_output => {
                let _ = writeln!(self.out, "          {step} | {line}");
            }
            Progress::Status(text) => {
                let _ = writeln!(self.out, "          {step} : {text}");
            }
            Progress::Transfer {
                done,
                total,
                rate,
                eta,
            } if plain_line_due(self.transfer_line.map(|t| t.elapsed()), *done, *total) => {
                self.transfer_line = Some(Instant::now());
                let text = figures(*done, *total, *rate, *eta);
                let _ = writeln!(self.out, "          {step} : {text}");
            }
            _ => {}
        }
    }

    fn notice(&mut self, text: &str) {
        let _ = writeln!(self.out, "note: {text}");
    }
}
