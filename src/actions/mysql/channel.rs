//! `Dialect` and `ChannelStatus`: one named replication channel on a replica,
//! in the words of the server at hand (MariaDB's `'name'` connections, MySQL's
//! `FOR CHANNEL`, with `SLAVE` or `REPLICA` wording), and the arithmetic on
//! binlog positions and GTIDs that `mysql.replicate` and `mysql.catch_up` share.

use std::cmp::Ordering;
use std::collections::HashMap;

use anyhow::anyhow;
use mysql_async::prelude::Queryable;
use serde::{Deserialize, Deserializer};

use crate::actions::mysql::connect::{describe, Endpoint};

/// Server error: there is no such replication channel (MariaDB, MySQL).
const NO_SUCH_CHANNEL: &[u16] = &[1617, 3074];

/// Maps a driver error to `label: message (error N)`.
pub fn failed(endpoint: &Endpoint) -> impl Fn(mysql_async::Error) -> anyhow::Error + '_ {
    move |error| anyhow!("{}: {}", endpoint.label(), describe(&error))
}

/// A string as an SQL literal. Callers make sure the session does not run
/// with `NO_BACKSLASH_ESCAPES` (see [`Dialect::plain_escapes`]).
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

pub fn default_channel() -> String {
    "cutover".to_string()
}

/// A channel name that is safe in file names and statements.
pub fn channel_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let name = String::deserialize(deserializer)?;
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(name)
    } else {
        Err(serde::de::Error::custom(format!(
            "expected a channel name of letters, digits, `_` and `-` (at most 64), found `{name}`"
        )))
    }
}

/// How to talk about replication to one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    pub mariadb: bool,
    /// MySQL 8.0.26+: `REPLICA` / `SOURCE` wording (the old one is gone in 8.4).
    replica_words: bool,
}

impl Dialect {
    pub async fn detect(
        conn: &mut mysql_async::Conn,
        endpoint: &Endpoint,
    ) -> anyhow::Result<Dialect> {
        let version: Option<String> = conn
            .query_first("SELECT VERSION()")
            .await
            .map_err(failed(endpoint))?;
        let version = version.unwrap_or_default();
        let mariadb = version.to_lowercase().contains("mariadb");
        let numbers: Vec<u32> = version
            .split(|c: char| !c.is_ascii_digit())
            .take(3)
            .map(|n| n.parse().unwrap_or(0))
            .collect();
        let replica_words = !mariadb && numbers >= vec![8, 0, 26];
        Ok(Dialect {
            mariadb,
            replica_words,
        })
    }

    /// Backslashes in literals are escapes on this session, whatever the
    /// server's `sql_mode` says.
    pub async fn plain_escapes(
        conn: &mut mysql_async::Conn,
        endpoint: &Endpoint,
    ) -> anyhow::Result<()> {
        conn.query_drop(
            "SET SESSION sql_mode = REPLACE(@@SESSION.sql_mode, 'NO_BACKSLASH_ESCAPES', '')",
        )
        .await
        .map_err(failed(endpoint))
    }

