//! `Console`: PgBouncer's admin console (the `pgbouncer` database of an
//! `admin_users` user). It speaks only the simple query protocol, one
//! command per call, and answers SHOW commands with text columns that differ
//! between versions: rows are read by column name.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::actions::postgres::{describe_error, Endpoint};
use crate::actions::{Progress, StepContext};

/// One row of a SHOW command, by column name; NULL is `None`.
pub type Row = HashMap<String, Option<String>>;

pub struct Console {
    client: Client,
    label: String,
}

impl Console {
    /// Connects to the admin console at `admin`
    /// (`postgres://admin@host:6432/pgbouncer`).
    pub async fn connect(admin: &str) -> anyhow::Result<Console> {
        let endpoint = Endpoint::as_the_application(admin)?;
        if endpoint.dbname() != "pgbouncer" {
            bail!(
                "`admin` must name PgBouncer's admin console, database `pgbouncer` (it names `{}`)",
                endpoint.dbname()
            );
        }
        let client = endpoint.connect().await?;
        Ok(Console {
            client,
            label: endpoint.label().to_string(),
        })
    }

    /// Runs a command (`PAUSE db`, `RELOAD`); PgBouncer's refusal is the error.
    pub async fn command(&self, command: &str) -> anyhow::Result<()> {
        self.client
            .simple_query(command)
            .await
            .map_err(|e| anyhow!("{}: `{command}`: {}", self.label, describe_error(&e)))?;
        Ok(())
    }

    /// The rows of a SHOW command.
    pub async fn show(&self, what: &str) -> anyhow::Result<Vec<Row>> {
        let messages = self
            .client
            .simple_query(&format!("SHOW {what}"))
            .await
            .map_err(|e| anyhow!("{}: `SHOW {what}`: {}", self.label, describe_error(&e)))?;
        Ok(messages
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => Some(
                    row.columns()
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (c.name().to_string(), row.get(i).map(str::to_string)))
                        .collect(),
                ),
                _ => None,
            })
            .collect())
    }

    /// The `SHOW DATABASES` row of `database`.
    pub async fn database(&self, database: &str) -> anyhow::Result<Row> {
        let rows = self.show("DATABASES").await?;
        let names: Vec<String> = rows.iter().filter_map(|r| field(r, "name")).collect();
        rows.into_iter()
            .find(|r| field(r, "name").as_deref() == Some(database))
            .ok_or_else(|| {
                anyhow!(
                    "PgBouncer has no database `{database}` (it has: {})",
                    names.join(", ")
                )
            })
    }

    pub async fn paused(&self, database: &str) -> anyhow::Result<bool> {
        Ok(field(&self.database(database).await?, "paused").as_deref() == Some("1"))
    }

    /// Server connections PgBouncer still holds for `database`.
    pub async fn servers_of(&self, database: &str) -> anyhow::Result<Vec<Row>> {
        Ok(self
            .show("SERVERS")
            .await?
            .into_iter()
            .filter(|r| field(r, "database").as_deref() == Some(database))
            .collect())
    }

    /// The clients of `database` holding a server now (a transaction under
    /// way), as `user@addr:port (application)`.
    pub async fn busy_clients(&self, database: &str) -> anyhow::Result<Vec<String>> {
        Ok(self
            .show("CLIENTS")
            .await?
            .iter()
            .filter(|r| field(r, "database").as_deref() == Some(database))
            .filter(|r| field(r, "link").is_some_and(|l| !l.is_empty()))
            .map(|r| {
                let app = field(r, "application_name").filter(|a| !a.is_empty());
                format!(
                    "{}@{}:{}{}",
                    field(r, "user").unwrap_or_default(),
                    field(r, "addr").unwrap_or_default(),
                    field(r, "port").unwrap_or_default(),
                    app.map(|a| format!(" ({a})")).unwrap_or_default()
                )
            })
            .collect())
    }
}

/// A row's text value.
pub fn field(row: &Row, name: &str) -> Option<String> {
    row.get(name).cloned().flatten()
}

/// A database name as the console takes it: quoted when it is not a plain word.
pub fn quoted(database: &str) -> String {
    if database
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        database.to_string()
    } else {
        format!("\"{}\"", database.replace('"', "\"\""))
    }
}

