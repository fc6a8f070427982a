//! `Builds`: the indexes and constraints `postgres.copy` builds itself —
//! each table's indexes, primary keys, unique and exclusion constraints as
//! soon as that table's rows are in, on build sessions of their own while
//! other tables still copy; foreign keys once every table is in, added
//! `NOT VALID` (instant) then validated (a weaker lock: validations run side
//! by side). Each build commits with its ledger row, so after kill -9 a build
//! is either there and recorded or absent, and `resume` builds what is
//! missing. What pg_dump's post-data holds beyond these (triggers, rules,
//! partitioned tables' indexes, comments …) is left to pg_restore, without
//! the entries built here (`rest_of_toc`).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_postgres::Client;

use super::connect::{pg, quote_ident};
use super::copy_progress as ledger;
use super::tables::Table;
use crate::actions::{Progress, StepContext};

/// One index or constraint of one table, built in one transaction.
#[derive(Debug, Clone)]
pub struct Build {
    /// `schema.table name`, for messages.
    pub what: String,
    /// Its ledger item.
    pub key: String,
    /// The statements, run in one transaction.
    pub sql: String,
}

/// A foreign key, added once every table is in.
#[derive(Debug, Clone)]
pub struct ForeignKey {
    /// The referencing table, quoted.
    pub table: String,
    pub name: String,
    /// `pg_get_constraintdef`: `FOREIGN KEY (…) REFERENCES …`.
    pub definition: String,
    /// Valid on the source: validated on the target too (else left NOT VALID).
    pub validated: bool,
}

/// What the copy builds itself, read from the source's catalog.
#[derive(Debug, Default)]
pub struct Builds {
    /// Per table ledger key, its builds not yet recorded done.
    pending: RefCell<BTreeMap<String, Vec<Build>>>,
    pub foreign_keys: Vec<ForeignKey>,
    /// Catalog oids of every object above (indexes and constraints): the
    /// pg_restore entries to leave out.
    pub oids: BTreeSet<u32>,
    /// Ready to build: the table's rows are in.
    queue: RefCell<VecDeque<Build>>,
    /// No more rows will come in this attempt.
    rows_done: Cell<bool>,
}

/// Sessions building indexes: settings as pg_restore sets them (an empty
/// `search_path`: the definitions are read with every name qualified), and
/// the playbook's maintenance settings.
pub fn session_sql(settings: &[(&str, String)]) -> String {
    let mut sql = format!("SET search_path = ''; SET application_name = '{BUILDER}';");
    for (name, value) in settings {
        sql.push_str(&format!(" SET {name} = '{value}';"));
    }
    sql
}

/// The `application_name` of build sessions, to find those a killed copy
/// left running.
const BUILDER: &str = "cutover copy build";

/// Ends the build sessions a killed attempt left on the target: a backend
/// building an index does not notice its client is gone until the build
/// ends, and would commit it beside the resumed attempt's own build of the
/// same index (a duplicate-object error). Their transactions roll back, so
/// what they built is rebuilt; waits until they are gone.
pub async fn end_orphans(control: &Client, cx: &StepContext<'_>) -> anyhow::Result<()> {
    let ended = control
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()",
            &[&BUILDER],
        )
        .await
        .map_err(pg)
        .context("failed to end the build sessions of an earlier attempt")?;
    if ended.is_empty() {
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left: i64 = control
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()",
                &[&BUILDER],
            )
            .await
            .map_err(pg)?
            .get(0);
        if left == 0 {
            break;
        }
        if Instant::now() > deadline {
            anyhow::bail!("{left} build session(s) of an earlier attempt are still running on the target after 30 s (hint: end them with pg_terminate_backend and resume)");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cx.report(Progress::Status(format!(
        "ended {} index build session(s) an earlier attempt left running",
        ended.len()
    )));
    Ok(())
}

