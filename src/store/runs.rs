//! Runs and their journal lines in the store: a run's row (who, where, the
//! playbook and vars it ran with, its head) and one row per journal line.

use std::time::Duration;

use anyhow::bail;

use super::Store;

/// How often a running cutover says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// A run as the store first records it.
pub struct NewRun<'a> {
    pub id: &'a str,
    pub playbook_name: &'a str,
    pub operator: &'a str,
    pub host: &'a str,
    pub playbook: &'a str,
    pub vars: Option<&'a str>,
}

/// A run's row, as `pull` and `status` read it.
#[derive(Debug, Clone)]
pub struct StoredRun {
    pub id: String,
    pub playbook: String,
    pub vars: Option<String>,
    pub head: Option<String>,
    pub head_signature: Option<String>,
    pub lines: i64,
    pub last_line: Option<String>,
    /// Seconds since the last heartbeat (None: never beat).
    pub heartbeat_age: Option<f64>,
    pub heartbeat_host: Option<String>,
}

impl Store {
    pub fn create_run(&self, run: &NewRun) -> anyhow::Result<()> {
        let (id, name, operator, host, playbook) = (
            run.id.to_string(),
            run.playbook_name.to_string(),
            run.operator.to_string(),
            run.host.to_string(),
            run.playbook.to_string(),
        );
        let vars = run.vars.map(str::to_string);
        let pid = std::process::id() as i32;
        self.call("record the run", move |client| async move {
            client
                .execute(
                    "INSERT INTO cutover.runs (id, playbook_name, operator, host, pid, playbook, vars)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    &[&id, &name, &operator, &host, &pid, &playbook, &vars],
                )
                .await
                .map(drop)
        })
    }

    /// Appends journal line `seq` of `run`: only right after line `seq - 1`,
    /// so two writers can never interleave or leave a gap.
    pub fn append_line(&self, run: &str, seq: u64, line: &str) -> anyhow::Result<()> {
        let (run_id, line) = (run.to_string(), line.to_string());
        let seq = seq as i64;
        let inserted = self.call("journal an event", move |client| async move {
            client
                .execute(
                    "INSERT INTO cutover.events (run_id, seq, line)
                     SELECT $1, $2, $3
                     WHERE $2 = 1::bigint OR EXISTS (
                         SELECT 1 FROM cutover.events WHERE run_id = $1 AND seq = $2 - 1)",
                    &[&run_id, &seq, &line],
                )
                .await
        })?;
        if inserted == 0 {
            bail!(
                "the state store {} refused journal line {seq} of run {run}: the line before it is not there",
                self.label()
            );
        }
        Ok(())
    }

    pub fn set_head(&self, run: &str, head: &str, signature: Option<&str>) -> anyhow::Result<()> {
        let (run_id, head) = (run.to_string(), head.to_string());
        let signature = signature.map(str::to_string);
        self.call("record the journal's head", move |client| async move {
            client
                .execute(
                    "UPDATE cutover.runs SET head = $2, head_signature = $3 WHERE id = $1",
                    &[&run_id, &head, &signature],
                )
                .await
                .map(drop)
        })
    }

    /// Beats now, then every `HEARTBEAT` while this session lives: the
    /// run's row and the rows of the locks it holds.
    pub fn start_heartbeat(&self, run: &str, host: &str) -> anyhow::Result<()> {
        let beat = "WITH run AS (UPDATE cutover.runs SET heartbeat_at = now(), heartbeat_host = $2 WHERE id = $1)
                    UPDATE cutover.locks SET heartbeat_at = now() WHERE run_id = $1";
        let (run_id, host) = (run.to_string(), host.to_string());
        {
            let (run_id, host) = (run_id.clone(), host.clone());
            self.call("record a heartbeat", move |client| async move {
                client.execute(beat, &[&run_id, &host]).await.map(drop)
            })?;
        }
        self.spawn(move |client| async move {
            let mut every = tokio::time::interval(HEARTBEAT);
            every.tick().await;
            loop {
                every.tick().await;
                if client.execute(beat, &[&run_id, &host]).await.is_err() {
                    // The session is gone: the next journal write fails and stops the run.
                    return;
                }
            }
        });
        Ok(())
    }

    /// Every run's row, oldest first.
    pub fn runs(&self) -> anyhow::Result<Vec<StoredRun>> {
        self.call("list the runs", |client| async move {
            let rows = client
                .query(
                    "SELECT r.id, r.playbook, r.vars, r.head, r.head_signature,
                            (SELECT count(*) FROM cutover.events e WHERE e.run_id = r.id),
                            (SELECT line FROM cutover.events e WHERE e.run_id = r.id ORDER BY seq DESC LIMIT 1),
                            extract(epoch FROM now() - r.heartbeat_at)::float8,
                            r.heartbeat_host
                     FROM cutover.runs r ORDER BY r.started_at, r.id",
                    &[],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|row| StoredRun {
                    id: row.get(0),
                    playbook: row.get(1),
                    vars: row.get(2),
                    head: row.get(3),
                    head_signature: row.get(4),
                    lines: row.get(5),
                    last_line: row.get(6),
                    heartbeat_age: row.get(7),
                    heartbeat_host: row.get(8),
                })
                .collect())
        })
    }

    /// A run's journal lines, in order.
    pub fn lines(&self, run: &str) -> anyhow::Result<Vec<String>> {
        let run_id = run.to_string();
        self.call("read a journal", move |client| async move {
            let rows = client
                .query(
                    "SELECT line FROM cutover.events WHERE run_id = $1 ORDER BY seq",
                    &[&run_id],
                )
                .await?;
            Ok(rows.iter().map(|row| row.get(0)).collect())
        })
    }
}
