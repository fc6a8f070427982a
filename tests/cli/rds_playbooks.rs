//! The reference RDS playbooks, run as they are against `moto_server`, with
//! the smoke query pointed at a throwaway local PostgreSQL (moto has no
//! database behind its instances).

use std::path::Path;

use crate::moto::{Moto, SECRET};
use crate::pg_cluster::Cluster;
use crate::support::Sandbox;

/// The reference playbook copied into the sandbox, so its state dir (beside
/// the playbook) is the sandbox's.
fn playbook(sandbox: &Sandbox, name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("playbooks")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("reference playbook");
    sandbox.write(name, &text);
    name.to_string()
}

fn run(sandbox: &Sandbox, moto: &Moto, args: &[&str], vars: &[(&str, String)]) -> (i32, String) {
    let mut env = moto.env();
    env.extend(vars.iter().cloned());
    let mut command = sandbox.command(args);
    command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    let output = command.output().expect("run cutover");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!all.contains(SECRET));
    for id in sandbox.run_ids() {
        assert!(!sandbox.journal_text(&id).contains(SECRET));
    }
    (output.status.code().unwrap_or(-1), all)
}

#[test]
fn the_snapshot_restore_playbook_runs_against_moto() {
    let moto = Moto::start();
    moto.create_instance("orders", "db.m5.large", 100);
    let pg = Cluster::start();
    let sandbox = Sandbox::new();
    let vars = [
        ("RDS_INSTANCE", "orders".to_string()),
        ("RDS_SNAPSHOT", "orders-before-scale".to_string()),
        ("RDS_TARGET", "orders-next".to_string()),
        ("RDS_TARGET_CLASS", "db.r6g.xlarge".to_string()),
        ("TARGET_CHECK_URL", pg.url("postgres")),
    ];
    let path = playbook(&sandbox, "rds-snapshot-restore.yaml");
    let (code, all) = run(&sandbox, &moto, &["run", &path], &vars);
    assert_eq!(code, 0, "{all}");
    assert_eq!(moto.snapshots(), ["orders-before-scale"]);
    let next = moto.instance("orders-next").expect("restored");
    assert_eq!(next["DBInstanceClass"], "db.r6g.xlarge");

    // --fail-at in a rehearsal: the restore is undone, the snapshot kept.
    let sandbox = Sandbox::new();
    let path = playbook(&sandbox, "rds-snapshot-restore.yaml");
    // Later entries win: a new target and snapshot id.
    let mut vars = vars.to_vec();
    vars.push(("RDS_TARGET", "orders-rehearsal".to_string()));
    vars.push(("RDS_SNAPSHOT", "orders-rehearsal-snap".to_string()));
    let (code, all) = run(
        &sandbox,
        &moto,
        &["run", "--rehearsal", "--fail-at", "smoke", &path],
        &vars,
    );
    assert_eq!(code, 3, "{all}");
    assert!(moto.instance("orders-rehearsal").is_none(), "{all}");
    assert!(moto
        .snapshots()
        .contains(&"orders-rehearsal-snap".to_string()));
}

#[test]
fn the_read_replica_playbook_runs_against_moto() {
    let moto = Moto::start();
    moto.create_instance("orders", "db.m5.large", 100);
    let pg = Cluster::start();
    let sandbox = Sandbox::new();
    let vars = [
        ("RDS_SOURCE", "orders".to_string()),
        ("RDS_REPLICA", "orders-next".to_string()),
        ("RDS_REPLICA_CLASS", "db.m5.2xlarge".to_string()),
        ("TARGET_CHECK_URL", pg.url("postgres")),
    ];
    let path = playbook(&sandbox, "rds-read-replica-promote.yaml");
    let (code, all) = run(
        &sandbox,
        &moto,
        &["run", "--approve", "go-ahead", &path],
        &vars,
    );
    assert_eq!(code, 0, "{all}");
    let next = moto.instance("orders-next").expect("replica");
    assert_eq!(next["DBInstanceClass"], "db.m5.2xlarge");
}