impl Builds {
    /// Reads the indexes and constraints of `tables` (ordinary tables, not
    /// partitions: those stay with pg_restore) from the source, leaving out
    /// those the ledger records built.
    pub async fn read(
        source: &Client,
        tables: &[Table],
        done: &BTreeSet<String>,
    ) -> anyhow::Result<Builds> {
        // Every name qualified in the definitions, as pg_dump reads them.
        source
            .batch_execute("SET search_path = ''")
            .await
            .map_err(pg)?;
        let rows = source
            .query(
                "SELECT n.nspname::text, c.relname::text, ic.relname::text, i.indexrelid::oid,
                        k.oid, k.conname::text, k.contype::text,
                        CASE WHEN k.oid IS NULL THEN pg_get_indexdef(i.indexrelid)
                             ELSE pg_get_constraintdef(k.oid) END,
                        i.indisclustered, i.indisreplident,
                        (SELECT string_agg(format('ALTER INDEX %s ALTER COLUMN %s SET STATISTICS %s;',
                                                  i.indexrelid::regclass, a.attnum, a.attstattarget), ' ' ORDER BY a.attnum)
                           FROM pg_attribute a WHERE a.attrelid = i.indexrelid AND a.attstattarget >= 0),
                        (SELECT spcname::text FROM pg_tablespace t WHERE t.oid = ic.reltablespace)
                   FROM pg_index i
                   JOIN pg_class c ON c.oid = i.indrelid
                   JOIN pg_namespace n ON n.oid = c.relnamespace
                   JOIN pg_class ic ON ic.oid = i.indexrelid
                   LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = c.oid
                                            AND k.contype IN ('p', 'u', 'x')
                  WHERE c.relkind = 'r' AND NOT c.relispartition
                  ORDER BY 1, 2, (k.contype = 'p') IS NOT TRUE, 3",
                &[],
            )
            .await
            .map_err(pg)?;
        let in_scope =
            |schema: &str, name: &str| tables.iter().any(|t| t.schema == schema && t.name == name);
        let mut builds = Builds::default();
        {
            let mut pending = builds.pending.borrow_mut();
            for row in &rows {
                let (schema, name, index): (String, String, String) =
                    (row.get(0), row.get(1), row.get(2));
                if !in_scope(&schema, &name) {
                    continue;
                }
                let index_oid: u32 = row.get(3);
                let constraint: Option<u32> = row.get(4);
                let definition: String = row.get(7);
                let table = format!("{}.{}", quote_ident(&schema), quote_ident(&name));
                let (object, mut sql) = match constraint {
                    Some(oid) => {
                        builds.oids.insert(oid);
                        let conname: String = row.get(5);
                        (
                            conname.clone(),
                            format!(
                                "ALTER TABLE ONLY {table} ADD CONSTRAINT {} {definition};",
                                quote_ident(&conname)
                            ),
                        )
                    }
                    None => (index.clone(), format!("{definition};")),
                };
                // Neither definition names the index's tablespace: pg_dump
                // sets default_tablespace before each, and so does this.
                if let Some(space) = row.get::<_, Option<String>>(11) {
                    sql = format!(
                        "SET LOCAL default_tablespace = {}; {sql}",
                        quote_ident(&space)
                    );
                }
                builds.oids.insert(index_oid);
                if row.get::<_, bool>(8) {
                    sql.push_str(&format!(
                        " ALTER TABLE {table} CLUSTER ON {};",
                        quote_ident(&index)
                    ));
                }
                if row.get::<_, bool>(9) {
                    sql.push_str(&format!(
                        " ALTER TABLE ONLY {table} REPLICA IDENTITY USING INDEX {};",
                        quote_ident(&index)
                    ));
                }
                // Statistics targets of expression columns, which pg_dump
                // restores with the index.
                if let Some(statistics) = row.get::<_, Option<String>>(10) {
                    sql.push(' ');
                    sql.push_str(&statistics);
                }
                let table_key = ledger::table_key(&schema, &name);
                let key = build_key(&table_key, &object);
                if done.contains(&key) {
                    continue;
                }
                pending.entry(table_key).or_default().push(Build {
                    what: format!("{schema}.{name} {object}"),
                    key,
                    sql,
                });
            }
        }
        let fks = source
            .query(
                "SELECT n.nspname::text, c.relname::text, k.oid, k.conname::text,
                        pg_get_constraintdef(k.oid), k.convalidated
                   FROM pg_constraint k
                   JOIN pg_class c ON c.oid = k.conrelid
                   JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE k.contype = 'f' AND k.conparentid = 0
                    AND c.relkind = 'r' AND NOT c.relispartition
                  ORDER BY 1, 2, 4",
                &[],
            )
            .await
            .map_err(pg)?;
        for row in &fks {
            let (schema, name): (String, String) = (row.get(0), row.get(1));
            if !in_scope(&schema, &name) {
                continue;
            }
            builds.oids.insert(row.get(2));
            let definition: String = row.get(4);
            builds.foreign_keys.push(ForeignKey {
                table: format!("{}.{}", quote_ident(&schema), quote_ident(&name)),
                name: row.get(3),
                definition: definition
                    .strip_suffix(" NOT VALID")
                    .unwrap_or(&definition)
                    .to_string(),
                validated: row.get(5),
            });
        }
        source
            .batch_execute("RESET search_path")
            .await
            .map_err(pg)?;
        Ok(builds)
    }

