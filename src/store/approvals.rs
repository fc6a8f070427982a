//! Approvals in the store: `cutover approve` from any host adds a row, the
//! waiting run reads them; the primary key (run, step, operator) makes the
//! same name count once.

use super::Store;
use crate::journal::approvals::Given;

impl Store {
    /// Records `given` for `step` of `run`; `Ok(false)` when that operator
    /// had approved it already.
    pub fn give(&self, run: &str, step: &str, given: &Given) -> anyhow::Result<bool> {
        let (run_id, step) = (run.to_string(), step.to_string());
        let Given { operator, host, at } = given.clone();
        let inserted = self.call("record the approval", move |client| async move {
            client
                .execute(
                    "INSERT INTO cutover.approvals (run_id, step, operator, host, at)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    &[&run_id, &step, &operator, &host, &at],
                )
                .await
        })?;
        Ok(inserted == 1)
    }

    /// The approvals of `step` of `run` given so far, oldest first.
    pub fn given(&self, run: &str, step: &str) -> anyhow::Result<Vec<Given>> {
        let (run_id, step) = (run.to_string(), step.to_string());
        self.call("read the approvals", move |client| async move {
            let rows = client
                .query(
                    "SELECT operator, host, at FROM cutover.approvals
                     WHERE run_id = $1 AND step = $2 ORDER BY at, operator",
                    &[&run_id, &step],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|row| Given {
                    operator: row.get(0),
                    host: row.get(1),
                    at: row.get(2),
                })
                .collect())
        })
    }
}
