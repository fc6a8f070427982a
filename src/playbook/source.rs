//! `Source`: a playbook's path and text, kept alive for error rendering.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The UTF-8 byte order mark, accepted (and skipped) at the start of a file.
pub const BOM: char = '\u{FEFF}';

/// The file a playbook came from and its exact text.
#[derive(Debug, Clone)]
pub struct Source {
    path: PathBuf,
    text: String,
    line_starts: std::sync::OnceLock<Vec<usize>>,
}

/// Byte offsets where each line starts.
fn line_starts(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = vec![0];
    for (i, byte) in bytes.iter().enumerate() {
        let ends_line = *byte == b'\n' || (*byte == b'\r' && bytes.get(i + 1) != Some(&b'\n'));
        if ends_line {
            starts.push(i + 1);
        }
    }
    starts
}

impl Source {
    /// Builds a source from text already in memory (tests, the journal's copy).
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            text: text.into(),
            line_starts: std::sync::OnceLock::new(),
        }
    }

    /// Reads a playbook file. Invalid UTF-8 is an error the caller renders, not a panic.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let bytes = std::fs::read(path)?;
        let text = String::from_utf8(bytes).map_err(|error| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "the file is not UTF-8 text (first bad byte at offset {})",
                    error.utf8_error().valid_up_to()
                ),
            )
        })?;
        Ok(Self::new(path, text))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The sha256 of the exact bytes, recorded in the journal so an audit can tell
    /// which version of the playbook ran.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(self.text.as_bytes()))
    }

    /// The text of a 1-based line, without its line break. Lines end at `\n`,
    /// `\r\n` or a lone `\r`, as YAML counts them; the index is built once.
    pub fn line(&self, number: usize) -> Option<&str> {
        let starts = self.line_starts.get_or_init(|| line_starts(&self.text));
        let start = *starts.get(number.checked_sub(1)?)?;
        let end = starts.get(number).copied().unwrap_or(self.text.len());
        let line = self.text[start..end].trim_end_matches(['\n', '\r']);
        // Quoted without the byte order mark YAML parsing skipped.
        Some(if number == 1 {
            line.trim_start_matches(BOM)
        } else {
            line
        })
    }
}
