//! `Store`: the canary's table on PostgreSQL or MySQL/MariaDB — created,
//! written one numbered row per commit, read back, dropped. Writes go through
//! the application's session (a frozen database refuses them, as it refuses
//! the application's), and so do the reads (a pooler refuses cutover's own
//! session options); the drop falls back to cutover's own session.

use anyhow::{anyhow, Context};

use crate::actions::shared::engine::Engine;
use crate::actions::{mysql, postgres};

/// A server holding (or reached for) the canary's table.
#[derive(Debug, Clone)]
pub enum Store {
    Postgres {
        application: Box<postgres::Endpoint>,
        own: Box<postgres::Endpoint>,
    },
    Mysql(mysql::Endpoint),
}

/// An open session that writes.
pub enum Session {
    Postgres(tokio_postgres::Client),
    Mysql(mysql_async::Conn),
}

impl Store {
    /// The error never repeats the URL: it may hold a password.
    pub fn parse(url: &str) -> anyhow::Result<Store> {
        match Engine::of(url) {
            Some(Engine::Postgres) => Ok(Store::Postgres {
                application: Box::new(postgres::Endpoint::as_the_application(url)?),
                own: Box::new(postgres::Endpoint::parse(url)?),
            }),
            Some(Engine::Mysql) => Ok(Store::Mysql(mysql::Endpoint::parse(&url.replacen(
                "mariadb://",
                "mysql://",
                1,
            ))?)),
            None => Err(anyhow!(
                "the canary's URL must start with postgres:// or mysql://"
            )),
        }
    }

    /// `user@host:port/db` of a URL ("?" when it does not parse).
    pub fn label_of(url: &str) -> String {
        Store::parse(url)
            .map(|store| store.label().to_string())
            .unwrap_or_else(|_| "?".into())
    }

    /// `user@host:port/db`, for messages.
    pub fn label(&self) -> &str {
        match self {
            Store::Postgres { own, .. } => own.label(),
            Store::Mysql(endpoint) => endpoint.label(),
        }
    }

    /// Opens a session as the application has one.
    pub async fn open(&self) -> anyhow::Result<Session> {
        Ok(match self {
            Store::Postgres { application, .. } => Session::Postgres(application.connect().await?),
            Store::Mysql(endpoint) => Session::Mysql(endpoint.connect().await?),
        })
    }

    /// Creates the table unless it exists (a kept one from an earlier run),
    /// and returns the highest id in it: this run numbers after it.
    pub async fn prepare(&self, table: &str) -> anyhow::Result<u64> {
        let create_pg = format!(
            "CREATE TABLE IF NOT EXISTS {table} (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())"
        );
        let create_my = format!(
            "CREATE TABLE IF NOT EXISTS {table} (id BIGINT PRIMARY KEY, at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))"
        );
        let top = format!("SELECT coalesce(max(id), 0) FROM {table}");
        match self {
            Store::Postgres { application, .. } => {
                let client = application.connect().await?;
                client
                    .batch_execute(&create_pg)
                    .await
                    .map_err(|e| anyhow!("{}: {}", self.label(), postgres::describe_error(&e)))
                    .with_context(|| format!("failed to create the canary table `{table}`"))?;
                let ids = simple_ids(&client, &top)
                    .await
                    .map_err(|e| anyhow!("{}: {}", self.label(), postgres::describe_error(&e)))?;
                Ok(ids.first().copied().unwrap_or(0))
            }
            Store::Mysql(endpoint) => {
                use mysql_async::prelude::Queryable;
                let mut conn = endpoint.connect().await?;
                conn.query_drop(&create_my)
                    .await
                    .map_err(|e| anyhow!("{}: {}", self.label(), mysql::describe_error(&e)))
                    .with_context(|| format!("failed to create the canary table `{table}`"))?;
                let top: Option<u64> = conn
                    .query_first(&top)
                    .await
                    .map_err(|e| anyhow!("{}: {}", self.label(), mysql::describe_error(&e)))?;
                Ok(top.unwrap_or(0))
            }
        }
    }

    /// The ids in `[low, high]` the table holds, ascending.
    pub async fn present(&self, table: &str, low: u64, high: u64) -> anyhow::Result<Vec<u64>> {
        let sql = format!("SELECT id FROM {table} WHERE id >= {low} AND id <= {high} ORDER BY id");
        match self {
            // As the application: a pooler (PgBouncer) refuses the startup
            // options cutover's own sessions send.
            Store::Postgres { application, .. } => {
                let client = application.connect().await?;
                simple_ids(&client, &sql)
                    .await
                    .map_err(|e| anyhow!("{}: {}", self.label(), postgres::describe_error(&e)))
            }
            Store::Mysql(endpoint) => {
                use mysql_async::prelude::Queryable;
                let mut conn = endpoint.connect().await?;
                conn.query(&sql)
                    .await
                    .map_err(|e| anyhow!("{}: {}", self.label(), mysql::describe_error(&e)))
            }
        }
    }

    /// Drops the table (if it is there).
    pub async fn drop_table(&self, table: &str) -> anyhow::Result<()> {
        let sql = format!("DROP TABLE IF EXISTS {table}");
        match self {
            // As the application first; on a server still frozen for it,
            // through cutover's own session (which a frozen server lets write).
            Store::Postgres { application, own } => {
                let drop = |endpoint: &postgres::Endpoint| {
                    let (endpoint, sql) = (endpoint.clone(), sql.clone());
                    async move {
                        endpoint
                            .connect()
                            .await?
                            .batch_execute(&sql)
                            .await
                            .map_err(|e| {
                                anyhow!("{}: {}", endpoint.label(), postgres::describe_error(&e))
                            })
                    }
                };
                match drop(application).await {
                    Ok(()) => Ok(()),
                    Err(first) => drop(own).await.map_err(|_| first),
                }
            }
            Store::Mysql(endpoint) => {
                use mysql_async::prelude::Queryable;
                endpoint
                    .connect()
                    .await?
                    .query_drop(&sql)
                    .await
                    .map_err(|e| anyhow!("{}: {}", self.label(), mysql::describe_error(&e)))
            }
        }
    }
}

/// The first column of every row, over the simple query protocol: a pooler
/// in transaction mode (PgBouncer) loses named prepared statements.
async fn simple_ids(
    client: &tokio_postgres::Client,
    sql: &str,
) -> Result<Vec<u64>, tokio_postgres::Error> {
    Ok(client
        .simple_query(sql)
        .await?
        .iter()
        .filter_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0)?.parse().ok(),
            _ => None,
        })
        .collect())
}

impl Session {
    /// Commits row `id`; Ok means the server acknowledged the commit.
    pub async fn insert(&mut self, table: &str, id: u64) -> anyhow::Result<()> {
        // Autocommit: the statement's OK is the commit's acknowledgement.
        let sql = format!("INSERT INTO {table} (id) VALUES ({id})");
        match self {
            Session::Postgres(client) => client
                .batch_execute(&sql)
                .await
                .map_err(|e| anyhow!(postgres::describe_error(&e))),
            Session::Mysql(conn) => {
                use mysql_async::prelude::Queryable;
                conn.query_drop(&sql)
                    .await
                    .map_err(|e| anyhow!(mysql::describe_error(&e)))
            }
        }
    }
}