    fn slave(&self) -> &'static str {
        if self.replica_words {
            "REPLICA"
        } else {
            "SLAVE"
        }
    }

    /// `SOURCE` (MySQL 8.0.23+) or `MASTER`: the prefix of the channel's options.
    pub fn source_word(&self) -> &'static str {
        if self.replica_words {
            "SOURCE"
        } else {
            "MASTER"
        }
    }

    /// `verb SLAVE 'ch' rest` (MariaDB) or `verb SLAVE rest FOR CHANNEL 'ch'` (MySQL).
    fn statement(&self, verb: &str, channel: &str, rest: &str) -> String {
        let slave = self.slave();
        let space = if rest.is_empty() { "" } else { " " };
        if self.mariadb {
            format!("{verb} {slave} {}{space}{rest}", literal(channel))
        } else {
            format!(
                "{verb} {slave}{space}{rest} FOR CHANNEL {}",
                literal(channel)
            )
        }
    }

    pub fn stop(&self, channel: &str) -> String {
        self.statement("STOP", channel, "")
    }

    pub fn start(&self, channel: &str) -> String {
        self.statement("START", channel, "")
    }

    pub fn reset_all(&self, channel: &str) -> String {
        self.statement("RESET", channel, "ALL")
    }

    /// Starts the channel until the SQL thread has executed `gtid` (MariaDB)
    /// or `file:pos`.
    pub fn start_until(&self, channel: &str, gtid: Option<&str>, file: &str, pos: u64) -> String {
        let (log_file, log_pos) = if self.replica_words {
            ("SOURCE_LOG_FILE", "SOURCE_LOG_POS")
        } else {
            ("MASTER_LOG_FILE", "MASTER_LOG_POS")
        };
        let until = match gtid {
            Some(gtid) if self.mariadb => format!("UNTIL master_gtid_pos = {}", literal(gtid)),
            _ => format!("UNTIL {log_file} = {}, {log_pos} = {pos}", literal(file)),
        };
        self.statement("START", channel, &until)
    }

    /// Points `channel` at the source; the password goes to the server only,
    /// never into a message.
    pub fn change_master(&self, channel: &str, to: &ChangeMaster<'_>) -> String {
        let p = self.source_word();
        let mut options = vec![
            format!("{p}_HOST = {}", literal(to.host)),
            format!("{p}_PORT = {}", to.port),
            format!("{p}_USER = {}", literal(to.user)),
            format!("{p}_PASSWORD = {}", literal(to.password)),
        ];
        match to.gtid {
            true if self.mariadb => options.push("MASTER_USE_GTID = slave_pos".into()),
            _ => {
                options.push(format!("{p}_LOG_FILE = {}", literal(to.file)));
                options.push(format!("{p}_LOG_POS = {}", to.pos));
                if self.mariadb {
                    options.push("MASTER_USE_GTID = no".into());
                } else {
                    options.push(format!("{p}_AUTO_POSITION = 0"));
                }
            }
        }
        options.extend(to.ssl.iter().map(|(key, value)| format!("{key} = {value}")));
        if self.replica_words {
            // caching_sha2_password over a connection without TLS.
            options.push("GET_SOURCE_PUBLIC_KEY = 1".into());
        }
        let options = options.join(", ");
        if self.mariadb {
            format!("CHANGE MASTER {} TO {options}", literal(channel))
        } else if self.replica_words {
            format!(
                "CHANGE REPLICATION SOURCE TO {options} FOR CHANNEL {}",
                literal(channel)
            )
        } else {
            format!(
                "CHANGE MASTER TO {options} FOR CHANNEL {}",
                literal(channel)
            )
        }
    }

    /// Statements limiting the channel to one database (`wild_do`, a
    /// `replicate_wild_do_table` pattern) and renaming it (`rewrite`, `a->b`
    /// or empty). The channel's threads must be stopped.
    pub fn filters(&self, channel: &str, wild_do: &str, rewrite: &str) -> Vec<String> {
        if self.mariadb {
            // The filter variables act on @@default_master_connection's channel.
            vec![
                format!(
                    "SET @@SESSION.default_master_connection = {}",
                    literal(channel)
                ),
                format!("SET GLOBAL replicate_wild_do_table = {}", literal(wild_do)),
                format!("SET GLOBAL replicate_rewrite_db = {}", literal(rewrite)),
                "SET @@SESSION.default_master_connection = ''".into(),
            ]
        } else {
            let rewrite = match rewrite.split_once("->") {
                Some((from, to)) => format!(", REPLICATE_REWRITE_DB = (({from}, {to}))"),
                None => ", REPLICATE_REWRITE_DB = ()".into(),
            };
            vec![format!(
                "CHANGE REPLICATION FILTER REPLICATE_WILD_DO_TABLE = ({}){rewrite} FOR CHANNEL {}",
                literal(wild_do),
                literal(channel)
            )]
        }
    }

    /// The variable that makes row events idempotent.
    pub fn exec_mode_variable(&self) -> &'static str {
        if self.replica_words {
            "replica_exec_mode"
        } else {
            "slave_exec_mode"
        }
    }

    /// `SELECT` that waits up to `seconds` for the SQL thread to execute
    /// `file:pos` of the source; non-negative when it has.
    pub fn pos_wait(&self, channel: &str, file: &str, pos: u64, seconds: f64) -> String {
        let function = if self.replica_words {
            "SOURCE_POS_WAIT"
        } else {
            "MASTER_POS_WAIT"
        };
        format!(
            "SELECT {function}({}, {pos}, {seconds:.3}, {})",
            literal(file),
            literal(channel)
        )
    }

    /// The channel's state, None when there is no such channel.
    pub async fn status(
        &self,
        conn: &mut mysql_async::Conn,
        endpoint: &Endpoint,
        channel: &str,
    ) -> anyhow::Result<Option<ChannelStatus>> {
        let sql = if self.mariadb {
            format!("SHOW {} {} STATUS", self.slave(), literal(channel))
        } else {
            format!(
                "SHOW {} STATUS FOR CHANNEL {}",
                self.slave(),
                literal(channel)
            )
        };
        match conn.query_first::<mysql_async::Row, _>(sql).await {
            Ok(row) => Ok(row.map(|row| ChannelStatus::from_row(&row))),
            Err(mysql_async::Error::Server(error)) if NO_SUCH_CHANNEL.contains(&error.code) => {
                Ok(None)
            }
            Err(error) => Err(failed(endpoint)(error)),
        }
    }

    /// Every replication channel of the server, by name (`''` = the default).
    pub async fn all_statuses(
        &self,
        conn: &mut mysql_async::Conn,
        endpoint: &Endpoint,
    ) -> anyhow::Result<Vec<(String, ChannelStatus)>> {
        let sql = if self.mariadb {
            "SHOW ALL SLAVES STATUS".to_string()
        } else {
            format!("SHOW {} STATUS", self.slave())
        };
        let rows: Vec<mysql_async::Row> = conn.query(sql).await.map_err(failed(endpoint))?;
        Ok(rows
            .iter()
            .map(|row| {
                let name = ["Connection_name", "Channel_Name", "Channel_name"]
                    .iter()
                    .find_map(|n| row.get::<Option<String>, _>(*n).flatten())
                    .unwrap_or_default();
                (name, ChannelStatus::from_row(row))
            })
            .collect())
    }
}

