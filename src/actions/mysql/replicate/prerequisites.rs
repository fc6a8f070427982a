//! `Sender`: what binlog replication needs of the two servers whichever way it
//! runs — a row-format binary log on the sending side, distinct non-zero
//! server ids, a replication grant, compatible `gtid_mode` (MySQL) — each
//! problem with its fix. `mysql.replicate` checks them old → new,
//! `mysql.reverse_replicate` new → old, in the same words.

use mysql_async::prelude::Queryable;

use crate::actions::mysql::channel::{failed, Dialect};
use crate::actions::mysql::connect::Endpoint;

/// The sending server's settings and the receiving one's id.
pub struct Sender {
    pub log_bin: bool,
    source_id: u64,
    format: String,
    target_id: u64,
    /// MySQL only: `gtid_mode` of the sender and the receiver.
    gtid_modes: Option<(String, String)>,
}

impl Sender {
    /// Reads the settings; `src` sends the binary log, `dst` receives it.
    pub async fn read(
        src: &mut mysql_async::Conn,
        source: &Endpoint,
        dst: &mut mysql_async::Conn,
        target: &Endpoint,
        dialect: &Dialect,
    ) -> anyhow::Result<Sender> {
        let (log_bin, source_id, format): (Option<String>, u64, Option<String>) = src
            .query_first("SELECT @@GLOBAL.log_bin, @@GLOBAL.server_id, @@GLOBAL.binlog_format")
            .await
            .map_err(failed(source))?
            .unwrap_or((None, 0, None));
        let target_id: u64 = dst
            .query_first("SELECT @@GLOBAL.server_id")
            .await
            .map_err(failed(target))?
            .unwrap_or(0);
        let gtid_modes = if dialect.mariadb {
            None
        } else {
            let mode = "SELECT @@GLOBAL.gtid_mode";
            let sender: Option<String> = src.query_first(mode).await.map_err(failed(source))?;
            let receiver: Option<String> = dst.query_first(mode).await.map_err(failed(target))?;
            Some((sender.unwrap_or_default(), receiver.unwrap_or_default()))
        };
        Ok(Sender {
            log_bin: matches!(log_bin.as_deref(), Some("1") | Some("ON")),
            source_id,
            format: format.unwrap_or_default(),
            target_id,
            gtid_modes,
        })
    }

    /// Server ids, binlog format and GTID modes: every problem with its fix.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let source_id = self.source_id;
        if source_id == 0 {
            problems.push("the source has `server_id = 0`, which a replication source may not have: set a unique non-zero `server_id` in its configuration and `SET GLOBAL server_id = …` (or restart)".to_string());
        }
        if self.target_id == 0 {
            problems.push("the target has `server_id = 0`, which a replica may not have: `SET GLOBAL server_id = …` (unique, non-zero) on the target and in its configuration".to_string());
        } else if self.target_id == source_id {
            problems.push(format!(
                "source and target both have `server_id = {source_id}`: the target would skip the source's events as its own: give the target another one (`SET GLOBAL server_id = {}` and in its configuration)",
                source_id + 1
            ));
        }
        if self.log_bin && !self.format.eq_ignore_ascii_case("ROW") {
            problems.push(format!(
                "the source logs with `binlog_format = {}`; replication needs `ROW` (the replay of a resumed copy is only idempotent for row events): `SET GLOBAL binlog_format = ROW` on the source and in its configuration, then reconnect the application (open sessions keep their format)",
                self.format
            ));
        }
        if let Some((sender, receiver)) = &self.gtid_modes {
            if let Some(problem) = gtid_mode_problem(sender, receiver) {
                problems.push(problem);
            }
        }
        problems
    }
}

/// MySQL refuses a replica whose `gtid_mode` cannot take the source's
/// transactions: GTID ones need `ON`/`ON_PERMISSIVE`, anonymous ones `OFF`/`OFF_PERMISSIVE`.
fn gtid_mode_problem(sender: &str, receiver: &str) -> Option<String> {
    let (sender, receiver) = (sender.to_uppercase(), receiver.to_uppercase());
    let fits = match sender.as_str() {
        "ON" => receiver.starts_with("ON"),
        "OFF" => receiver.starts_with("OFF"),
        _ => true,
    };
    (!fits).then(|| format!(
        "the source has `gtid_mode = {sender}` and the target `gtid_mode = {receiver}`: the target would refuse the source's transactions: step the target's `gtid_mode` to match (`SET GLOBAL gtid_mode = …` one step at a time: OFF, OFF_PERMISSIVE, ON_PERMISSIVE, ON)"
    ))
}

/// None when the source user may replicate (or it cannot tell: then the IO
/// thread will say); else the problem with its fix.
pub async fn replication_grant(
    src: &mut mysql_async::Conn,
    source: &Endpoint,
) -> anyhow::Result<Option<String>> {
    let grants: Vec<String> = src.query("SHOW GRANTS").await.map_err(failed(source))?;
    let global = |g: &String| g.to_uppercase().contains(" ON *.* TO ");
    let may = grants.iter().filter(|g| global(g)).any(|g| {
        let g = g.to_uppercase();
        g.contains("ALL PRIVILEGES")
            || g.contains("REPLICATION SLAVE")
            || g.contains("REPLICATION REPLICA")
    });
    // Privileges through a role do not show here: let the IO thread decide.
    let has_roles = grants.iter().any(|g| !g.to_uppercase().contains(" ON "));
    if may || has_roles {
        return Ok(None);
    }
    Ok(Some(format!(
        "user `{}` may not replicate from the source: `GRANT REPLICATION SLAVE ON *.* TO '{}'@'…'` (the host the target connects from)",
        source.user(),
        source.user()
    )))
}

#[cfg(test)]
mod tests {
    use super::gtid_mode_problem;

    #[test]
    fn gtid_modes_must_accept_the_senders_transactions() {
        assert!(gtid_mode_problem("ON", "ON").is_none());
        assert!(gtid_mode_problem("ON", "ON_PERMISSIVE").is_none());
        assert!(gtid_mode_problem("OFF", "off_permissive").is_none());
        assert!(gtid_mode_problem("ON_PERMISSIVE", "OFF").is_none());
        let problem = gtid_mode_problem("ON", "OFF").unwrap();
        assert!(problem.contains("`gtid_mode = ON`"), "{problem}");
        assert!(gtid_mode_problem("OFF", "ON").is_some());
    }
}
