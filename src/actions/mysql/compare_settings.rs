//! `mysql.compare_settings`: a capacity preflight. Puts the source's and the
//! target's server (MariaDB or MySQL, and version), character set,
//! collation and name folding, memory and connection settings, disk and CPUs
//! side by side, and fails where the target is smaller, would change the
//! data (another character set or collation, `lower_case_table_names`) — or
//! is the other kind of server, unless that is intended. Session defaults
//! cutover pins in its own sessions (`session.rs`) are shown, not failed.

use std::collections::HashMap;

use anyhow::anyhow;
use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use schemars::JsonSchema;
use serde::Deserialize;

use super::connect::{describe, label, Endpoint};
use crate::actions::shared::host::{cpus_of, free_bytes};
use crate::actions::shared::units::human_bytes;
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};

/// Settings always compared.
const SETTINGS: &[&str] = &[
    "max_connections",
    "innodb_buffer_pool_size",
    "max_allowed_packet",
];

/// Server defaults that change the data or its names: the hint says why.
const SAME_DATA: &[(&str, &str)] = &[
    (
        "character_set_server",
        "copied columns keep their character set, but the application's sessions that set none and every database or table created without one get the target's (hint: set `character-set-server` and `collation-server` on the target to the source's)",
    ),
    (
        "collation_server",
        "text created without a collation would sort and compare differently, unique keys included (hint: set `collation-server` on the target to the source's)",
    ),
    (
        "lower_case_table_names",
        "table and database names would be folded to lower case: names that differ only in case collide, and queries must use the new case (hint: give the target the source's `lower_case_table_names`; MySQL 8 fixes it when the data directory is initialised)",
    ),
];

/// Session defaults that change how the application's values are read and
/// written; cutover's own sessions pin them.
const PINNED_DEFAULTS: &[&str] = &["time_zone", "sql_mode", "explicit_defaults_for_timestamp"];

/// Parameters of `mysql.compare_settings`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareSettings {
    /// The database in service now (`mysql://user:password@host:port/db`).
    pub source: String,
    /// The database that will replace it.
    pub target: String,
    /// More server variables (`SHOW GLOBAL VARIABLES` names) to compare:
    /// numbers must not be smaller on the target, other values must be equal.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Accept a target of the other kind (MariaDB for MySQL or the reverse):
    /// a dump loads across, binary log replication and GTIDs do not.
    #[serde(default)]
    pub allow_flavour_change: bool,
}

/// One line of the comparison.
struct Row {
    what: String,
    source: String,
    target: String,
    verdict: Verdict,
}

enum Verdict {
    Ok,
    Smaller(String),
    /// Why, and maybe a ` (hint: …)`.
    Differs(String),
    /// Different, but pinned in cutover's sessions.
    Pinned,
}

/// What one server says of itself.
struct Server {
    version: String,
    mariadb: bool,
    variables: HashMap<String, String>,
}

impl CompareSettings {
    /// The kind of server must match (unless allowed), and within a kind the
    /// target's release series (`10.11`, `8.0`) must not be older.
    fn version(&self, a: &Server, b: &Server) -> Row {
        let kind = |s: &Server| if s.mariadb { "MariaDB" } else { "MySQL" };
        let verdict = if a.mariadb != b.mariadb {
            if self.allow_flavour_change {
                Verdict::Ok
            } else {
                Verdict::Differs(format!(
                    "{} → {}: a dump loads across, binary log replication and GTIDs do not (hint: set `allow_flavour_change: true` if this is intended)",
                    kind(a),
                    kind(b)
                ))
            }
        } else if series(&b.version) < series(&a.version) {
            Verdict::Smaller("older release series".into())
        } else {
            Verdict::Ok
        };
        Row {
            what: "server version".into(),
            source: a.version.clone(),
            target: b.version.clone(),
            verdict,
        }
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "mysql.compare_settings",
    CompareSettings,
    "preflight: fail where the target's version, memory, connections or disk are smaller than the source's, or its character set, collation or name folding differ"
);

#[async_trait(?Send)]
impl Action for CompareSettings {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn endpoints(&self) -> Vec<String> {
        vec![
            crate::actions::shared::endpoint::database(&self.source),
            crate::actions::shared::endpoint::database(&self.target),
        ]
    }

