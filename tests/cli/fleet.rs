//! A team and a fleet: two cutover processes with their own working
//! directories, `HOME`s and host lock directories — two operators on two
//! hosts — share one state store, a real throwaway PostgreSQL. Locks there
//! refuse the second operator and free themselves when the holder dies; runs,
//! journals and approvals written by one are read, verified and resumed by
//! the other; the store going away stops a run before an unjournaled step.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::pg_cluster::{Cluster, ClusterOptions, ROLE_PASSWORD};
use crate::support::{Output, Sandbox};

/// The store: its own cluster, a database owned by a role that is no
/// superuser (what `docs/fleet.md` asks an operator to create), reached
/// with a password.
struct Store {
    cluster: Cluster,
    url: String,
}

impl Store {
    fn start() -> Store {
        let cluster = Cluster::start_with(ClusterOptions {
            password_role: Some("keeper"),
            ..Default::default()
        });
        cluster.sql(
            "postgres",
            "ALTER ROLE keeper NOSUPERUSER; CREATE DATABASE cutover_state OWNER keeper",
        );
        let url = cluster.url_as("keeper", ROLE_PASSWORD, "cutover_state");
        Store { cluster, url }
    }

    fn sql(&self, sql: &str) -> String {
        self.cluster.sql("cutover_state", sql)
    }
}

/// One operator's machine: a directory, a `HOME`, host-wide locks of its own.
struct Host {
    sandbox: Sandbox,
    operator: &'static str,
    url: String,
}

impl Host {
    fn new(store: &Store, operator: &'static str) -> Host {
        Host {
            sandbox: Sandbox::new(),
            operator,
            url: store.url.clone(),
        }
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut command = self.sandbox.command(args);
        command
            .env("HOME", self.sandbox.path().join("home"))
            .env_remove("XDG_CACHE_HOME")
            .env("CUTOVER_STATE", &self.url)
            .env("USER", self.operator);
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        let output = self.command(args).output().expect("run cutover");
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cutover")
    }
}

