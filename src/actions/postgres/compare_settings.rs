//! `postgres.compare_settings`: a capacity preflight. Puts the source's and
//! the target's version, extensions, encoding and collation, memory and
//! connection settings, disk and CPUs side by side, and fails where the
//! target is smaller or would change the data (another encoding or
//! collation). Settings cutover pins in its own sessions (`session.rs`) are
//! shown, not failed: the application gets the target's.

use anyhow::anyhow;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use tokio_postgres::Client;

use super::connect::label;
use super::connect::{pg, Endpoint};
use crate::actions::shared::host::{cpus_of, free_bytes};
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};

/// Settings always compared.
const SETTINGS: &[&str] = &[
    "max_connections",
    "shared_buffers",
    "work_mem",
    "effective_cache_size",
];

/// Parameters of `postgres.compare_settings`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareSettings {
    /// The database in service now.
    pub source: String,
    /// The database that will replace it.
    pub target: String,
    /// More settings (`pg_settings` names) to compare: numbers must not be
    /// smaller on the target, other values must be equal.
    #[serde(default)]
    pub keys: Vec<String>,
}

/// Session defaults that change how the application reads and writes values
/// as text; cutover's own sessions pin them.
const PINNED_DEFAULTS: &[&str] = &[
    "TimeZone",
    "DateStyle",
    "IntervalStyle",
    "extra_float_digits",
    "bytea_output",
    "standard_conforming_strings",
    "lc_monetary",
];

/// One line of the comparison.
struct Row {
    what: String,
    source: String,
    target: String,
    verdict: Verdict,
}

enum Verdict {
    Ok,
    /// Smaller on the target: why.
    Smaller(String),
    /// Different on the target in a way that changes the data: why, and the fix.
    Differs(String),
    /// Different, but pinned in cutover's sessions.
    Pinned,
}

impl Verdict {
    fn smaller(problem: Option<String>) -> Verdict {
        problem.map(Verdict::Smaller).unwrap_or(Verdict::Ok)
    }
}

/// What a database's text is stored as and sorted by.
struct Locale {
    encoding: String,
    collate: String,
    ctype: String,
    /// `libc`, `icu` or `builtin` (PostgreSQL 15+), with its locale.
    provider: Option<String>,
}

/// A setting as `pg_settings` has it.
struct Setting {
    text: String,
    /// In base units (bytes, milliseconds, plain numbers) when numeric.
    number: Option<f64>,
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "postgres.compare_settings",
    CompareSettings,
    "preflight: fail where the target's version, settings or capacity are smaller than the source's, or its encoding or collation differ"
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
        let (src, dst) = tokio::try_join!(source.connect(), target.connect())?;
        let mut rows = Vec::new();
        let (sv, tv) = tokio::try_join!(version(&src), version(&dst))?;
        rows.push(Row {
            what: "server version".into(),
            verdict: Verdict::smaller(
                (tv.0 / 10000 < sv.0 / 10000).then(|| "older major version".to_string()),
            ),
            source: sv.1,
            target: tv.1,
        });
        rows.push(extensions(&src, &dst).await?);
        let (sl, tl) = tokio::try_join!(locale(&src), locale(&dst))?;
        rows.extend(locale_rows(&sl, &tl, target.dbname()));
        let mut keys: Vec<String> = SETTINGS.iter().map(|s| s.to_string()).collect();
        for key in &self.keys {
            if !keys.contains(key) {
                keys.push(key.clone());
            }
        }
        for key in &keys {
            let (a, b) = tokio::try_join!(setting(&src, key), setting(&dst, key))?;
            rows.push(compare(key, a, b));
        }
        for key in PINNED_DEFAULTS {
            if keys.iter().any(|k| k.eq_ignore_ascii_case(key)) {
                continue;
            }
            let (a, b) = tokio::try_join!(setting(&src, key), setting(&dst, key))?;
            rows.push(pinned(key, a, b));
        }
        rows.push(disk(&src, &dst, &target).await?);
        rows.push(cpus(&source, &target));

