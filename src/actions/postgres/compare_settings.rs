//! `postgres.compare_settings`: a capacity preflight. Puts the source's and
//! the target's version, extensions, memory and connection settings, disk and
//! CPUs side by side, and fails where the target is smaller.

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

/// One line of the comparison.
struct Row {
    what: String,
    source: String,
    target: String,
    /// Why the target falls short, if it does.
    problem: Option<String>,
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
    "preflight: fail where the target's version, settings or capacity are smaller than the source's"
);

#[async_trait(?Send)]
impl Action for CompareSettings {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
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
            problem: (tv.0 / 10000 < sv.0 / 10000).then(|| "older major version".to_string()),
            source: sv.1,
            target: tv.1,
        });
        rows.push(extensions(&src, &dst).await?);
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
                match &row.problem {
                    Some(problem) => format!("TARGET SMALLER: {problem}"),
                    None => "ok".into(),
                }
            )));
        }
        let problems: Vec<String> = rows
            .iter()
            .filter_map(|r| {
                r.problem.as_ref().map(|p| {
                    format!(
                        "{} ({}: source {}, target {})",
                        r.what, p, r.source, r.target
                    )
                })
            })
            .collect();
        if !problems.is_empty() {
            return Err(anyhow!(
                "the target is smaller than the source: {}",
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
        problem: (!missing.is_empty()).then(|| "extensions not available".to_string()),
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
        problem,
    }
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
        problem: free
            .filter(|f| *f < size as u64)
            .map(|_| "not enough free disk for the data".to_string()),
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
        problem,
    }
}

fn human_bytes(bytes: f64) -> String {
    crate::actions::shared::units::human_bytes(bytes as u64)
}
