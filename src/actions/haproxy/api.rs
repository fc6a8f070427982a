//! `RuntimeApi`: HAProxy's runtime API over a unix socket or `host:port`, one
//! command per connection. It has no status codes: success is an empty reply
//! (a bare newline), anything else is the error text (`No such server.`).

use std::path::PathBuf;

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long one command may take; the API answers in microseconds.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeApi {
    address: String,
}

/// One server's line of `show stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStat {
    pub name: String,
    /// `UP`, `DOWN`, `MAINT`, `DRAIN`, `no check` …
    pub status: String,
    /// Current sessions.
    pub sessions: u64,
    pub weight: u64,
    /// The last health check's result (`L4OK`, `L4CON`, `INI` …); empty
    /// without health checks.
    pub check_status: String,
}

impl RuntimeApi {
    /// `/run/haproxy/admin.sock`, or `127.0.0.1:9999` for a TCP listener.
    pub fn new(address: &str) -> Self {
        Self {
            address: address.to_string(),
        }
    }

    /// As `new`, with a relative socket path taken from `base` (the playbook's
    /// directory), like every other relative path in a playbook.
    pub fn at(address: &str, base: &std::path::Path) -> Self {
        let api = Self::new(address);
        if api.is_unix() && !address.starts_with('/') {
            return Self::new(&base.join(address).display().to_string());
        }
        api
    }

    fn is_unix(&self) -> bool {
        self.address.starts_with('/')
            || self.address.starts_with('.')
            || !self.address.contains(':')
    }

    /// Sends one command, returns the raw reply.
    pub async fn command(&self, command: &str) -> anyhow::Result<String> {
        let exchange = async {
            let mut reply = String::new();
            let line = format!("{command}\n");
            if self.is_unix() {
                let mut stream =
                    tokio::net::UnixStream::connect(PathBuf::from(&self.address)).await?;
                stream.write_all(line.as_bytes()).await?;
                stream.read_to_string(&mut reply).await?;
            } else {
                let mut stream = tokio::net::TcpStream::connect(&self.address).await?;
                stream.write_all(line.as_bytes()).await?;
                stream.read_to_string(&mut reply).await?;
            }
            anyhow::Ok(reply)
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "HAProxy's runtime API at {} gave no answer within {}s",
                    self.address,
                    TIMEOUT.as_secs()
                )
            })?
            .with_context(|| format!("cannot talk to HAProxy's runtime API at {}", self.address))
    }

    /// A command that changes something: an empty reply or it failed.
    pub async fn change(&self, command: &str) -> anyhow::Result<()> {
        let reply = self.command(command).await?;
        let reply = reply.trim();
        if !reply.is_empty() {
            bail!("HAProxy refused `{command}`: {reply}");
        }
        Ok(())
    }

    /// The servers of one backend from `show stat` (CSV, columns by header name).
    pub async fn servers(&self, backend: &str) -> anyhow::Result<Vec<ServerStat>> {
        let reply = self.command("show stat").await?;
        let mut lines = reply.lines();
        let header = lines.next().unwrap_or("").trim_start_matches("# ");
        let columns: Vec<&str> = header.split(',').collect();
        let column = |name: &str| columns.iter().position(|c| *c == name);
        let (Some(px), Some(sv), Some(scur), Some(status), Some(weight)) = (
            column("pxname"),
            column("svname"),
            column("scur"),
            column("status"),
            column("weight"),
        ) else {
            bail!(
                "unexpected `show stat` reply from {}: {}",
                self.address,
                header.chars().take(80).collect::<String>()
            );
        };
        let servers: Vec<ServerStat> = lines
            .map(|line| line.split(',').collect::<Vec<_>>())
            .filter(|f| {
                f.get(px) == Some(&backend)
                    && !matches!(f.get(sv), Some(&"BACKEND") | Some(&"FRONTEND") | None)
            })
            .map(|f| ServerStat {
                name: f[sv].to_string(),
                status: f.get(status).unwrap_or(&"").to_string(),
                sessions: f.get(scur).and_then(|v| v.parse().ok()).unwrap_or(0),
                weight: f.get(weight).and_then(|v| v.parse().ok()).unwrap_or(0),
                check_status: column("check_status")
                    .and_then(|c| f.get(c))
                    .unwrap_or(&"")
                    .to_string(),
            })
            .collect();
        if servers.is_empty() {
            bail!(
                "HAProxy at {} has no backend `{backend}` (or it has no servers)",
                self.address
            );
        }
        Ok(servers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_tell_unix_sockets_from_tcp() {
        assert!(RuntimeApi::new("/run/haproxy/admin.sock").is_unix());
        assert!(RuntimeApi::new("admin.sock").is_unix());
        assert!(!RuntimeApi::new("127.0.0.1:9999").is_unix());
    }
}
