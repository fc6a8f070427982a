//! `postgres.prewarm` and `mysql.prewarm` against real servers: a table whose
//! blocks were pushed out of shared buffers is back in them after the step,
//! every table and index is read, a budget stops the reading where it says,
//! and without `pg_prewarm` the tables are still read sequentially.

use crate::maria::Maria;
use crate::pg_cluster::{playbook, Cluster};
use crate::pg_seed;
use crate::support::Sandbox;

fn applied(sandbox: &Sandbox, step: &str) -> serde_json::Value {
    let run = sandbox.last_run();
    sandbox
        .journal(&run)
        .into_iter()
        .find(|r| r["event"] == "step_finished" && r["step"] == step)
        .map(|r| r["data"]["applied"].clone())
        .unwrap_or_else(|| panic!("no step_finished for {step}"))
}

fn prewarm_playbook(action: &str, url: &str, extra: &str) -> String {
    playbook(
        "prewarm",
        &[("db", url)],
        &format!(
            "  - id: prewarm\n    action: {action}\n    with: {{ url: \"${{{{ vars.db }}}}\"{extra} }}\n"
        ),
    )
}

/// Buffers of `relation` in shared buffers.
fn buffered(cluster: &Cluster, relation: &str) -> u64 {
    cluster
        .sql(
            "shopdb",
            &format!(
                "SELECT count(*) FROM pg_buffercache WHERE relfilenode = pg_relation_filenode('{relation}')
                   AND reldatabase = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
        )
        .parse()
        .unwrap()
}

fn blocks(cluster: &Cluster, relation: &str) -> u64 {
    cluster
        .sql(
            "shopdb",
            &format!("SELECT pg_relation_size('{relation}') / 8192"),
        )
        .parse()
        .unwrap()
}

#[test]
fn postgres_prewarm_brings_evicted_tables_and_indexes_back_into_shared_buffers() {
    let cluster = Cluster::start();
    cluster.create_db("shopdb");
    pg_seed::seed(&cluster, "shopdb", 20_000);
    cluster.sql(
        "shopdb",
        "CREATE EXTENSION pg_prewarm; CREATE EXTENSION pg_buffercache;
         CREATE TABLE public.filler AS SELECT g, repeat('x', 500) AS pad FROM generate_series(1, 120000) g",
    );
    // 60 MB of filler read into 32 MB of shared buffers push the shop out:
    // the state of a server just restarted, or restored from a snapshot.
    cluster.sql("shopdb", "SELECT pg_prewarm('public.filler')");
    let orders = blocks(&cluster, "shop.orders");
    assert!(orders > 10, "{orders}");
    assert!(
        buffered(&cluster, "shop.orders") < orders / 2,
        "not evicted"
    );
    let pkey = "shop.orders_pkey";
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &prewarm_playbook(
            "postgres.prewarm",
            &cluster.url("shopdb"),
            ", tables: { include: [\"shop.*\"] }",
        ),
    );
    let out = sandbox.run(&["run", "pb.yaml"]);
    out.expect_code(0);
    assert_eq!(buffered(&cluster, "shop.orders"), orders, "{}", out.all());
    assert_eq!(buffered(&cluster, pkey), blocks(&cluster, pkey));
    let data = applied(&sandbox, "prewarm");
    assert_eq!(data["method"], "pg_prewarm (buffer)");
    let expected: u64 = cluster
        .sql(
            "shopdb",
            "SELECT sum(pg_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'shop' AND c.relkind IN ('r', 'i')
                 OR c.oid IN (SELECT reltoastrelid FROM pg_class r JOIN pg_namespace rn ON rn.oid = r.relnamespace WHERE rn.nspname = 'shop')",
        )
        .parse()
        .unwrap();
    assert_eq!(
        data["bytes"], expected,
        "every table, TOAST table and index of the shop"
    );
    assert!(out.all().contains("read "), "{}", out.all());

    // A budget stops where it says and names what it left.
    sandbox.write(
        "budget.yaml",
        &prewarm_playbook("postgres.prewarm", &cluster.url("shopdb"), ", budget: 64kB"),
    );
    let out = sandbox.run(&["run", "budget.yaml"]);
    out.expect_code(0);
    let data = applied(&sandbox, "prewarm");
    assert_eq!(data["bytes"], 65536, "{data}");
    assert!(
        !data["over_budget"].as_array().unwrap().is_empty(),
        "{data}"
    );
}

#[test]
fn postgres_prewarm_without_the_extension_reads_the_tables_sequentially() {
    let cluster = Cluster::start();
    cluster.create_db("shopdb");
    pg_seed::seed(&cluster, "shopdb", 5_000);
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &prewarm_playbook(
            "postgres.prewarm",
            &cluster.url("shopdb"),
            ", tables: { include: [\"shop.*\"] }",
        ),
    );
    let out = sandbox.run(&["run", "pb.yaml"]);
    out.expect_code(0);
    assert!(
        out.all().contains("pg_prewarm is not installed"),
        "{}",
        out.all()
    );
    let data = applied(&sandbox, "prewarm");
    assert_eq!(data["method"], "sequential reads");
    let heaps: u64 = cluster
        .sql(
            "shopdb",
            "SELECT sum(pg_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'shop' AND c.relkind = 'r'",
        )
        .parse()
        .unwrap();
    assert_eq!(data["bytes"], heaps);
    // Nothing was created on the server.
    assert_eq!(
        cluster.sql(
            "shopdb",
            "SELECT count(*) FROM pg_extension WHERE extname = 'pg_prewarm'"
        ),
        "0"
    );
}

#[test]
fn mysql_prewarm_reads_every_index_of_every_table() {
    let maria = Maria::start();
    maria.seed("shop", 3_000);
    maria.sql(
        "shop",
        "CREATE INDEX orders_total ON orders (total); ANALYZE TABLE orders, audit_log",
    );
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &prewarm_playbook("mysql.prewarm", &maria.url("shop"), ""),
    );
    let out = sandbox.run(&["run", "pb.yaml"]);
    out.expect_code(0);
    let data = applied(&sandbox, "prewarm");
    // orders: PRIMARY and orders_total; audit_log: InnoDB's hidden clustered index.
    assert_eq!(data["indexes"], 3, "{data} {}", out.all());
    assert!(data["bytes"].as_u64().unwrap() > 100_000, "{data}");
    let all = out.all();
    assert!(all.contains("index orders_total"), "{all}");
    assert!(all.contains("audit_log index GEN_CLUST_INDEX"), "{all}");

    sandbox.write(
        "budget.yaml",
        &prewarm_playbook("mysql.prewarm", &maria.url("shop"), ", budget: 16kB"),
    );
    let out = sandbox.run(&["run", "budget.yaml"]);
    out.expect_code(0);
    let data = applied(&sandbox, "prewarm");
    assert!(
        !data["over_budget"].as_array().unwrap().is_empty(),
        "{data}"
    );
}
