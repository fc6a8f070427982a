//! `tool`: a PostgreSQL client program (`pg_dump`, `pg_restore`, `psql`) run
//! for an action as a `ClientProgram`, connected through libpq's environment
//! so the password never shows on its command line.

use tokio::process::Command;

use super::connect::Endpoint;
use crate::actions::shared::client::ClientProgram;

/// `program` connected to `endpoint` through libpq's environment.
pub fn tool(program: &str, endpoint: &Endpoint) -> ClientProgram {
    tool_with_settings(program, endpoint, &[])
}

/// `program` as `tool` makes it, with server settings for each of its
/// sessions (`PGOPTIONS`, after cutover's own).
pub fn tool_with_settings(
    program: &str,
    endpoint: &Endpoint,
    settings: &[(&str, String)],
) -> ClientProgram {
    let mut command = Command::new(program);
    for (key, value) in endpoint.libpq_env() {
        if key == "PGOPTIONS" && !settings.is_empty() {
            let extra: Vec<String> = settings
                .iter()
                .map(|(k, v)| format!("-c {k}={v}"))
                .collect();
            command.env(key, format!("{value} {}", extra.join(" ")));
        } else {
            command.env(key, value);
        }
    }
    ClientProgram::new(command, program, "is the PostgreSQL client installed?")
}