        let width = rows.iter().map(|r| r.what.len()).max().unwrap_or(0).max(7);
        let col = rows
            .iter()
            .map(|r| r.source.len())
            .max()
            .unwrap_or(0)
            .max(6);
        let col2 = rows
            .iter()
            .map(|r| r.target.len())
            .max()
            .unwrap_or(0)
            .max(6);
        cx.report(Progress::Output(format!(
            "{:width$}  {:col$}  {:col2$}",
            "setting", "source", "target"
        )));
        for row in &rows {
            cx.report(Progress::Output(format!(
                "{:width$}  {:col$}  {:col2$}  {}",
                row.what,
                row.source,
                row.target,
                match &row.verdict {
                    Verdict::Ok => "ok".into(),
                    Verdict::Smaller(problem) => format!("TARGET SMALLER: {problem}"),
                    Verdict::Differs(problem) => format!("TARGET DIFFERS: {}", first_part(problem)),
                    Verdict::Pinned =>
                        "differs: pinned in cutover's sessions; the application gets the target's"
                            .into(),
                }
            )));
        }
        let problems: Vec<String> = rows
            .iter()
            .filter_map(|r| match &r.verdict {
                Verdict::Smaller(p) | Verdict::Differs(p) => Some(format!(
                    "{} ({}: source {}, target {})",
                    r.what,
                    first_part(p),
                    r.source,
                    r.target
                )),
                Verdict::Ok | Verdict::Pinned => None,
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
            let hint = if hints.is_empty() {
                String::new()
            } else {
                format!(" (hint: {})", hints.join("; "))
            };
            return Err(anyhow!(
                "the target falls short of the source: {}{hint}",
                problems.join("; ")
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

async fn version(client: &Client) -> anyhow::Result<(i64, String)> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version_num')::bigint, current_setting('server_version')",
            &[],
        )
        .await
        .map_err(pg)?;
    Ok((row.get(0), row.get(1)))
}

/// Every extension installed on the source must be available on the target.
async fn extensions(src: &Client, dst: &Client) -> anyhow::Result<Row> {
    let installed: Vec<String> = src
        .query("SELECT extname::text FROM pg_extension ORDER BY 1", &[])
        .await
        .map_err(pg)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let available: Vec<String> = dst
        .query("SELECT name::text FROM pg_available_extensions", &[])
        .await
        .map_err(pg)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let missing: Vec<String> = installed
        .iter()
        .filter(|e| !available.contains(e))
        .cloned()
        .collect();
    Ok(Row {
        what: "extensions".into(),
        source: installed.join(","),
        target: if missing.is_empty() {
            "all available".into()
        } else {
            format!("missing {}", missing.join(","))
        },
        verdict: Verdict::smaller(
            (!missing.is_empty()).then(|| "extensions not available".to_string()),
        ),
    })
}

async fn setting(client: &Client, key: &str) -> anyhow::Result<Option<Setting>> {
    let row = client
        .query_opt(
            "SELECT setting, unit, vartype FROM pg_settings WHERE name = $1",
            &[&key],
        )
        .await
        .map_err(pg)?;
    Ok(row.map(|r| {
        let text: String = r.get(0);
        let unit: Option<String> = r.get(1);
        let vartype: String = r.get(2);
        let number = matches!(vartype.as_str(), "integer" | "real")
            .then(|| text.parse::<f64>().ok())
            .flatten()
            .map(|n| n * unit_factor(unit.as_deref()));
        Setting {
            text: match unit.as_deref() {
                Some(u) if number.is_some() && u.ends_with('B') => {
                    human_bytes(number.unwrap_or(0.0))
                }
                Some(u) => format!("{text} {u}"),
                None => text,
            },
            number,
        }
    }))
}

fn unit_factor(unit: Option<&str>) -> f64 {
    match unit {
        Some("B") => 1.0,
        Some("kB") => 1024.0,
        Some("8kB") => 8192.0,
        Some("16kB") => 16384.0,
        Some("MB") => 1024.0 * 1024.0,
        Some("s") => 1000.0,
        Some("min") => 60_000.0,
        _ => 1.0,
    }
}

fn compare(key: &str, a: Option<Setting>, b: Option<Setting>) -> Row {
    let text = |s: &Option<Setting>| {
        s.as_ref()
            .map(|s| s.text.clone())
            .unwrap_or_else(|| "(unknown)".into())
    };
    let problem = match (&a, &b) {
        (Some(_), None) => Some("unknown on the target".to_string()),
        (Some(x), Some(y)) => match (x.number, y.number) {
            (Some(p), Some(q)) if q < p => Some("smaller".to_string()),
            (None, None) if x.text != y.text => Some("different".to_string()),
            _ => None,
        },
        _ => None,
    };
    Row {
        what: key.to_string(),
        source: text(&a),
        target: text(&b),
        verdict: Verdict::smaller(problem),
    }
}

/// A session default cutover pins: shown, never a failure.
fn pinned(key: &str, a: Option<Setting>, b: Option<Setting>) -> Row {
    let text = |s: &Option<Setting>| {
        s.as_ref()
            .map(|s| s.text.clone())
            .unwrap_or_else(|| "(unknown)".into())
    };
    let (source, target) = (text(&a), text(&b));
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

/// The encoding, collation and character classes of the database connected to.
async fn locale(client: &Client) -> anyhow::Result<Locale> {
    // Through to_jsonb: the provider's columns differ between versions
    // (datlocprovider from 15, daticulocale in 15-16, datlocale from 17).
    let row = client
        .query_one(
            "SELECT pg_encoding_to_char(d.encoding)::text, d.datcollate::text, d.datctype::text,
                    to_jsonb(d) ->> 'datlocprovider',
                    coalesce(to_jsonb(d) ->> 'datlocale', to_jsonb(d) ->> 'daticulocale')
             FROM pg_database d WHERE d.datname = current_database()",
            &[],
        )
        .await
        .map_err(pg)?;
    let provider: Option<String> = row.get(3);
    let provider_locale: Option<String> = row.get(4);
    Ok(Locale {
        encoding: row.get(0),
        collate: row.get(1),
        ctype: row.get(2),
        provider: provider.map(|p| {
            let name = match p.as_str() {
                "c" => "libc",
                "i" => "icu",
                "b" => "builtin",
                other => other,
            };
            match provider_locale {
                Some(l) if name != "libc" => format!("{name} {l}"),
                _ => name.to_string(),
            }
        }),
    })
}

/// Encoding and collation must match: another encoding converts (or
/// refuses) every text value, another collation sorts and compares text
/// differently (unique indexes, ORDER BY, range conditions).
fn locale_rows(a: &Locale, b: &Locale, target_db: &str) -> Vec<Row> {
    let hint = format!(
        "(hint: create the target database with the source's: CREATE DATABASE {target_db} TEMPLATE template0 ENCODING '{}' LC_COLLATE '{}' LC_CTYPE '{}'{})",
        a.encoding,
        a.collate,
        a.ctype,
        match &a.provider {
            Some(p) if p.starts_with("icu ") => format!(" LOCALE_PROVIDER icu ICU_LOCALE '{}'", &p[4..]),
            _ => String::new(),
        }
    );
    let row = |what: &str, x: &str, y: &str, why: &str| Row {
        what: what.to_string(),
        source: x.to_string(),
        target: y.to_string(),
        verdict: if x == y {
            Verdict::Ok
        } else {
            Verdict::Differs(format!("different, {why} {hint}"))
        },
    };
    let mut rows = vec![
        row(
            "encoding",
            &a.encoding,
            &b.encoding,
            "every text value would be converted",
        ),
        row(
            "collation",
            &a.collate,
            &b.collate,
            "text would sort and compare differently",
        ),
        row(
            "ctype",
            &a.ctype,
            &b.ctype,
            "upper/lower case and character classes would differ",
        ),
    ];
    if a.provider.is_some() || b.provider.is_some() {
        let unknown = || "(unknown)".to_string();
        rows.push(row(
            "locale provider",
            &a.provider.clone().unwrap_or_else(unknown),
            &b.provider.clone().unwrap_or_else(unknown),
            "text would sort and compare differently",
        ));
    }
    rows
}

/// A verdict's reason without its hint (the hint ends the error once).
fn first_part(problem: &str) -> &str {
    problem
        .split_once(" (hint: ")
        .map(|(p, _)| p)
        .unwrap_or(problem)
}

/// The source's size against the target's free disk, when the target runs on
/// this machine and tells its data directory.
async fn disk(src: &Client, dst: &Client, target: &Endpoint) -> anyhow::Result<Row> {
    let size: i64 = src
        .query_one("SELECT pg_database_size(current_database())", &[])
        .await
        .map_err(pg)?
        .get(0);
    let free = if target.is_local() {
        let dir = dst
            .query_opt(
                "SELECT setting FROM pg_settings WHERE name = 'data_directory'",
                &[],
            )
            .await
            .map_err(pg)?
            .map(|r| r.get::<_, String>(0));
        dir.and_then(|d| free_bytes(&d))
    } else {
        None
    };
    Ok(Row {
        what: "disk (source size / target free)".into(),
        source: human_bytes(size as f64),
        target: free
            .map(|f| human_bytes(f as f64))
            .unwrap_or_else(|| "not visible".into()),
        verdict: Verdict::smaller(
            free.filter(|f| *f < size as u64)
                .map(|_| "not enough free disk for the data".to_string()),
        ),
    })
}

/// CPUs are visible only for a server on this machine.
fn cpus(source: &Endpoint, target: &Endpoint) -> Row {
    let (a, b) = (cpus_of(source.is_local()), cpus_of(target.is_local()));
    let problem = match (a.parse::<u32>(), b.parse::<u32>()) {
        (Ok(x), Ok(y)) if y < x => Some("fewer CPUs".to_string()),
        _ => None,
    };
    Row {
        what: "cpu count".into(),
        source: a,
        target: b,
        verdict: Verdict::smaller(problem),
    }
}

fn human_bytes(bytes: f64) -> String {
    crate::actions::shared::units::human_bytes(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_encoding_or_collation_fails_with_the_database_to_create() {
        let locale = |encoding: &str, collate: &str| Locale {
            encoding: encoding.into(),
            collate: collate.into(),
            ctype: collate.into(),
            provider: Some("libc".into()),
        };
        let rows = locale_rows(
            &locale("UTF8", "C.UTF-8"),
            &locale("LATIN1", "C.UTF-8"),
            "shop",
        );
        let verdicts: Vec<(&str, bool)> = rows
            .iter()
            .map(|r| (r.what.as_str(), matches!(r.verdict, Verdict::Differs(_))))
            .collect();
        assert_eq!(
            verdicts,
            [
                ("encoding", true),
                ("collation", false),
                ("ctype", false),
                ("locale provider", false)
            ]
        );
        let Verdict::Differs(why) = &rows[0].verdict else {
            unreachable!()
        };
        assert!(why.contains("(hint: create the target database with the source's: CREATE DATABASE shop TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8')"), "{why}");
        assert_eq!(
            first_part(why),
            "different, every text value would be converted"
        );
    }
}
