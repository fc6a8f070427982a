//! `Plain`: timestamped lines, for logs and pipes (no terminal).

use std::io::Write;

use super::{clock, describe_record, Observer};
use crate::actions::Progress;
use crate::journal::Record;

pub struct Plain<W: Write> {
    out: W,
    /// Show each output line of running steps.
    pub show_output: bool,
}

impl<W: Write> Plain<W> {
    pub fn new(out: W) -> Self {
        Self {
            out,
            show_output: true,
        }
    }
}

impl<W: Write> Observer for Plain<W> {
    fn record(&mut self, record: &Record) {
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
            _ => {}
        }
    }

    fn notice(&mut self, text: &str) {
        let _ = writeln!(self.out, "note: {text}");
    }
}