/// Where `CHANGE MASTER` points a channel.
pub struct ChangeMaster<'a> {
    pub host: &'a str,
    pub port: u16,
    pub user: &'a str,
    pub password: &'a str,
    /// MariaDB: start from `gtid_slave_pos` (set beforehand) instead of file:pos.
    pub gtid: bool,
    pub file: &'a str,
    pub pos: u64,
    /// `MASTER_SSL = 1`, `MASTER_SSL_CA = '…'` …: TLS to the source, when its URL asks for it.
    pub ssl: Vec<(String, String)>,
}

/// One row of `SHOW SLAVE STATUS`, under either wording.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelStatus {
    pub host: String,
    pub port: u16,
    /// `Yes`, `No` or `Connecting`.
    pub io_running: String,
    pub sql_running: String,
    pub io_error: String,
    pub sql_error: String,
    /// The source's binlog file and position the I/O thread has read to.
    pub read_file: String,
    pub read_pos: u64,
    /// The source's binlog file and position the SQL thread has executed to.
    pub exec_file: String,
    pub exec_pos: u64,
    pub seconds_behind: Option<u64>,
    /// MariaDB: `No`, `Slave_Pos` or `Current_Pos`.
    pub using_gtid: String,
    pub wild_do_table: String,
    pub rewrite_db: String,
}

impl ChannelStatus {
    fn from_row(row: &mysql_async::Row) -> ChannelStatus {
        let text = |names: &[&str]| -> String {
            names
                .iter()
                .find_map(|name| row.get::<mysql_async::Value, _>(*name))
                .map(|value| match value {
                    mysql_async::Value::NULL => String::new(),
                    mysql_async::Value::Bytes(bytes) => String::from_utf8_lossy(&bytes).into(),
                    mysql_async::Value::Int(n) => n.to_string(),
                    mysql_async::Value::UInt(n) => n.to_string(),
                    other => format!("{other:?}"),
                })
                .unwrap_or_default()
        };
        let errno = |names: &[&str]| text(names).parse::<u32>().unwrap_or(0);
        let error = |message: String, code: u32| match (message.is_empty(), code) {
            (true, 0) => String::new(),
            (true, code) => format!("error {code}"),
            (false, 0) => message,
            (false, code) => format!("{message} (error {code})"),
        };
        ChannelStatus {
            host: text(&["Master_Host", "Source_Host"]),
            port: text(&["Master_Port", "Source_Port"]).parse().unwrap_or(0),
            io_running: text(&["Slave_IO_Running", "Replica_IO_Running"]),
            sql_running: text(&["Slave_SQL_Running", "Replica_SQL_Running"]),
            io_error: error(text(&["Last_IO_Error"]), errno(&["Last_IO_Errno"])),
            sql_error: error(text(&["Last_SQL_Error"]), errno(&["Last_SQL_Errno"])),
            read_file: text(&["Master_Log_File", "Source_Log_File"]),
            read_pos: text(&["Read_Master_Log_Pos", "Read_Source_Log_Pos"])
                .parse()
                .unwrap_or(0),
            exec_file: text(&["Relay_Master_Log_File", "Relay_Source_Log_File"]),
            exec_pos: text(&["Exec_Master_Log_Pos", "Exec_Source_Log_Pos"])
                .parse()
                .unwrap_or(0),
            seconds_behind: text(&["Seconds_Behind_Master", "Seconds_Behind_Source"])
                .parse()
                .ok(),
            using_gtid: text(&["Using_Gtid"]),
            wild_do_table: text(&["Replicate_Wild_Do_Table"]),
            rewrite_db: text(&["Replicate_Rewrite_DB"]),
        }
    }