/// `name`, whose first step waits for the file `go` in `gate_dir` and whose
/// second touches `second` there.
fn playbook(name: &str, gate_dir: &std::path::Path) -> String {
    let dir = gate_dir.display();
    format!(
        "name: {name}\nsteps:\n  - id: wait-for-go\n    action: shell\n    idempotent: true\n    timeout: 1m\n    with: {{ run: \"touch {dir}/started; while [ ! -e {dir}/go ]; do sleep 0.05; done\" }}\n  - id: second\n    action: shell\n    with: {{ run: \"touch {dir}/second\" }}\n"
    )
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[track_caller]
fn finished(child: Child) -> Output {
    let output = child.wait_with_output().unwrap();
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The run ids `audit list` shows, oldest first.
fn listed(host: &Host) -> Vec<String> {
    let out = host.run(&["audit", "list", "--output", "json"]);
    out.expect_code(0);
    out.stdout
        .lines()
        .map(|line| {
            let run: serde_json::Value = serde_json::from_str(line).unwrap();
            run["run_id"].as_str().unwrap().to_string()
        })
        .collect()
}

fn initialized() -> Store {
    let store = Store::start();
    let host = Host::new(&store, "admin");
    host.run(&["state", "init"]).expect_code(0);
    store
}

/// A set-up store, alice's and bob's hosts, and the directory the gate
/// playbook of `name` waits in, written on alice's host (on both with `both`).
fn alice_and_bob(name: &str, both: bool) -> (Store, Host, Host, tempfile::TempDir) {
    let store = initialized();
    let (alice, bob) = (Host::new(&store, "alice"), Host::new(&store, "bob"));
    let gate = tempfile::tempdir().unwrap();
    alice.sandbox.write("pb.yaml", &playbook(name, gate.path()));
    if both {
        bob.sandbox.write("pb.yaml", &playbook(name, gate.path()));
    }
    (store, alice, bob, gate)
}

#[test]
fn a_second_operator_on_another_host_is_refused_while_the_first_runs_then_succeeds() {
    let (store, alice, bob, gate) = alice_and_bob("move-orders", true);

    let first = alice.spawn(&["run", "pb.yaml"]);
    wait_for("alice's first step", Duration::from_secs(20), || {
        gate.path().join("started").exists()
    });
    let refused = bob.run(&["run", "pb.yaml"]);
    refused.expect_code(5);
    let said = refused.all();
    assert!(
        said.contains("playbook `move-orders` is locked by another run")
            && said.contains("by alice on")
            && said.contains("since")
            && said.contains("heartbeat"),
        "the refusal names the holder, host and since when: {said}"
    );
    assert!(!said.contains(ROLE_PASSWORD), "{said}");
    // The run in progress, seen from bob's host.
    let status = bob.run(&["status", "--output", "json"]);
    status.expect_code(0);
    let live: serde_json::Value = serde_json::from_str(status.stdout.trim()).unwrap();
    assert_eq!(live["state"], "running", "{}", status.stdout);
    assert_eq!(live["operator"], "alice");
    assert_eq!(live["step"], "wait-for-go");

    std::fs::write(gate.path().join("go"), "").unwrap();
    finished(first).expect_code(0);
    std::fs::remove_file(gate.path().join("second")).unwrap();
    bob.run(&["run", "pb.yaml"]).expect_code(0);
    assert!(gate.path().join("second").exists(), "bob's run did not run");

    // Both runs, from either host, verified on the rows read back.
    let runs = listed(&bob);
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(listed(&alice), runs);
    for run in &runs {
        let out = alice.run(&["audit", "verify", run]);
        out.expect_code(0);
        assert!(out.all().contains("hash chain verifies"), "{}", out.all());
    }
    let rows: usize = store
        .sql("SELECT count(*) FROM cutover.events")
        .parse()
        .unwrap();
    assert!(rows >= 12, "one row per journal line, got {rows}");
    let stored = store.sql("SELECT string_agg(line, ' ') FROM cutover.events");
    assert!(!stored.contains(ROLE_PASSWORD));

    // An edited row is caught: verify reads the rows, not a cached file.
    store.sql(&format!(
        "UPDATE cutover.events SET line = replace(line, 'wait-for-go', 'wait-for-GO') WHERE run_id = '{}' AND seq = 2",
        runs[0]
    ));
    let out = bob.run(&["audit", "verify", &runs[0]]);
    assert_ne!(out.code, 0, "an edited row verified: {}", out.all());
    assert!(out.all().contains("line 2"), "{}", out.all());
}

#[test]
fn kill_9_of_the_holder_frees_the_lock_at_once_and_another_host_resumes_the_run() {
    let (store, alice, bob, gate) = alice_and_bob("move-orders", false);

    let mut first = alice.spawn(&["run", "pb.yaml"]);
    wait_for("alice's first step", Duration::from_secs(20), || {
        gate.path().join("started").exists()
    });
    first.kill().unwrap();
    first.wait().unwrap();
    let killed_at = Instant::now();
    let run = listed(&bob)
        .pop()
        .expect("alice's run, seen from bob's host");

    std::fs::write(gate.path().join("go"), "").unwrap();
    let out = bob.run(&["resume", &run]);
    out.expect_code(0);
    assert!(
        killed_at.elapsed() < Duration::from_secs(10),
        "the lock was not free at once"
    );
    assert!(
        gate.path().join("second").exists(),
        "the resumed run did not finish"
    );
    // The resume from bob's host continued alice's chain in the store.
    let journal = store.sql(&format!(
        "SELECT string_agg(line, E'\\n' ORDER BY seq) FROM cutover.events WHERE run_id = '{run}'"
    ));
    assert!(journal.contains("\"event\":\"run_resumed\""), "{journal}");
    assert!(journal.contains("\"operator\":\"bob\""), "{journal}");
    alice.run(&["audit", "verify", &run]).expect_code(0);
    let shown = alice.run(&["audit", "show", &run]);
    assert!(shown.all().contains("done"), "{}", shown.all());
}

#[test]
fn a_two_person_gate_waits_for_a_second_operator_on_another_host() {
    let store = initialized();
    let (alice, bob) = (Host::new(&store, "alice"), Host::new(&store, "bob"));
    alice.sandbox.write(
        "pb.yaml",
        "name: two-person\nsteps:\n  - id: gate\n    action: approve\n    with: { text: \"Swap now?\", approvers: 2 }\n    timeout: 1m\n  - id: swap\n    action: shell\n    with: { run: \"touch swapped\" }\n",
    );
    let child = alice.spawn(&["run", "pb.yaml", "--approve", "gate"]);
    // Alice's own approval (`--approve`) is journaled: the gate waits for a second.
    wait_for("alice's approval", Duration::from_secs(20), || {
        store.sql("SELECT count(*) FROM cutover.events WHERE line LIKE '%\"approval\":{%'") == "1"
    });
    let run = listed(&bob)
        .pop()
        .expect("alice's run, seen from bob's host");
    let twice = bob.run(&["approve", &run, "gate", "--operator", "alice"]);
    twice.expect_code(5);
    assert!(
        twice.all().contains("approved `gate` already"),
        "{}",
        twice.all()
    );
    assert!(!alice.sandbox.path().join("swapped").exists());
    bob.run(&["approve", &run, "gate", "--operator", "bob"])
        .expect_code(0);
    // Bob again: refused — as a second approval of his, or because the gate
    // his first one opened is passed already.
    let again = bob.run(&["approve", &run, "gate", "--operator", "bob"]);
    assert!(matches!(again.code, 2 | 5), "{}", again.all());
    finished(child).expect_code(0);
    assert!(alice.sandbox.path().join("swapped").exists());
    let journal = store.sql(&format!(
        "SELECT string_agg(line, E'\\n' ORDER BY seq) FROM cutover.events WHERE run_id = '{run}'"
    ));
    assert!(
        journal.contains("\"operator\":\"bob\"") && journal.contains("`cutover approve` on"),
        "bob's approval is journaled with who and where: {journal}"
    );
}

#[test]
fn the_store_going_away_mid_run_stops_the_run_before_its_next_step() {
    let mut store = initialized();
    let alice = Host::new(&store, "alice");
    let gate = tempfile::tempdir().unwrap();
    alice
        .sandbox
        .write("pb.yaml", &playbook("move-orders", gate.path()));
    let child = alice.spawn(&["run", "pb.yaml"]);
    wait_for("the first step", Duration::from_secs(20), || {
        gate.path().join("started").exists()
    });
    store.cluster.stop();
    std::fs::write(gate.path().join("go"), "").unwrap();
    let out = finished(child);
    assert_ne!(out.code, 0, "{}", out.all());
    assert!(out.all().contains("state store"), "{}", out.all());
    assert!(!out.all().contains(ROLE_PASSWORD), "{}", out.all());
    assert!(
        !gate.path().join("second").exists(),
        "a step ran that the store never journaled"
    );
    // What the store holds ends before the second step, and the run resumes
    // from it once the store is back.
    store.cluster.start_again();
    let run = listed(&alice).pop().unwrap();
    let journal = store.sql(&format!(
        "SELECT string_agg(line, E'\\n' ORDER BY seq) FROM cutover.events WHERE run_id = '{run}'"
    ));
    assert!(!journal.contains("\"step\":\"second\""), "{journal}");
    alice.run(&["resume", &run]).expect_code(0);
    assert!(gate.path().join("second").exists());
}

#[test]
fn the_store_is_set_up_and_migrated_by_cutover_and_refused_until_it_is() {
    let store = Store::start();
    let alice = Host::new(&store, "alice");
    alice.sandbox.write(
        "pb.yaml",
        "name: tiny\nsteps:\n  - id: one\n    action: wait\n    with: { duration: 10ms }\n",
    );
    let out = alice.run(&["run", "pb.yaml"]);
    out.expect_code(1);
    assert!(out.all().contains("cutover state init"), "{}", out.all());
    assert!(!out.all().contains(ROLE_PASSWORD), "{}", out.all());
    alice.run(&["state", "init"]).expect_code(0);
    let again = alice.run(&["state", "migrate"]);
    again.expect_code(0);
    assert!(again.all().contains("up to date"), "{}", again.all());

    // A store left at version 1 by an older cutover.
    store.sql("DROP TABLE cutover.approvals, cutover.locks; DELETE FROM cutover.schema_version WHERE version = 2");
    let out = alice.run(&["run", "pb.yaml"]);
    out.expect_code(1);
    assert!(out.all().contains("cutover state migrate"), "{}", out.all());
    let migrated = alice.run(&["state", "migrate"]);
    migrated.expect_code(0);
    assert!(
        migrated.all().contains("from schema version 1 to 2"),
        "{}",
        migrated.all()
    );
    alice.run(&["run", "pb.yaml"]).expect_code(0);
    assert_eq!(listed(&alice).len(), 1);
}

#[test]
fn two_playbooks_that_drive_the_same_database_from_two_hosts_never_run_at_once() {
    let store = initialized();
    let (alice, bob) = (Host::new(&store, "alice"), Host::new(&store, "bob"));
    store.cluster.create_db("orders");
    let orders = store.cluster.url("orders");
    let gate = tempfile::tempdir().unwrap();
    let thaw = format!(
        "  - id: thaw\n    action: postgres.read_write\n    with: {{ url: \"{orders}\" }}\n"
    );
    alice.sandbox.write(
        "pb.yaml",
        &format!("{}{thaw}", playbook("wave-1-orders", gate.path())),
    );
    bob.sandbox
        .write("pb.yaml", &format!("name: wave-2-orders\nsteps:\n{thaw}"));
    let first = alice.spawn(&["run", "pb.yaml"]);
    wait_for("alice's first step", Duration::from_secs(20), || {
        gate.path().join("started").exists()
    });
    let refused = bob.run(&["run", "pb.yaml"]);
    refused.expect_code(5);
    assert!(
        refused.all().contains("is in use by another run") && refused.all().contains("/orders"),
        "the refusal names the database both drive: {}",
        refused.all()
    );
    std::fs::write(gate.path().join("go"), "").unwrap();
    finished(first).expect_code(0);
    bob.run(&["run", "pb.yaml"]).expect_code(0);
}

#[test]
fn a_wave_runs_one_playbook_with_a_vars_file_per_database_side_by_side() {
    let store = initialized();
    let (alice, bob) = (Host::new(&store, "alice"), Host::new(&store, "bob"));
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let wave = "name: wave\nvars:\n  dir: /nonexistent\nsteps:\n  - id: wait-for-go\n    action: shell\n    timeout: 1m\n    with: { run: \"touch ${{ vars.dir }}/started; while [ ! -e ${{ vars.dir }}/go ]; do sleep 0.05; done\" }\n";
    for host in [&alice, &bob] {
        host.sandbox.write("wave.yaml", wave);
        host.sandbox
            .write("one.yaml", &format!("dir: {}\n", one.path().display()));
        host.sandbox
            .write("two.yaml", &format!("dir: {}\n", two.path().display()));
    }
    let first = alice.spawn(&["run", "wave.yaml", "--vars", "one.yaml"]);
    wait_for("the first database's run", Duration::from_secs(20), || {
        one.path().join("started").exists()
    });
    // The same vars from another host: the same cutover, refused.
    let same = bob.run(&["run", "wave.yaml", "--vars", "one.yaml"]);
    same.expect_code(5);
    assert!(
        same.all().contains("with these vars is locked"),
        "{}",
        same.all()
    );
    // The next database of the wave runs beside it.
    std::fs::write(two.path().join("go"), "").unwrap();
    bob.run(&["run", "wave.yaml", "--vars", "two.yaml"])
        .expect_code(0);
    std::fs::write(one.path().join("go"), "").unwrap();
    finished(first).expect_code(0);
    assert_eq!(listed(&alice).len(), 2);
}

#[test]
fn a_run_killed_on_one_host_is_rolled_back_from_another() {
    let store = initialized();
    let (alice, bob) = (Host::new(&store, "alice"), Host::new(&store, "bob"));
    let gate = tempfile::tempdir().unwrap();
    let dir = gate.path().display();
    alice.sandbox.write(
        "pb.yaml",
        &format!(
            "name: undo-me\nsteps:\n  - id: make\n    action: shell\n    with: {{ run: \"touch {dir}/made\" }}\n    rollback:\n      action: shell\n      with: {{ run: \"rm {dir}/made\" }}\n  - id: hang\n    action: shell\n    idempotent: true\n    timeout: 1m\n    with: {{ run: \"touch {dir}/started; sleep 60\" }}\n"
        ),
    );
    let mut first = alice.spawn(&["run", "pb.yaml"]);
    wait_for("the hanging step", Duration::from_secs(20), || {
        gate.path().join("started").exists()
    });
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(gate.path().join("made").exists());
    let run = listed(&bob).pop().unwrap();
    let out = bob.run(&["rollback", &run]);
    out.expect_code(3);
    assert!(
        !gate.path().join("made").exists(),
        "the rollback from bob's host did not undo alice's step: {}",
        out.all()
    );
    let ended = alice.run(&["audit", "list", "--output", "json"]);
    assert!(ended.stdout.contains("rolled_back"), "{}", ended.stdout);
    alice.run(&["audit", "verify", &run]).expect_code(0);
}