    /// Builds not yet done, in all.
    pub fn count(&self) -> usize {
        self.pending.borrow().values().map(Vec::len).sum::<usize>() + self.queue.borrow().len()
    }

    /// A table's rows are all in: its builds may start.
    pub fn table_done(&self, table: &Table) {
        let key = ledger::table_key(&table.schema, &table.name);
        if let Some(builds) = self.pending.borrow_mut().remove(&key) {
            self.queue.borrow_mut().extend(builds);
        }
    }

    /// Every row of this attempt is in: the builders stop once the queue is empty.
    pub fn rows_done(&self) {
        self.rows_done.set(true);
    }

    /// Takes builds off the queue as tables finish, until the rows are done
    /// and nothing waits. Each build and its ledger row commit together.
    pub async fn builder(&self, dst: &Client, cx: &StepContext<'_>) -> anyhow::Result<()> {
        loop {
            let next = self.queue.borrow_mut().pop_front();
            let Some(build) = next else {
                if self.rows_done.get() {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            let started = Instant::now();
            let sql = format!(
                "BEGIN; {} INSERT INTO {}.copy_progress (item) VALUES ({}); COMMIT;",
                build.sql,
                super::tables::INTERNAL_SCHEMA,
                super::connect::quote_literal(&build.key)
            );
            if let Err(error) = dst.batch_execute(&sql).await {
                let _ = dst.batch_execute("ROLLBACK").await;
                return Err(pg(error)).with_context(|| format!("failed to build {}", build.what));
            }
            cx.report(Progress::Status(format!(
                "built {} in {:.2} s",
                build.what,
                started.elapsed().as_secs_f64()
            )));
        }
    }
}

/// Adds the foreign keys `NOT VALID` (no scan, a brief lock), then validates
/// them over `sessions` at once: `VALIDATE CONSTRAINT` holds only SHARE
/// UPDATE EXCLUSIVE on the referencing table and ROW SHARE on the
/// referenced one, so validations of keys into the same table run side by
/// side. A key an earlier attempt added is not added again; validating a
/// valid key is a no-op.
pub async fn foreign_keys(
    sessions: &[Client],
    keys: &[ForeignKey],
    cx: &StepContext<'_>,
) -> anyhow::Result<()> {
    let Some(first) = sessions.first() else {
        return Ok(());
    };
    if keys.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    for key in keys {
        let present = first
            .query_opt(
                "SELECT 1 FROM pg_constraint WHERE conrelid = $1::text::regclass AND conname = $2",
                &[&key.table, &key.name],
            )
            .await
            .map_err(pg)?
            .is_some();
        if !present {
            first
                .batch_execute(&format!(
                    "ALTER TABLE ONLY {} ADD CONSTRAINT {} {} NOT VALID",
                    key.table,
                    quote_ident(&key.name),
                    key.definition
                ))
                .await
                .map_err(pg)
                .with_context(|| {
                    format!("failed to add foreign key {} on {}", key.name, key.table)
                })?;
        }
    }
    let queue = RefCell::new(keys.iter().filter(|k| k.validated).collect::<VecDeque<_>>());
    futures_util::future::try_join_all(sessions.iter().map(|s| validate(s, &queue))).await?;
    cx.report(Progress::Status(format!(
        "added {} foreign key(s) NOT VALID, validated {} (the others are NOT VALID on the source too) in {:.2} s",
        keys.len(),
        keys.iter().filter(|k| k.validated).count(),
        started.elapsed().as_secs_f64()
    )));
    Ok(())
}

/// Validates keys off `queue` until it is empty.
async fn validate(session: &Client, queue: &RefCell<VecDeque<&ForeignKey>>) -> anyhow::Result<()> {
    loop {
        let next = queue.borrow_mut().pop_front();
        let Some(key) = next else { return Ok(()) };
        session
            .batch_execute(&format!(
                "ALTER TABLE ONLY {} VALIDATE CONSTRAINT {}",
                key.table,
                quote_ident(&key.name)
            ))
            .await
            .map_err(pg)
            .with_context(|| {
                format!(
                    "failed to validate foreign key {} on {}",
                    key.name, key.table
                )
            })?;
    }
}

/// The ledger item of one build.
fn build_key(table_key: &str, object: &str) -> String {
    format!("build:{table_key}:{object}")
}

/// pg_restore's table of contents (`pg_restore -l`) without the entries
/// whose catalog oid is in `oids` (built here), and whether any entry is
/// left to restore.
pub fn rest_of_toc(list: &str, oids: &BTreeSet<u32>) -> (String, bool) {
    let mut rest = String::new();
    let mut any = false;
    for line in list.lines() {
        // `ID; CLASSOID OID TYPE …`; comment lines start with `;`.
        let oid = (!line.starts_with(';'))
            .then(|| line.split_once("; "))
            .flatten()
            .and_then(|(_, tail)| tail.split_whitespace().nth(1))
            .and_then(|oid| oid.parse::<u32>().ok());
        match oid {
            Some(oid) if oids.contains(&oid) => continue,
            Some(_) => any = true,
            None => {}
        }
        rest.push_str(line);
        rest.push('\n');
    }
    (rest, any)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rest_of_the_toc_leaves_out_what_was_built() {
        let list = "\
;
; Archive created at 2026-12-03 12:00:00 UTC
;
3345; 2606 16390 CONSTRAINT public pgbench_accounts pgbench_accounts_pkey postgres
3346; 1259 16400 INDEX public by_total postgres
3347; 2620 16410 TRIGGER public orders audit postgres
3348; 2606 16420 FK CONSTRAINT public orders orders_customer_fkey postgres
";
        let (rest, any) = rest_of_toc(list, &BTreeSet::from([16390, 16400, 16420]));
        assert!(any);
        assert!(rest.contains("TRIGGER public orders audit"));
        assert!(!rest.contains("pgbench_accounts_pkey"));
        assert!(!rest.contains("by_total"));
        assert!(!rest.contains("FK CONSTRAINT"));
        assert!(rest.starts_with(";\n; Archive created"));
        let (_, any) = rest_of_toc(list, &BTreeSet::from([16390, 16400, 16410, 16420]));
        assert!(!any, "only comments left");
    }

    #[test]
    fn build_sessions_set_an_empty_search_path_and_the_playbooks_settings() {
        assert_eq!(
            session_sql(&[]),
            "SET search_path = ''; SET application_name = 'cutover copy build';"
        );
        assert!(session_sql(&[("maintenance_work_mem", "131072kB".into())])
            .ends_with("; SET maintenance_work_mem = '131072kB';"));
    }
}
