//! `postgres.snapshot` and `postgres.restore` against real clusters: an
//! archive of a seeded database restored into another that `postgres.verify`
//! finds equal, its size and sha256 in the journal, a refused non-empty
//! target, `on_existing: clean`, and a failed dump that leaves the previous
//! archive untouched.

use std::process::Command;

use crate::pg_cluster::{playbook, Cluster};
use crate::pg_seed;
use crate::support::Sandbox;

fn snapshot_step(to: &str) -> String {
    format!("  - id: snapshot\n    action: postgres.snapshot\n    with: {{ url: \"${{{{ vars.source }}}}\", to: {to} }}\n")
}

fn restore_step(from: &str, extra: &str) -> String {
    format!("  - id: restore\n    action: postgres.restore\n    with: {{ from: {from}, url: \"${{{{ vars.target }}}}\", jobs: 3{extra} }}\n")
}

const VERIFY: &str = "  - id: verify\n    action: postgres.verify\n    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\", mode: checksum }\n";

fn pair(rows: u32) -> (Cluster, Cluster) {
    let (source, target) = (Cluster::start(), Cluster::start());
    source.create_db("shopdb");
    target.create_db("shopdb");
    pg_seed::seed(&source, "shopdb", rows);
    pg_seed::roles(&target);
    (source, target)
}

fn applied(sandbox: &Sandbox, step: &str) -> serde_json::Value {
    sandbox
        .journal(&sandbox.last_run())
        .iter()
        .find(|r| r["event"] == "step_finished" && r["step"] == step)
        .map(|r| r["data"]["applied"].clone())
        .unwrap_or_else(|| panic!("step `{step}` finished"))
}

/// Indexes, constraints and sequence values, to compare two databases' shape.
fn shape(cluster: &Cluster) -> String {
    cluster.sql(
        "shopdb",
        "SELECT (SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE schemaname IN ('shop', 'public'))
             || ' | ' || (SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE nspname IN ('shop', 'public'))
             || ' | ' || (SELECT string_agg(format('%s=%s', sequencename, last_value), ',' ORDER BY sequencename) FROM pg_sequences)",
    )
}

#[test]
fn snapshot_restored_into_another_cluster_verifies_equal() {
    let (source, target) = pair(20_000);
    let sandbox = Sandbox::new();
    let (s, t) = (source.url("shopdb"), target.url("shopdb"));
    let steps = format!(
        "{}{}{VERIFY}",
        snapshot_step("archives/shop.dump"),
        restore_step("archives/shop.dump", "")
    );
    sandbox.write(
        "pb.yaml",
        &playbook("archive", &[("source", &s), ("target", &t)], &steps),
    );
    let out = sandbox.run(&["run", "pb.yaml"]);
    out.expect_code(0);
    let all = out.all();
    assert!(all.contains("archive items"), "{all}");
    assert_eq!(
        pg_seed::counts(&source, "shopdb"),
        pg_seed::counts(&target, "shopdb")
    );
    assert_eq!(shape(&source), shape(&target));

    let archive = sandbox.path().join("archives/shop.dump");
    let snapshot = applied(&sandbox, "snapshot");
    let size = std::fs::metadata(&archive).unwrap().len();
    assert_eq!(snapshot["bytes"].as_u64(), Some(size));
    let sum = Command::new("sha256sum").arg(&archive).output().unwrap();
    let sum = String::from_utf8_lossy(&sum.stdout);
    assert_eq!(
        snapshot["sha256"].as_str(),
        sum.split_whitespace().next(),
        "the journaled sha256 is the file's"
    );
    let left: Vec<_> = std::fs::read_dir(sandbox.path().join("archives"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec!["shop.dump".to_string()], "no partial file left");
    let restore = applied(&sandbox, "restore");
    eprintln!(
        "snapshot: {size} bytes in {} s; restore: {} items in {} s",
        snapshot["seconds"], restore["items"], restore["seconds"]
    );

    // Run again: the restore sees its own finished work and does nothing.
    sandbox.write(
        "again.yaml",
        &playbook(
            "again",
            &[("source", &s), ("target", &t)],
            &restore_step("archives/shop.dump", ""),
        ),
    );
    let out = sandbox.run(&["run", "again.yaml"]);
    out.expect_code(0);
    assert!(out.all().contains("already restored"), "{}", out.all());
}

#[test]
fn restore_refuses_a_non_empty_target_unless_on_existing_clean() {
    let (source, target) = pair(500);
    target.sql(
        "shopdb",
        "CREATE TABLE public.leftover (id int); INSERT INTO public.leftover VALUES (1)",
    );
    let sandbox = Sandbox::new();
    let (s, t) = (source.url("shopdb"), target.url("shopdb"));
    let vars = [("source", s.as_str()), ("target", t.as_str())];
    sandbox.write(
        "snap.yaml",
        &playbook("snap", &vars, &snapshot_step("shop.dump")),
    );
    sandbox.run(&["run", "snap.yaml"]).expect_code(0);

    sandbox.write(
        "refuse.yaml",
        &playbook("restore", &vars, &restore_step("shop.dump", "")),
    );
    let out = sandbox.run(&["run", "refuse.yaml"]);
    out.expect_code(3);
    let all = out.all();
    assert!(all.contains("is not empty"), "{all}");
    assert!(all.contains("table public.leftover"), "{all}");
    assert!(all.contains("on_existing: clean"), "{all}");
    assert_eq!(
        target.sql("shopdb", "SELECT count(*) FROM public.leftover"),
        "1"
    );

    // Half a restore of other data in the way: `clean` drops the archive's objects first.
    target.sql(
        "shopdb",
        &pg_seed::schema().replace("CREATE ROLE", "-- CREATE ROLE"),
    );
    target.sql("shopdb", "INSERT INTO public.wide VALUES (999999, 'stale')");
    sandbox.write(
        "clean.yaml",
        &playbook(
            "restore",
            &vars,
            &format!(
                "{}{VERIFY}",
                restore_step("shop.dump", ", on_existing: clean")
            ),
        ),
    );
    sandbox.run(&["run", "clean.yaml"]).expect_code(0);
    assert_eq!(
        target.sql(
            "shopdb",
            "SELECT count(*) FROM public.wide WHERE id = 999999"
        ),
        "0"
    );
    assert_eq!(
        target.sql("shopdb", "SELECT count(*) FROM public.leftover"),
        "1",
        "objects not in the archive are left alone"
    );
}

#[test]
fn a_failed_snapshot_leaves_the_previous_archive_untouched() {
    let source = Cluster::start();
    source.create_db("shopdb");
    pg_seed::seed(&source, "shopdb", 100);
    // A role that may connect but not read every table: pg_dump fails.
    source.sql("shopdb", "CREATE ROLE clerk LOGIN; GRANT USAGE ON SCHEMA shop TO clerk; GRANT SELECT ON shop.orders TO clerk");
    let sandbox = Sandbox::new();
    sandbox.write("shop.dump", "the archive of last week");
    let url = format!("postgres://clerk@127.0.0.1:{}/shopdb", source.port);
    sandbox.write(
        "pb.yaml",
        &playbook("snap", &[("source", &url)], &snapshot_step("shop.dump")),
    );
    let out = sandbox.run(&["run", "pb.yaml"]);
    out.expect_code(3);
    assert!(out.all().contains("permission denied"), "{}", out.all());
    assert_eq!(sandbox.read("shop.dump"), "the archive of last week");
    assert!(
        !sandbox.path().join(".shop.dump.partial").exists(),
        "the partial archive was removed"
    );
}