    pub fn running(&self) -> bool {
        self.io_running.eq_ignore_ascii_case("yes") && self.sql_running.eq_ignore_ascii_case("yes")
    }

    pub fn sql_stopped(&self) -> bool {
        self.sql_running.eq_ignore_ascii_case("no")
    }

    pub fn io_stopped(&self) -> bool {
        self.io_running.eq_ignore_ascii_case("no")
    }

    /// `Seconds_Behind_Master`, or why there is none.
    pub fn seconds_behind_text(&self) -> String {
        match self.seconds_behind {
            Some(seconds) => format!("{seconds} s"),
            None => "unknown".into(),
        }
    }
}

/// A `replicate_wild_do_table` pattern matching every table of `db` and
/// nothing else (`_` and `%` in the name taken literally).
pub fn wild_do_pattern(db: &str) -> String {
    format!("{}.%", db.replace('_', "\\_").replace('%', "\\%"))
}

/// Binary log files in order: `binlog.000009` before `binlog.000010`.
pub fn compare_files(a: &str, b: &str) -> Ordering {
    let split = |name: &str| -> (String, u64) {
        match name.rsplit_once('.') {
            Some((base, number)) => (base.to_string(), number.parse().unwrap_or(0)),
            None => (name.to_string(), 0),
        }
    };
    split(a).cmp(&split(b))
}

/// True when `at` is at or past `goal` in the source's binary log.
pub fn position_reached(at: (&str, u64), goal: (&str, u64)) -> bool {
    match compare_files(at.0, goal.0) {
        Ordering::Greater => true,
        Ordering::Equal => at.1 >= goal.1,
        Ordering::Less => false,
    }
}

/// Bytes of binary log from `from` to `to`, given the source's files and
/// sizes (`SHOW BINARY LOGS`); 0 when `from` is past `to`, None when a file
/// is not listed.
pub fn binlog_distance(logs: &[(String, u64)], from: (&str, u64), to: (&str, u64)) -> Option<u64> {
    if position_reached(from, to) {
        return Some(0);
    }
    if from.0 == to.0 {
        return Some(to.1 - from.1);
    }
    let start = logs.iter().position(|(file, _)| file == from.0)?;
    let end = logs.iter().position(|(file, _)| file == to.0)?;
    let between: u64 = logs[start + 1..end].iter().map(|(_, size)| size).sum();
    Some(logs[start].1.saturating_sub(from.1) + between + to.1)
}

/// The source's binary logs and their sizes.
pub async fn binary_logs(
    conn: &mut mysql_async::Conn,
    endpoint: &Endpoint,
) -> anyhow::Result<Vec<(String, u64)>> {
    let rows: Vec<mysql_async::Row> = conn
        .query("SHOW BINARY LOGS")
        .await
        .map_err(failed(endpoint))?;
    Ok(rows
        .iter()
        .map(|row| {
            (
                row.get::<String, _>(0).unwrap_or_default(),
                row.get::<u64, _>(1).unwrap_or(0),
            )
        })
        .collect())
}

/// `domain → sequence number` of a MariaDB GTID position (`0-1-42,1-7-3`).
fn gtid_domains(position: &str) -> HashMap<u32, u64> {
    position
        .split(',')
        .filter_map(|part| {
            let mut fields = part.trim().split('-');
            let domain = fields.next()?.parse().ok()?;
            let _server = fields.next()?;
            let sequence = fields.next()?.parse().ok()?;
            Some((domain, sequence))
        })
        .collect()
}

