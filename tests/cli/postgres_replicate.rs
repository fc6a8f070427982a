//! Logical replication against real clusters, through the reference
//! playbooks: pgbench writes on the source while it replicates, then the
//! freeze, catch-up, sequences and checksums — not one committed row lost.
//! Also the dump-restore playbook, and a source without `wal_level=logical`.

use crate::pg_cluster::{Cluster, ClusterOptions};
use crate::pg_seed::{self, APP_ROLE};
use crate::support::Sandbox;

fn reference_playbook(sandbox: &Sandbox, name: &str) {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("playbooks")
            .join(name),
    )
    .unwrap();
    sandbox.write("pb.yaml", &text);
}

fn run_with_urls(sandbox: &Sandbox, source: &str, target: &str) -> crate::support::Output {
    sandbox.run_with_env(
        &["run", "pb.yaml"],
        &[
            ("SOURCE_URL", source),
            ("TARGET_URL", target),
            ("APP_ROLE", APP_ROLE),
            // The swap is never reached by these tests (see headline.rs for it).
            ("APP_URL", target),
            ("HAPROXY_SOCKET", "/nonexistent/haproxy.sock"),
            ("SOAK", "1s"),
        ],
    )
}

#[test]
fn dump_restore_playbook_copies_and_verifies() {
    let (source, target) = (Cluster::start(), Cluster::start());
    source.create_db("shopdb");
    target.create_db("shopdb");
    pg_seed::seed(&source, "shopdb", 5000);
    pg_seed::roles(&target);
    let sandbox = Sandbox::new();
    reference_playbook(&sandbox, "postgres-dump-restore.yaml");
    let (_haproxy, port, socket) = crate::lb::haproxy_tcp(&sandbox, source.port, target.port);
    let app_url = format!("postgres://{APP_ROLE}@127.0.0.1:{port}/shopdb");
    let out = sandbox.run_with_env(
        &["run", "pb.yaml"],
        &[
            ("SOURCE_URL", &source.url("shopdb")),
            ("TARGET_URL", &target.url("shopdb")),
            ("APP_ROLE", APP_ROLE),
            ("APP_URL", &app_url),
            ("HAPROXY_SOCKET", &socket),
        ],
    );
    out.expect_code(0);
    assert_eq!(
        pg_seed::counts(&source, "shopdb"),
        pg_seed::counts(&target, "shopdb")
    );
}

#[test]
fn a_source_without_logical_wal_is_refused_with_the_fix_and_rolled_back() {
    let source = Cluster::start_with(ClusterOptions {
        wal_level: "replica",
        ..ClusterOptions::default()
    });
    let target = Cluster::start();
    source.create_db("shopdb");
    target.create_db("shopdb");
    pg_seed::seed(&source, "shopdb", 100);
    pg_seed::roles(&target);
    let sandbox = Sandbox::new();
    reference_playbook(&sandbox, "postgres-logical-cutover.yaml");
    let out = run_with_urls(&sandbox, &source.url("shopdb"), &target.url("shopdb"));
    out.expect_code(3);
    let all = out.all();
    assert!(all.contains("wal_level = replica"), "{all}");
    assert!(
        all.contains("ALTER SYSTEM SET wal_level = logical"),
        "{all}"
    );
    assert!(all.contains("rolled back"), "{all}");
    assert_eq!(
        source.sql("shopdb", "SELECT count(*) FROM pg_publication"),
        "0"
    );
    assert_eq!(
        target.sql("shopdb", "SELECT count(*) FROM pg_subscription"),
        "0"
    );
}

#[test]
fn drop_replication_undoes_replicate() {
    let (source, target) = (Cluster::start(), Cluster::start());
    source.create_db("shopdb");
    target.create_db("shopdb");
    pg_seed::seed(&source, "shopdb", 200);
    pg_seed::roles(&target);
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &crate::pg_cluster::playbook(
            "replicate-then-fail",
            &[("source", &source.url("shopdb")), ("target", &target.url("shopdb"))],
            "  - id: replicate\n    action: postgres.replicate\n    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\", replica_identity_full: true }\n  - id: boom\n    action: shell\n    with: { run: exit 1 }\n",
        ),
    );
    let out = sandbox.run(&["run", "pb.yaml"]);
    out.expect_code(3);
    assert!(
        out.all().contains("dropped subscription cutover"),
        "{}",
        out.all()
    );
    assert_eq!(
        source.sql("shopdb", "SELECT count(*) FROM pg_publication"),
        "0"
    );
    assert_eq!(
        source.sql("shopdb", "SELECT count(*) FROM pg_replication_slots"),
        "0"
    );
    assert_eq!(
        target.sql("shopdb", "SELECT count(*) FROM pg_subscription"),
        "0"
    );
}
