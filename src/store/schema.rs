//! The store's schema, versioned: each migration is applied once, in order,
//! in one transaction with the version row it adds, under an advisory lock so
//! two operators migrating at once apply it once. `cutover state init`
//! creates it; `cutover state migrate` brings an older one up to date; every
//! other command refuses a store that is not at this binary's version.

use anyhow::bail;

use super::Store;

/// Everything in schema `cutover`; the version table says how far it is.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "runs and their journals",
        "CREATE TABLE cutover.runs (
            id text PRIMARY KEY,
            playbook_name text NOT NULL,
            operator text NOT NULL,
            host text NOT NULL,
            pid integer NOT NULL,
            started_at timestamptz NOT NULL DEFAULT now(),
            -- The exact playbook text that ran and its --vars file: what a
            -- resume from another host compiles again.
            playbook text NOT NULL,
            vars text,
            -- seq and hash of the last line at the latest stop, and its
            -- signature (--sign-key): what `audit verify` checks the rows against.
            head text,
            head_signature text,
            heartbeat_at timestamptz,
            heartbeat_host text
        );
        -- One row per journal line, the line's exact text (its hash chain
        -- included): appended in order, never updated.
        CREATE TABLE cutover.events (
            run_id text NOT NULL REFERENCES cutover.runs (id),
            seq bigint NOT NULL CHECK (seq > 0),
            line text NOT NULL,
            PRIMARY KEY (run_id, seq)
        );",
    ),
    (
        2,
        "approvals and lock holders",
        "CREATE TABLE cutover.approvals (
            run_id text NOT NULL REFERENCES cutover.runs (id),
            step text NOT NULL,
            operator text NOT NULL,
            host text NOT NULL,
            at text NOT NULL,
            PRIMARY KEY (run_id, step, operator)
        );
        -- Who holds each advisory lock: the lock itself is the session's
        -- (pg_try_advisory_lock); this row only names the holder.
        CREATE TABLE cutover.locks (
            key text PRIMARY KEY,
            lock_id bigint NOT NULL,
            run_id text NOT NULL,
            operator text NOT NULL,
            host text NOT NULL,
            pid integer NOT NULL,
            since timestamptz NOT NULL,
            heartbeat_at timestamptz NOT NULL
        );",
    ),
];

/// The version this binary reads and writes.
pub const VERSION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// The advisory lock migrations take (any constant unlikely to collide).
const MIGRATION_LOCK: i64 = 0x6375_746f_7665_7201;

/// The store's version: 0 when it has no cutover schema yet.
pub fn version(store: &Store) -> anyhow::Result<i32> {
    store.call("read its schema version", |client| async move {
        let exists = client
            .query_one(
                "SELECT to_regclass('cutover.schema_version') IS NOT NULL",
                &[],
            )
            .await?
            .get::<_, bool>(0);
        if !exists {
            return Ok(0);
        }
        let row = client
            .query_one(
                "SELECT coalesce(max(version), 0) FROM cutover.schema_version",
                &[],
            )
            .await?;
        Ok(row.get::<_, i32>(0))
    })
}

/// Refuses a store that is not at `VERSION`, saying what to run.
pub fn check(store: &Store) -> anyhow::Result<()> {
    match version(store)? {
        VERSION => Ok(()),
        0 => bail!(
            "the state store {} has no cutover schema\nhint: `cutover state init --state URL` creates it",
            store.label()
        ),
        older if older < VERSION => bail!(
            "the state store {} is at schema version {older}; this cutover needs {VERSION}\nhint: `cutover state migrate --state URL`",
            store.label()
        ),
        newer => bail!(
            "the state store {} is at schema version {newer}, newer than this cutover knows ({VERSION})\nhint: use the cutover release that migrated it",
            store.label()
        ),
    }
}

/// Applies every migration the store lacks; returns (from, to) versions.
pub fn migrate(store: &Store) -> anyhow::Result<(i32, i32)> {
    store.call("migrate its schema", |client| async move {
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        let result = apply(&client).await;
        let unlocked = client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await;
        let applied = result?;
        unlocked?;
        Ok(applied)
    })
}

async fn apply(client: &tokio_postgres::Client) -> Result<(i32, i32), tokio_postgres::Error> {
    client
        .batch_execute(
            "CREATE SCHEMA IF NOT EXISTS cutover;
             CREATE TABLE IF NOT EXISTS cutover.schema_version (
                 version integer PRIMARY KEY,
                 description text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             );",
        )
        .await?;
    let from: i32 = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM cutover.schema_version",
            &[],
        )
        .await?
        .get(0);
    for (version, description, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > from) {
        client.batch_execute("BEGIN").await?;
        let applied = async {
            client.batch_execute(sql).await?;
            client
                .execute(
                    "INSERT INTO cutover.schema_version (version, description) VALUES ($1, $2)",
                    &[version, description],
                )
                .await?;
            client.batch_execute("COMMIT").await
        }
        .await;
        if let Err(error) = applied {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(error);
        }
    }
    Ok((from, from.max(VERSION)))
}