/// How a pause ended.
pub struct Paused {
    /// It was paused already (an earlier step holds the pause).
    pub already: bool,
    pub waited: Duration,
}

/// Pauses `database` and waits until PgBouncer holds no server connection
/// for it, at most `timeout`. PgBouncer's PAUSE blocks until every
/// transaction under way has ended, and stays in force when the admin
/// connection goes, so a pause that runs out of time is resumed here before
/// failing, naming the sessions still busy. PAUSE's return alone is not
/// trusted: a `WAIT_CLOSE` earlier in PgBouncer's life makes every later
/// PAUSE return at once (a bug of 1.18 and later), so the servers are
/// counted until none is left.
pub async fn pause(
    admin: &str,
    database: &str,
    timeout: Duration,
    cx: &StepContext<'_>,
) -> anyhow::Result<Paused> {
    let started = Instant::now();
    let console = Console::connect(admin).await?;
    if console.paused(database).await? {
        wait_for_no_servers(&console, database, timeout, started, cx).await?;
        return Ok(Paused {
            already: true,
            waited: started.elapsed(),
        });
    }
    // A second connection watches while the first waits on PAUSE.
    let watcher = Console::connect(admin).await?;
    let command = format!("PAUSE {}", quoted(database));
    crate::actions::shared::freeze::note_began(cx)?;
    let pausing = console.command(&command);
    let watching = async {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if let Ok(busy) = watcher.busy_clients(database).await {
                cx.report(Progress::Status(format!(
                    "pausing `{database}`: waiting for {} transaction(s) under way",
                    busy.len()
                )));
            }
        }
    };
    let outcome = tokio::select! {
        result = tokio::time::timeout(timeout, pausing) => result,
        _ = watching => unreachable!("the watcher loops until the pause ends"),
    };
    let waited = started.elapsed();
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Err(error),
        Err(_) => {
            let busy = watcher.busy_clients(database).await.unwrap_or_default();
            watcher
                .command(&format!("RESUME {}", quoted(database)))
                .await
                .context("the pause ran out of time and could not be taken back")?;
            bail!(
                "`{database}` could not be paused within {} s: {} still in a transaction ({}); resumed, clients carry on",
                timeout.as_secs_f64(),
                busy.len(),
                if busy.is_empty() {
                    "none visible".to_string()
                } else {
                    busy.join(", ")
                }
            );
        }
    }
    if let Err(error) = wait_for_no_servers(&watcher, database, timeout, started, cx).await {
        let _ = watcher
            .command(&format!("RESUME {}", quoted(database)))
            .await;
        return Err(error.context("resumed, clients carry on"));
    }
    Ok(Paused {
        already: false,
        waited,
    })
}

async fn wait_for_no_servers(
    console: &Console,
    database: &str,
    timeout: Duration,
    started: Instant,
    cx: &StepContext<'_>,
) -> anyhow::Result<()> {
    loop {
        let servers = console.servers_of(database).await?;
        if servers.is_empty() {
            return Ok(());
        }
        if started.elapsed() >= timeout {
            let busy = console.busy_clients(database).await.unwrap_or_default();
            bail!(
                "`{database}` is paused but PgBouncer still holds {} server connection(s) after {} s (busy: {})",
                servers.len(),
                timeout.as_secs_f64(),
                if busy.is_empty() { "none visible".to_string() } else { busy.join(", ") }
            );
        }
        cx.report(Progress::Status(format!(
            "paused `{database}`: {} server connection(s) closing",
            servers.len()
        )));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Resumes `database`; false when it was not paused.
pub async fn resume(admin: &str, database: &str) -> anyhow::Result<bool> {
    let console = Console::connect(admin).await?;
    if !console.paused(database).await? {
        return Ok(false);
    }
    console
        .command(&format!("RESUME {}", quoted(database)))
        .await?;
    Ok(true)
}

/// A `database` parameter: what PgBouncer's `[databases]` section can name.
pub fn database_name<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<String, D::Error> {
    let name = <String as serde::Deserialize>::deserialize(deserializer)?;
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(name)
    } else {
        Err(serde::de::Error::custom(format!(
            "expected a database name of letters, digits, `_`, `-` and `.`, found `{}`",
            name.escape_debug()
        )))
    }
}
