//! Reading and verifying journals: the hash chain, the sequence numbers and the
//! recorded head tell an edited, removed, reordered or truncated line.

use std::path::Path;

use anyhow::Context;

use super::record::{chain_hash, split_line, GENESIS};
use super::Record;

/// The first problem found, by 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Whole lines that verified.
    pub lines: usize,
    pub problem: Option<Problem>,
}

/// Reads every record of a journal, failing on the first unreadable line.
pub fn read(path: &Path) -> anyhow::Result<Vec<Record>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read journal {}", path.display()))?;
    // A last line without its newline was cut short by a crash: not part of
    // the run (`Writer::append_to` sets it aside the same way).
    let whole = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    let mut records = Vec::new();
    for (index, line) in whole.lines().enumerate() {
        let Some((body, _)) = split_line(line) else {
            anyhow::bail!("{}:{}: not a journal record", path.display(), index + 1);
        };
        let record: Record = serde_json::from_str(&body)
            .with_context(|| format!("{}:{}: not a journal record", path.display(), index + 1))?;
        records.push(record);
    }
    Ok(records)
}

/// Checks the hash chain, sequence numbers and the head file beside the journal.
pub fn verify(path: &Path) -> anyhow::Result<Verification> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read journal {}", path.display()))?;
    // The head: the seq and hash of the last line at the latest stop. More
    // lines may follow it (a run killed after it), never fewer, and the line
    // it names must still carry its hash.
    let head = std::fs::read_to_string(path.with_file_name("head")).ok();
    let (head_seq, head_hash) = match &head {
        Some(text) => {
            let mut parts = text.split_whitespace();
            let seq: usize = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
            (seq, parts.next().unwrap_or("").to_string())
        }
        None => (0, String::new()),
    };
    let mut hash_at_head = None;
    let mut prev_hash = GENESIS.to_string();
    let mut lines = 0;
    let fail = |lines: usize, line: usize, reason: String| {
        Ok(Verification {
            lines,
            problem: Some(Problem { line, reason }),
        })
    };
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let number = index + 1;
        let Some(line) = line.strip_suffix('\n') else {
            return fail(
                lines,
                number,
                "the last line is cut short (no newline)".into(),
            );
        };
        let Some((body, recorded)) = split_line(line) else {
            return fail(lines, number, "not a journal record (no hash)".into());
        };
        if chain_hash(&prev_hash, &body) != recorded {
            return fail(
                lines,
                number,
                "hash does not match: this line or one before it was edited, removed or reordered"
                    .into(),
            );
        }
        let record: Record = match serde_json::from_str(&body) {
            Ok(record) => record,
            Err(error) => return fail(lines, number, format!("not a journal record: {error}")),
        };
        if record.seq != number as u64 {
            return fail(
                lines,
                number,
                format!("sequence number {} where {number} was expected", record.seq),
            );
        }
        prev_hash = recorded.to_string();
        lines = number;
        if number == head_seq {
            hash_at_head = Some(prev_hash.clone());
        }
    }
    if head.is_some() {
        let seq = head_seq;
        if seq > lines {
            return fail(lines, lines + 1, format!("the journal ends at line {lines} but its head records {seq} lines: lines were removed from the end"));
        }
        if seq > 0 && hash_at_head.as_deref() != Some(head_hash.as_str()) {
            return fail(
                lines,
                seq,
                format!("line {seq} does not match the recorded head: the journal was rewritten from there or before"),
            );
        }
    }
    Ok(Verification {
        lines,
        problem: None,
    })
}
