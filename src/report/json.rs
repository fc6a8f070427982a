//! `Json`: the journal's records as JSON lines, plus progress, for machines.

use std::io::Write;

use super::Observer;
use crate::actions::Progress;
use crate::journal::Record;

pub struct Json<W: Write> {
    out: W,
}

impl<W: Write> Json<W> {
    pub fn new(out: W) -> Self {
        Self { out }
    }
}

impl<W: Write> Observer for Json<W> {
    fn record(&mut self, record: &Record) {
        if let Ok(line) = serde_json::to_string(record) {
            let _ = writeln!(self.out, "{line}");
            let _ = self.out.flush();
        }
    }

    fn progress(&mut self, step: &str, progress: &Progress) {
        let value = match progress {
            Progress::Output(line) => {
                serde_json::json!({ "progress": "output", "step": step, "line": line })
            }
            Progress::Status(text) => {
                serde_json::json!({ "progress": "status", "step": step, "text": text })
            }
            Progress::Amount { done, total, unit } => {
                serde_json::json!({ "progress": "amount", "step": step, "done": done, "total": total, "unit": unit })
            }
            Progress::Transfer {
                done,
                total,
                rate,
                eta,
            } => serde_json::json!({
                "progress": "transfer", "step": step, "done": done, "total": total, "unit": "bytes",
                "bytes_per_second": rate, "eta_seconds": eta.map(|e| e.as_secs_f64()),
            }),
        };
        let _ = writeln!(self.out, "{value}");
    }

    fn notice(&mut self, text: &str) {
        let _ = writeln!(self.out, "{}", serde_json::json!({ "notice": text }));
    }
}
