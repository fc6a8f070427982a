//! The reference RDS playbooks, run as they are against `moto_server`, with
//! the smoke query, the prewarm and the write freeze pointed at a throwaway
//! local PostgreSQL (moto has no database behind its instances), CloudWatch
//! fed by the test with `put_metric_data`, and the traffic switch a command
//! that leaves a mark.

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

/// Healthy figures for `instance`, put again every second while it lives (a
/// guard only counts recent datapoints; `rds.promote` only ones from after
/// its check began).
struct Feeder {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Feeder {
    fn start(moto: &Moto, instances: &[&str]) -> Feeder {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let port = moto.port;
        let instances: Vec<String> = instances.iter().map(|i| i.to_string()).collect();
        let flag = stop.clone();
        let feed = move |instances: &[String]| {
            let moto = Moto::attach(port);
            for instance in instances {
                for (metric, value) in [
                    ("CPUUtilization", 12.0),
                    ("DatabaseConnections", 40.0),
                    ("FreeableMemory", 8.0e9),
                    ("ReplicaLag", 0.0),
                ] {
                    moto.put_rds_metric(instance, metric, value, 0);
                }
            }
        };
        // The first figures are there before the run starts.
        feed(&instances);
        let thread = std::thread::spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                std::thread::sleep(std::time::Duration::from_secs(1));
                feed(&instances);
            }
        });
        Feeder {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Feeder {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn the_snapshot_restore_playbook_runs_against_moto() {
    let moto = Moto::start();
    moto.create_instance("orders", "db.m5.large", 100);
    let pg = Cluster::start();
    let sandbox = Sandbox::new();
    let _feeder = Feeder::start(&moto, &["orders-next", "orders-rehearsal"]);
    let vars = [
        ("RDS_INSTANCE", "orders".to_string()),
        ("RDS_SNAPSHOT", "orders-before-scale".to_string()),
        ("RDS_TARGET", "orders-next".to_string()),
        ("RDS_TARGET_CLASS", "db.r6g.xlarge".to_string()),
        ("TARGET_CHECK_URL", pg.url("postgres")),
        ("SWITCH_TRAFFIC", "echo orders-next > switched".to_string()),
        ("SOAK_FOR", "2s".to_string()),
    ];
    let path = playbook(&sandbox, "rds-snapshot-restore.yaml");
    let (code, all) = run(&sandbox, &moto, &["run", &path], &vars);
    assert_eq!(code, 0, "{all}");
    assert_eq!(sandbox.read("switched").trim(), "orders-next", "{all}");
    assert!(all.contains("step `prewarm`"), "{all}");
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
    pg.sql("postgres", "CREATE ROLE shop_app LOGIN");
    let sandbox = Sandbox::new();
    let _feeder = Feeder::start(&moto, &["orders-next"]);
    let vars = [
        ("RDS_SOURCE", "orders".to_string()),
        ("RDS_REPLICA", "orders-next".to_string()),
        ("RDS_REPLICA_CLASS", "db.m5.2xlarge".to_string()),
        ("TARGET_CHECK_URL", pg.url("postgres")),
        ("SOURCE_URL", pg.url("postgres")),
        ("APP_ROLE", "shop_app".to_string()),
        ("SWITCH_TRAFFIC", "echo orders-next > switched".to_string()),
        ("SOAK_FOR", "2s".to_string()),
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
    assert!(all.contains("caught up: ReplicaLag 0 s"), "{all}");
    assert_eq!(sandbox.read("switched").trim(), "orders-next");
    // The source's application role stays frozen: the move is done.
    assert_eq!(
        pg.sql(
            "postgres",
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'shop_app'"
        ),
        "f"
    );
}

#[test]
fn the_blue_green_playbook_runs_against_moto() {
    let moto = Moto::start();
    moto.create_instance("orders", "db.m5.large", 100);
    let pg = Cluster::start();
    let sandbox = Sandbox::new();
    let _feeder = Feeder::start(&moto, &["orders"]);
    let vars = [
        ("RDS_INSTANCE", "orders".to_string()),
        ("RDS_BLUE_GREEN", "orders-bigger".to_string()),
        ("RDS_TARGET_CLASS", "db.m5.2xlarge".to_string()),
        ("GREEN_URL", pg.url("postgres")),
        ("APP_URL", pg.url("postgres")),
        ("SOAK_FOR", "2s".to_string()),
    ];
    let path = playbook(&sandbox, "rds-blue-green.yaml");
    let (code, all) = run(
        &sandbox,
        &moto,
        &[
            "run",
            "--approve",
            "go-ahead",
            "--approve",
            "delete-old",
            &path,
        ],
        &vars,
    );
    assert_eq!(code, 0, "{all}");
    // The green copy serves under the blue's name in the bigger class; the
    // old instance and the deployment are gone.
    let serving = moto.instance("orders").expect("orders");
    assert_eq!(serving["DBInstanceClass"], "db.m5.2xlarge", "{all}");
    assert_eq!(moto.instance_ids(), ["orders"]);

    // A rehearsal that fails before the switchover deletes the green copy.
    let sandbox = Sandbox::new();
    let path = playbook(&sandbox, "rds-blue-green.yaml");
    let mut vars = vars.to_vec();
    vars.push(("RDS_BLUE_GREEN", "orders-rehearsal".to_string()));
    let (code, all) = run(
        &sandbox,
        &moto,
        &["run", "--rehearsal", "--fail-at", "keeps-up", &path],
        &vars,
    );
    assert_eq!(code, 3, "{all}");
    assert_eq!(moto.instance_ids(), ["orders"], "{all}");
}
