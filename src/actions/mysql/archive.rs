//! The SQL archive `mysql.snapshot` writes and `mysql.restore` reads: what
//! its comment lines say while it streams (`DumpNotes`), and what its head and
//! tail say of it at rest (`ArchiveInfo`).

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{anyhow, Context};
use sha2::{Digest, Sha256};

use super::position::BinlogPosition;

/// The last line of a complete `mysqldump` / `mariadb-dump` archive.
pub const COMPLETED: &str = "-- Dump completed";

/// Comment lines longer than this are not ours to read (data lines are
/// skipped without being buffered).
const MAX_NOTE: usize = 1024;

/// What the dump's `--` comment lines said, collected as the bytes stream by.
#[derive(Debug, Default)]
pub struct DumpNotes {
    /// The table whose rows are streaming now.
    pub table: String,
    /// Tables whose data section has started.
    pub tables: u64,
    /// `-- CHANGE MASTER TO MASTER_LOG_FILE='…', MASTER_LOG_POS=…` (or MySQL's
    /// `SOURCE_LOG_…`), and the GTID position printed beside it.
    pub position: Option<BinlogPosition>,
    /// The closing `-- Dump completed on …` line was seen.
    pub completed: bool,
    line: Vec<u8>,
    /// Inside a line that is not a comment, or too long to be one of ours.
    skipping: bool,
}

impl DumpNotes {
    /// Reads the comment lines of `chunk`, continuing a line cut by the last one.
    pub fn feed(&mut self, chunk: &[u8]) {
        for part in chunk.split_inclusive(|b| *b == b'\n') {
            let ends = part.last() == Some(&b'\n');
            let text = if ends { &part[..part.len() - 1] } else { part };
            if !self.skipping {
                self.line.extend_from_slice(text);
                let starts_comment = self.line.len() < 2 || self.line.starts_with(b"--");
                if !starts_comment || self.line.len() > MAX_NOTE {
                    // A statement: whatever came before was not the end.
                    self.completed = false;
                    self.skipping = true;
                    self.line.clear();
                }
            }
            if ends {
                if !self.skipping {
                    let line = String::from_utf8_lossy(&self.line).into_owned();
                    self.note(&line);
                }
                self.line.clear();
                self.skipping = false;
            }
        }
    }

    fn note(&mut self, line: &str) {
        if line.starts_with(COMPLETED) {
            self.completed = true;
        } else if !line.trim_start_matches('-').trim().is_empty() {
            self.completed = false;
        }
        if let Some(table) = line.strip_prefix("-- Dumping data for table ") {
            self.table = table.trim().trim_matches('`').to_string();
            self.tables += 1;
        } else if line.contains("_LOG_FILE='") {
            let file = quoted_after(line, "_LOG_FILE=");
            let pos = line
                .split_once("_LOG_POS=")
                .map(|(_, rest)| {
                    rest.chars()
                        .take_while(char::is_ascii_digit)
                        .collect::<String>()
                })
                .and_then(|digits| digits.parse().ok());
            if let (Some(file), Some(pos)) = (file, pos) {
                let gtid = self.position.take().and_then(|p| p.gtid);
                self.position = Some(BinlogPosition { file, pos, gtid });
            }
        } else if line.contains("gtid_slave_pos='") || line.contains("GTID_PURGED=") {
            let gtid = line
                .rsplit_once('\'')
                .and_then(|(head, _)| head.rsplit_once('\'').map(|(_, value)| value.to_string()));
            if let (Some(position), Some(gtid)) = (self.position.as_mut(), gtid) {
                position.gtid = Some(gtid);
            }
        }
    }
}

/// `'value'` after `key` in `line`.
fn quoted_after(line: &str, key: &str) -> Option<String> {
    let rest = line.split_once(key)?.1.strip_prefix('\'')?;
    Some(rest.split_once('\'')?.0.to_string())
}

/// An archive on disk, as its first and last lines describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveInfo {
    /// The database it was dumped from (`-- Host: … Database: shop`).
    pub database: String,
    /// When the dump ended (`-- Dump completed on …`).
    pub completed: String,
    pub size: u64,
    /// Names this archive and no other: database, end time, size and a hash
    /// of its first and last 64 kB (cheap, and different for every dump).
    pub identity: String,
}