/// True when the GTID position `at` contains every transaction of `goal`
/// (in each of `goal`'s domains, a sequence number at least as high).
pub fn gtid_reached(at: &str, goal: &str) -> bool {
    let at = gtid_domains(at);
    gtid_domains(goal)
        .iter()
        .all(|(domain, sequence)| at.get(domain).is_some_and(|s| s >= sequence))
}

/// True when `other` is further on than `position` in a domain of
/// `position`: a server in `gtid_strict_mode` whose binary log is `other`
/// refuses `position` as its `gtid_slave_pos` (error 1947).
pub fn gtid_behind_in_a_domain(position: &str, other: &str) -> bool {
    let other = gtid_domains(other);
    gtid_domains(position)
        .iter()
        .any(|(domain, sequence)| other.get(domain).is_some_and(|s| s > sequence))
}

/// Transactions in `goal` that `at` lacks, counted by sequence number in
/// each of `goal`'s domains (a domain's numbers rise by one per transaction
/// from one server).
pub fn gtid_behind(at: &str, goal: &str) -> u64 {
    let at = gtid_domains(at);
    gtid_domains(goal)
        .iter()
        .map(|(domain, sequence)| sequence.saturating_sub(at.get(domain).copied().unwrap_or(0)))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_compare_by_number_not_by_text() {
        assert_eq!(
            compare_files("binlog.000009", "binlog.000010"),
            Ordering::Less
        );
        assert!(position_reached(
            ("binlog.000010", 4),
            ("binlog.000009", 900)
        ));
        assert!(!position_reached(
            ("binlog.000009", 899),
            ("binlog.000009", 900)
        ));
    }

    #[test]
    fn distance_spans_files() {
        let logs = vec![
            ("b.000001".to_string(), 1000),
            ("b.000002".to_string(), 500),
            ("b.000003".to_string(), 300),
        ];
        assert_eq!(
            binlog_distance(&logs, ("b.000001", 400), ("b.000001", 900)),
            Some(500)
        );
        assert_eq!(
            binlog_distance(&logs, ("b.000001", 400), ("b.000003", 100)),
            Some(600 + 500 + 100)
        );
        assert_eq!(
            binlog_distance(&logs, ("b.000003", 100), ("b.000001", 400)),
            Some(0)
        );
        assert_eq!(
            binlog_distance(&logs, ("b.000000", 1), ("b.000003", 1)),
            None
        );
    }

    #[test]
    fn gtid_positions_compare_per_domain() {
        assert!(gtid_reached("0-1-42", "0-1-42"));
        assert!(gtid_reached("0-2-50,1-1-3", "0-1-42"));
        assert!(!gtid_reached("0-1-41", "0-1-42"));
        assert!(!gtid_reached("0-1-42", "0-1-42,1-1-1"));
        assert!(gtid_reached("", ""));
        assert_eq!(gtid_behind("0-2-12", "0-2-19"), 7);
        assert_eq!(gtid_behind("0-2-19,1-1-4", "0-2-19"), 0);
        assert_eq!(gtid_behind("0-2-12", "0-2-19,1-3-2"), 9);
        assert_eq!(gtid_behind("0-2-30", "0-2-19"), 0);
        assert!(gtid_behind_in_a_domain("0-2-19", "0-1-49"));
        assert!(!gtid_behind_in_a_domain("0-2-19", "0-1-19,1-1-90"));
        assert!(!gtid_behind_in_a_domain("0-2-19", ""));
    }

    #[test]
    fn statements_in_both_wordings() {
        let maria = Dialect {
            mariadb: true,
            replica_words: false,
        };
        let mysql = Dialect {
            mariadb: false,
            replica_words: true,
        };
        assert_eq!(maria.stop("cutover"), "STOP SLAVE 'cutover'");
        assert_eq!(maria.reset_all("cutover"), "RESET SLAVE 'cutover' ALL");
        assert_eq!(
            mysql.reset_all("cutover"),
            "RESET REPLICA ALL FOR CHANNEL 'cutover'"
        );
        assert_eq!(
            maria.start_until("c", Some("0-1-9"), "b.1", 4),
            "START SLAVE 'c' UNTIL master_gtid_pos = '0-1-9'"
        );
        assert_eq!(
            mysql.start_until("c", None, "b.1", 4),
            "START REPLICA UNTIL SOURCE_LOG_FILE = 'b.1', SOURCE_LOG_POS = 4 FOR CHANNEL 'c'"
        );
        assert_eq!(wild_do_pattern("my_shop"), "my\\_shop.%");
        assert_eq!(literal("it's \\"), "'it''s \\\\'");
    }
}