    fn describe(&self) -> String {
        format!(
            "check that {} is at least as large as {}",
            label(&self.target),
            label(&self.source)
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let source = Endpoint::parse(&self.source)?;
        let target = Endpoint::parse(&self.target)?;
        // The target's database may not exist yet (mysql.copy creates it):
        // its settings are the server's.
        let target_server = target.without_db();
        let (mut src, mut dst) = tokio::try_join!(source.connect(), target_server.connect())?;
        let (a, b) = tokio::try_join!(server(&mut src, &source), server(&mut dst, &target))?;
        let mut rows = vec![self.version(&a, &b)];
        let mut keys: Vec<String> = SETTINGS.iter().map(|s| s.to_string()).collect();
        for key in &self.keys {
            let key = key.trim().to_lowercase();
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        for (key, why) in SAME_DATA {
            if !keys.iter().any(|k| k == key) {
                rows.push(same_data(key, why, &a, &b));
            }
        }
        for key in &keys {
            rows.push(compare(key, a.variables.get(key), b.variables.get(key)));
        }
        for key in PINNED_DEFAULTS {
            if !keys.iter().any(|k| k == key) {
                rows.push(pinned(key, &a, &b));
            }
        }
        rows.push(disk(&mut src, &source, &b, &target).await?);
        rows.push(cpus(&source, &target));
        let _ = tokio::join!(src.disconnect(), dst.disconnect());

        for line in table(&rows) {
            cx.report(Progress::Output(line));
        }
        let problems: Vec<String> = rows
            .iter()
            .filter_map(|r| match &r.verdict {
                Verdict::Ok | Verdict::Pinned => None,
                Verdict::Smaller(p) | Verdict::Differs(p) => Some(format!(
                    "{} ({}: source {}, target {})",
                    r.what,
                    without_hint(p),
                    r.source,
                    r.target
                )),
            })
            .collect();
        let mut hints: Vec<&str> = Vec::new();
        for row in &rows {
            if let Verdict::Differs(p) = &row.verdict {
                if let Some((_, hint)) = p.split_once(" (hint: ") {
                    let hint = hint.strip_suffix(')').unwrap_or(hint);
                    if !hints.contains(&hint) {
                        hints.push(hint);
                    }
                }
            }
        }
        if !problems.is_empty() {
            return Err(anyhow!(
                "the target falls short of the source: {}{}",
                problems.join("; "),
                if hints.is_empty() {
                    String::new()
                } else {
                    format!(" (hint: {})", hints.join("; "))
                }
            )
            .into());
        }
        Ok(Applied {
            data: serde_json::json!({ "compared": rows.len() }),
            ..Applied::default()
        })
    }

    // Reads only.
    fn idempotent(&self) -> bool {
        true
    }

    // Reads only.
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}

async fn server(conn: &mut mysql_async::Conn, endpoint: &Endpoint) -> anyhow::Result<Server> {
    let fail = |e: mysql_async::Error| anyhow!("{}: {}", endpoint.label(), describe(&e));
    let version: Option<String> = conn.query_first("SELECT VERSION()").await.map_err(fail)?;
    let version = version.unwrap_or_default();
    let variables: Vec<(String, Option<String>)> =
        conn.query("SHOW GLOBAL VARIABLES").await.map_err(fail)?;
    Ok(Server {
        mariadb: version.to_lowercase().contains("mariadb"),
        version,
        variables: variables
            .into_iter()
            .map(|(k, v)| (k.to_lowercase(), v.unwrap_or_default()))
            .collect(),
    })
}

/// `(major, minor)` of `10.11.19-MariaDB-0+deb12u1`.
fn series(version: &str) -> (u32, u32) {
    let mut numbers = version
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse().unwrap_or(0));
    (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0))
}

/// Sizes are shown in bytes units.
fn is_size(key: &str) -> bool {
    key.ends_with("_size") || key == "max_allowed_packet"
}

fn compare(key: &str, a: Option<&String>, b: Option<&String>) -> Row {
    let number = |v: Option<&String>| v.and_then(|v| v.trim().parse::<f64>().ok());
    let text = |v: Option<&String>| match (v, number(v)) {
        (None, _) => "(unknown)".to_string(),
        (Some(_), Some(n)) if is_size(key) => human_bytes(n as u64),
        (Some(v), _) if v.is_empty() => "(empty)".to_string(),
        (Some(v), _) => v.clone(),
    };
    let verdict = match (a, b) {
        (Some(_), None) => Verdict::Differs("unknown on the target".into()),
        (Some(x), Some(y)) => match (number(a), number(b)) {
            (Some(p), Some(q)) if q < p => Verdict::Smaller("smaller".into()),
            (Some(_), Some(_)) => Verdict::Ok,
            _ if x != y => Verdict::Differs("different".into()),
            _ => Verdict::Ok,
        },
        _ => Verdict::Ok,
    };
    Row {
        what: key.to_string(),
        source: text(a),
        target: text(b),
        verdict,
    }
}

/// The source database's size (data and indexes as `information_schema`
/// estimates them; every user database when the URL names none) against the
/// target's free disk, when the target runs on this machine.
async fn disk(
    src: &mut mysql_async::Conn,
    source: &Endpoint,
    target_server: &Server,
    target: &Endpoint,
) -> anyhow::Result<Row> {
    let scope = if source.db().is_empty() {
        "table_schema NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')"
    } else {
        "table_schema = DATABASE()"
    };
    let size: Option<u64> = src
        .query_first(format!(
            "SELECT CAST(COALESCE(SUM(data_length + index_length), 0) AS UNSIGNED) FROM information_schema.tables WHERE {scope}"
        ))
        .await
        .map_err(|e| anyhow!("{}: {}", source.label(), describe(&e)))?;
    let size = size.unwrap_or(0);
    let free = if target.is_local() {
        target_server
            .variables
            .get("datadir")
            .and_then(|dir| free_bytes(dir))
    } else {
        None
    };
    Ok(Row {
        what: "disk (source data / target free)".into(),
        source: human_bytes(size),
        target: free
            .map(human_bytes)
            .unwrap_or_else(|| "not visible".into()),
        verdict: match free {
            Some(free) if free < size => {
                Verdict::Smaller("not enough free disk for the data".into())
            }
            _ => Verdict::Ok,
        },
    })
}

/// CPUs are visible only for a server on this machine.
fn cpus(source: &Endpoint, target: &Endpoint) -> Row {
    let (a, b) = (cpus_of(source.is_local()), cpus_of(target.is_local()));
    let verdict = match (a.parse::<u32>(), b.parse::<u32>()) {
        (Ok(x), Ok(y)) if y < x => Verdict::Smaller("fewer CPUs".into()),
        _ => Verdict::Ok,
    };
    Row {
        what: "cpu count".into(),
        source: a,
        target: b,
        verdict,
    }
}

/// A server default that must be the same on both.
fn same_data(key: &str, why: &str, a: &Server, b: &Server) -> Row {
    let (x, y) = (a.variables.get(key), b.variables.get(key));
    let text = |v: Option<&String>| v.cloned().unwrap_or_else(|| "(unknown)".into());
    Row {
        what: key.to_string(),
        verdict: match (x, y) {
            (Some(x), Some(y)) if !x.eq_ignore_ascii_case(y) => {
                Verdict::Differs(format!("different: {why}"))
            }
            _ => Verdict::Ok,
        },
        source: text(x),
        target: text(y),
    }
}

/// A session default cutover pins: shown, never a failure. `SYSTEM` is shown
/// with the zone it stands for.
fn pinned(key: &str, a: &Server, b: &Server) -> Row {
    let text = |s: &Server| {
        let value = s
            .variables
            .get(key)
            .cloned()
            .unwrap_or_else(|| "(unknown)".into());
        match s.variables.get("system_time_zone") {
            Some(zone) if key == "time_zone" && value == "SYSTEM" => format!("SYSTEM ({zone})"),
            _ if value.is_empty() => "(empty)".into(),
            _ => value,
        }
    };
    let (source, target) = (text(a), text(b));
    Row {
        what: key.to_string(),
        verdict: if source == target {
            Verdict::Ok
        } else {
            Verdict::Pinned
        },
        source,
        target,
    }
}

/// A verdict's reason without its hint (the error ends with one hint).
fn without_hint(problem: &str) -> &str {
    problem
        .split_once(" (hint: ")
        .map(|(p, _)| p)
        .unwrap_or(problem)
}

/// The rows side by side, each ending with its verdict.
fn table(rows: &[Row]) -> Vec<String> {
    let width =
        |f: fn(&Row) -> usize, least: usize| rows.iter().map(f).max().unwrap_or(0).max(least);
    let (w0, w1, w2) = (
        width(|r| r.what.chars().count(), 7),
        width(|r| r.source.chars().count(), 6),
        width(|r| r.target.chars().count(), 6),
    );
    let mut lines = vec![format!(
        "{:w0$}  {:w1$}  {:w2$}",
        "setting", "source", "target"
    )];
    for row in rows {
        lines.push(format!(
            "{:w0$}  {:w1$}  {:w2$}  {}",
            row.what,
            row.source,
            row.target,
            match &row.verdict {
                Verdict::Ok => "ok".to_string(),
                Verdict::Smaller(p) => format!("TARGET SMALLER: {p}"),
                Verdict::Differs(p) => format!("TARGET DIFFERS: {}", without_hint(p)),
                Verdict::Pinned =>
                    "differs: pinned in cutover's sessions; the application gets the target's"
                        .to_string(),
            }
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_may_not_shrink_and_other_values_must_match() {
        let v = |s: &str| Some(s.to_string());
        let smaller = compare("max_connections", v("151").as_ref(), v("20").as_ref());
        assert!(matches!(smaller.verdict, Verdict::Smaller(_)));
        let larger = compare("max_connections", v("20").as_ref(), v("151").as_ref());
        assert!(matches!(larger.verdict, Verdict::Ok));
        let mode = compare(
            "sql_mode",
            v("STRICT_TRANS_TABLES").as_ref(),
            v("").as_ref(),
        );
        assert!(matches!(mode.verdict, Verdict::Differs(_)));
        assert_eq!(mode.target, "(empty)");
        let missing = compare("wsrep_on", v("OFF").as_ref(), None);
        assert!(matches!(missing.verdict, Verdict::Differs(_)));
        let pool = compare(
            "innodb_buffer_pool_size",
            v("134217728").as_ref(),
            v("134217728").as_ref(),
        );
        assert_eq!(pool.source, "128.0 MB");
        assert_eq!(series("10.11.19-MariaDB-0+deb12u1"), (10, 11));
        assert!(series("10.6.1-MariaDB") < series("10.11.0-MariaDB"));
    }

    fn server(pairs: &[(&str, &str)]) -> Server {
        Server {
            version: "10.11.19-MariaDB".into(),
            mariadb: true,
            variables: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn what_changes_the_data_fails_and_what_is_pinned_is_only_shown() {
        let a = server(&[
            ("character_set_server", "latin1"),
            ("time_zone", "SYSTEM"),
            ("system_time_zone", "CET"),
        ]);
        let b = server(&[("character_set_server", "utf8mb4"), ("time_zone", "+00:00")]);
        let charset = same_data("character_set_server", "why (hint: fix)", &a, &b);
        assert!(
            matches!(&charset.verdict, Verdict::Differs(p) if without_hint(p) == "different: why")
        );
        let same = same_data("character_set_server", "why", &a, &a);
        assert!(matches!(same.verdict, Verdict::Ok));
        let zone = pinned("time_zone", &a, &b);
        assert!(matches!(zone.verdict, Verdict::Pinned));
        assert_eq!(zone.source, "SYSTEM (CET)");
    }
}