/// Reads the head and the tail of an archive: a plain SQL dump by
/// `mariadb-dump` or `mysqldump` that ran to its end.
pub fn inspect(path: &Path) -> anyhow::Result<ArchiveInfo> {
    const EDGE: u64 = 64 * 1024;
    let mut file =
        std::fs::File::open(path).with_context(|| format!("no archive at {}", path.display()))?;
    let size = file
        .metadata()
        .with_context(|| format!("failed to read {}", path.display()))?
        .len();
    let mut head = Vec::new();
    (&mut file)
        .take(EDGE)
        .read_to_end(&mut head)
        .with_context(|| format!("failed to read {}", path.display()))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        return Err(anyhow!(
            "{} is compressed (gzip): `mysql.restore` reads the plain SQL that `mysql.snapshot` writes (hint: `gunzip` it first)",
            path.display()
        ));
    }
    let mut tail = Vec::new();
    file.seek(SeekFrom::Start(size.saturating_sub(EDGE)))
        .and_then(|_| file.read_to_end(&mut tail))
        .with_context(|| format!("failed to read {}", path.display()))?;
    let head_text = String::from_utf8_lossy(&head);
    let dumped_by = head_text
        .lines()
        .take(5)
        .any(|l| l.starts_with("-- MariaDB dump") || l.starts_with("-- MySQL dump"));
    if !dumped_by {
        return Err(anyhow!(
            "{} is not an archive of `mariadb-dump` or `mysqldump` (its first lines do not say `-- MariaDB dump` or `-- MySQL dump`)",
            path.display()
        ));
    }
    let tail_text = String::from_utf8_lossy(&tail);
    let completed = tail_text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| l.strip_prefix(COMPLETED))
        .map(|rest| rest.trim_start_matches(" on").trim().to_string())
        .ok_or_else(|| {
            anyhow!(
                "{} is incomplete: it does not end with `{COMPLETED} on …` (the dump that wrote it was cut short)",
                path.display()
            )
        })?;
    let database = head_text
        .lines()
        .take(10)
        .find_map(|l| l.split_once("Database: "))
        .map(|(_, db)| db.trim().to_string())
        .unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(&head);
    hasher.update(&tail);
    let edges = hex::encode(hasher.finalize());
    Ok(ArchiveInfo {
        identity: format!(
            "{database} dumped {completed} ({size} bytes, {})",
            &edges[..16]
        ),
        database,
        completed,
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB\n--\n-- Host: 127.0.0.1    Database: shop\n\
        -- CHANGE MASTER TO MASTER_USE_GTID=slave_pos;\n\
        -- CHANGE MASTER TO MASTER_LOG_FILE='binlog.000001', MASTER_LOG_POS=1031;\n\
        --\n-- Dumping data for table `orders`\n--\nINSERT INTO `orders` VALUES (1,'-- Dumping data for table `x`');\n\
        -- Dumping data for table `audit_log`\n\
        -- SET GLOBAL gtid_slave_pos='0-1-4';\n/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;\n\n-- Dump completed on 2026-01-02 03:04:05\n";

    #[test]
    fn notes_are_read_across_chunk_boundaries_and_data_lines_skipped() {
        for size in [1, 3, 7, 64, DUMP.len()] {
            let mut notes = DumpNotes::default();
            for chunk in DUMP.as_bytes().chunks(size) {
                notes.feed(chunk);
            }
            assert_eq!(notes.tables, 2, "chunks of {size}");
            assert_eq!(notes.table, "audit_log");
            assert!(notes.completed);
            assert_eq!(
                notes.position,
                Some(BinlogPosition {
                    file: "binlog.000001".into(),
                    pos: 1031,
                    gtid: Some("0-1-4".into())
                })
            );
        }
        let mut cut = DumpNotes::default();
        cut.feed(&DUMP.as_bytes()[..DUMP.len() - 60]);
        assert!(!cut.completed);
    }

    #[test]
    fn an_archive_is_named_by_its_edges_and_refused_when_cut_short() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shop.sql");
        std::fs::write(&path, DUMP).unwrap();
        let info = inspect(&path).unwrap();
        assert_eq!(info.database, "shop");
        assert_eq!(info.completed, "2026-01-02 03:04:05");
        assert!(info
            .identity
            .starts_with("shop dumped 2026-01-02 03:04:05 ("));
        std::fs::write(&path, &DUMP[..DUMP.len() - 40]).unwrap();
        let error = inspect(&path).unwrap_err().to_string();
        assert!(error.contains("is incomplete"), "{error}");
        std::fs::write(&path, "SELECT 1;\n").unwrap();
        let error = inspect(&path).unwrap_err().to_string();
        assert!(error.contains("is not an archive"), "{error}");
    }
}
