//! The small PostgreSQL actions against real throwaway clusters: read_only /
//! read_write (and that the freeze holds), verify, sync_sequences,
//! compare_settings, and connection errors.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::pg_cluster::{client_bin, dump_into, playbook, Cluster, ClusterOptions, ROLE_PASSWORD};
use crate::pg_seed::{self, APP_ROLE};
use crate::support::Sandbox;

#[test]
fn the_harness_starts_a_seeded_cluster() {
    let started = Instant::now();
    let cluster = Cluster::start();
    let boot = started.elapsed();
    cluster.create_db("shopdb");
    pg_seed::seed(&cluster, "shopdb", 1000);
    let counts = pg_seed::counts(&cluster, "shopdb");
    assert!(counts.contains("shop.customers 1000"), "{counts}");
    assert_eq!(cluster.sql("postgres", "SHOW wal_level"), "logical");
    eprintln!(
        "cluster up in {boot:?}, seeded in {:?}",
        started.elapsed() - boot
    );
}

#[test]
fn a_freeze_holds_against_the_application_role_and_the_thaw_undoes_it() {
    let cluster = Cluster::start();
    cluster.create_db("shopdb");
    pg_seed::seed(&cluster, "shopdb", 100);
    let insert =
        "BEGIN READ WRITE; INSERT INTO shop.events (at, kind) VALUES (now(), 'probe'); COMMIT;";
    cluster
        .try_sql(APP_ROLE, "shopdb", insert)
        .expect("the app writes before the freeze");
    // A session of the application that is open when the freeze comes.
    let mut open_session = Command::new(client_bin("psql"))
        .args(["-X", "-h", "127.0.0.1", "-p", &cluster.port.to_string()])
        .args(["-U", APP_ROLE, "-d", "shopdb", "-c", "SELECT pg_sleep(30)"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(|| {
        cluster.sql(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'",
        ) == "1"
    });

    let sandbox = Sandbox::new();
    let url = cluster.url("shopdb");
    sandbox.write(
        "freeze.yaml",
        &playbook(
            "freeze",
            &[("db", &url)],
            &format!(
                "  - id: freeze\n    action: postgres.read_only\n    with: {{ url: \"${{{{ vars.db }}}}\", roles: [{APP_ROLE}] }}\n"
            ),
        ),
    );
    let started = Instant::now();
    sandbox.run(&["run", "freeze.yaml"]).expect_code(0);
    eprintln!(
        "freeze took {:?} (with the cutover process)",
        started.elapsed()
    );

    let status = open_session.wait().unwrap();
    assert!(!status.success(), "the open session was ended");
    let refused = cluster
        .try_sql(APP_ROLE, "shopdb", insert)
        .expect_err("the app cannot write after the freeze");
    assert!(refused.contains("not permitted to log in"), "{refused}");
    let plain = cluster
        .try_sql(
            "postgres",
            "shopdb",
            "INSERT INTO shop.events (at) VALUES (now())",
        )
        .expect_err("other sessions are read-only by default");
    assert!(plain.contains("read-only transaction"), "{plain}");

    sandbox.write(
        "thaw.yaml",
        &playbook(
            "thaw",
            &[("db", &url)],
            "  - id: thaw\n    action: postgres.read_write\n    with: { url: \"${{ vars.db }}\" }\n",
        ),
    );
    sandbox.run(&["run", "thaw.yaml"]).expect_code(0);
    cluster
        .try_sql(APP_ROLE, "shopdb", insert)
        .expect("the app writes again after the thaw");
    cluster
        .try_sql(
            "postgres",
            "shopdb",
            "INSERT INTO shop.events (at) VALUES (now())",
        )
        .expect("the read-only default is gone");
    assert_eq!(
        cluster.sql(
            "postgres",
            "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = 'shopdb'"
        ),
        "0",
        "no setting is left behind"
    );
}

#[test]
fn a_failed_step_after_a_freeze_rolls_it_back() {
    let cluster = Cluster::start();
    cluster.create_db("shopdb");
    pg_seed::seed(&cluster, "shopdb", 10);
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &playbook(
            "freeze-then-fail",
            &[("db", &cluster.url("shopdb"))],
            &format!(
                "  - id: freeze\n    action: postgres.read_only\n    with: {{ url: \"${{{{ vars.db }}}}\", roles: [{APP_ROLE}] }}\n  - id: boom\n    action: shell\n    with: {{ run: exit 1 }}\n"
            ),
        ),
    );
    sandbox.run(&["run", "pb.yaml"]).expect_code(3);
    cluster
        .try_sql(
            APP_ROLE,
            "shopdb",
            "INSERT INTO shop.events (at) VALUES (now())",
        )
        .expect("the implied rollback thawed the database");
}

fn verify_playbook(source: &str, target: &str, mode: &str) -> String {
    playbook(
        "verify",
        &[("source", source), ("target", target)],
        &format!(
            "  - id: verify\n    action: postgres.verify\n    with: {{ source: \"${{{{ vars.source }}}}\", target: \"${{{{ vars.target }}}}\", mode: {mode} }}\n"
        ),
    )
}

#[test]
fn verify_passes_on_equal_databases_and_names_each_table_that_differs() {
    let (source, target) = (Cluster::start(), Cluster::start());
    source.create_db("shopdb");
    target.create_db("shopdb");
    pg_seed::seed(&source, "shopdb", 2000);
    pg_seed::roles(&target);
    dump_into(&source, &target, "shopdb");
    let sandbox = Sandbox::new();
    let (s, t) = (source.url("shopdb"), target.url("shopdb"));
    sandbox.write("counts.yaml", &verify_playbook(&s, &t, "counts"));
    sandbox.write("checksum.yaml", &verify_playbook(&s, &t, "checksum"));
    sandbox.run(&["run", "counts.yaml"]).expect_code(0);
    let started = Instant::now();
    sandbox.run(&["run", "checksum.yaml"]).expect_code(0);
    eprintln!("checksum verify took {:?}", started.elapsed());

    // Same number of rows, one value changed: only the checksum sees it.
    target.sql(
        "shopdb",
        "UPDATE shop.customers SET name = name || '!' WHERE id = (SELECT min(id) FROM shop.customers)",
    );
    sandbox.run(&["run", "counts.yaml"]).expect_code(0);
    let out = sandbox.run(&["run", "checksum.yaml"]);
    out.expect_code(3);
    assert!(
        out.all()
            .contains("shop.customers: 2000 rows on both, but their contents differ"),
        "{}",
        out.all()
    );
    target.sql("shopdb", "DELETE FROM shop.measurements_2023 WHERE id IN (SELECT id FROM shop.measurements_2023 LIMIT 3)");
    let out = sandbox.run(&["run", "counts.yaml"]);
    out.expect_code(3);
    let all = out.all();
    assert!(all.contains("shop.measurements_2023:"), "{all}");
    assert!(
        !all.contains("differs  shop.customers"),
        "counts do not see the change: {all}"
    );
}

#[test]
fn sync_sequences_sets_every_target_sequence() {
    let (source, target) = (Cluster::start(), Cluster::start());
    source.create_db("shopdb");
    target.create_db("shopdb");
    pg_seed::seed(&source, "shopdb", 50);
    pg_seed::roles(&target);
    dump_into(&source, &target, "shopdb");
    source.sql("shopdb", "SELECT nextval('public.invoice_numbers') FROM generate_series(1, 40); INSERT INTO shop.measurements (taken) VALUES ('2024-02-02');");
    target.sql("shopdb", "CREATE SEQUENCE public.unused_on_source");
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &playbook(
            "seq",
            &[("source", &source.url("shopdb")), ("target", &target.url("shopdb"))],
            "  - id: seq\n    action: postgres.sync_sequences\n    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\" }\n",
        ),
    );
    sandbox.run(&["run", "pb.yaml"]).expect_code(0);
    let values = "SELECT string_agg(format('%s.%s=%s', schemaname, sequencename, last_value), ' ' ORDER BY schemaname, sequencename) FROM pg_sequences WHERE sequencename <> 'unused_on_source'";
    assert_eq!(source.sql("shopdb", values), target.sql("shopdb", values));
    assert!(target
        .sql("shopdb", values)
        .contains("public.invoice_numbers=1046"));
}

#[test]
fn compare_settings_fails_side_by_side_where_the_target_is_smaller() {
    let source = Cluster::start();
    let target = Cluster::start_with(ClusterOptions {
        settings: vec![("shared_buffers", "16MB"), ("work_mem", "8MB")],
        ..ClusterOptions::default()
    });
    let sandbox = Sandbox::new();
    let steps = "  - id: compare\n    action: postgres.compare_settings\n    with: { source: \"${{ vars.a }}\", target: \"${{ vars.b }}\", keys: [max_wal_senders, server_encoding] }\n";
    sandbox.write(
        "smaller.yaml",
        &playbook(
            "cmp",
            &[
                ("a", &source.url("postgres")),
                ("b", &target.url("postgres")),
            ],
            steps,
        ),
    );
    sandbox.write(
        "bigger.yaml",
        &playbook(
            "cmp",
            &[
                ("a", &target.url("postgres")),
                ("b", &source.url("postgres")),
            ],
            steps,
        ),
    );
    let out = sandbox.run(&["run", "smaller.yaml"]);
    out.expect_code(3);
    let all = out.all();
    assert!(all.contains("shared_buffers"), "{all}");
    assert!(all.contains("32.0 MB") && all.contains("16.0 MB"), "{all}");
    assert!(all.contains("TARGET SMALLER: smaller"), "{all}");
    assert!(
        !all.contains("work_mem (smaller"),
        "a bigger work_mem is fine: {all}"
    );
    let out = sandbox.run(&["run", "bigger.yaml"]);
    out.expect_code(3); // work_mem 8MB → 4MB is smaller the other way round
    assert!(out.all().contains("work_mem (smaller"), "{}", out.all());
}

#[test]
fn connection_errors_are_clear_roll_back_and_never_show_the_password() {
    let cluster = Cluster::start_with(ClusterOptions {
        password_role: Some("owner"),
        ..ClusterOptions::default()
    });
    let wrong = "Wr0ng-Passw0rd-xyz";
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let sandbox = Sandbox::new();
    let steps = "  - id: marker\n    action: maintenance.file\n    with: { path: maint.on, state: on }\n  - id: freeze\n    action: postgres.read_only\n    with: { url: \"${{ vars.db }}\" }\n";
    sandbox.write(
        "wrong.yaml",
        &playbook(
            "wrong-pw",
            &[("db", &cluster.url_as("owner", wrong, "postgres"))],
            steps,
        ),
    );
    sandbox.write(
        "unreachable.yaml",
        &playbook(
            "unreachable",
            &[(
                "db",
                &format!("postgres://owner:{ROLE_PASSWORD}@127.0.0.1:{closed_port}/postgres"),
            )],
            steps,
        ),
    );
    sandbox.write(
        "right.yaml",
        &playbook(
            "right-pw",
            &[("db", &cluster.url_as("owner", ROLE_PASSWORD, "postgres"))],
            steps,
        ),
    );

    let out = sandbox.run(&["run", "wrong.yaml"]);
    out.expect_code(3);
    let all = out.all();
    assert!(
        all.contains(&format!(
            "failed to connect to owner@127.0.0.1:{}/postgres",
            cluster.port
        )),
        "{all}"
    );
    assert!(all.contains("password authentication failed"), "{all}");
    assert!(all.contains("28P01"), "{all}");
    assert!(!sandbox.path().join("maint.on").exists(), "rolled back");
    let journal = sandbox.journal_text(&sandbox.last_run());
    for text in [&all, &journal] {
        assert!(!text.contains(wrong), "the password leaked:\n{text}");
    }

    let out = sandbox.run(&["run", "unreachable.yaml"]);
    out.expect_code(3);
    let all = out.all();
    assert!(
        all.contains(&format!(
            "failed to connect to owner@127.0.0.1:{closed_port}/postgres"
        )),
        "{all}"
    );
    assert!(all.to_lowercase().contains("refused"), "{all}");
    assert!(!all.contains(ROLE_PASSWORD), "{all}");
    assert!(!sandbox.path().join("maint.on").exists(), "rolled back");

    sandbox.run(&["run", "right.yaml"]).expect_code(0);
}

fn wait_until(mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "condition never held");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sql_check_sees_a_freeze_as_the_application_would() {
    let cluster = Cluster::start();
    cluster.create_db("shopdb");
    pg_seed::seed(&cluster, "shopdb", 10);
    let sandbox = Sandbox::new();
    let url = cluster.url("shopdb");
    let check = "  - id: frozen\n    action: sql.check\n    with: { url: \"${{ vars.db }}\", query: \"SHOW default_transaction_read_only\", expect: \"on\" }\n";
    sandbox.write("check.yaml", &playbook("check", &[("db", &url)], check));
    sandbox.run(&["run", "check.yaml"]).expect_code(3);
    sandbox.write(
        "freeze.yaml",
        &playbook(
            "freeze-then-check",
            &[("db", &url)],
            &format!("  - id: freeze\n    action: postgres.read_only\n    with: {{ url: \"${{{{ vars.db }}}}\", roles: [{APP_ROLE}] }}\n    rollback: none\n{check}"),
        ),
    );
    sandbox.run(&["run", "freeze.yaml"]).expect_code(0);
}

/// Commits the application had acknowledged with `synchronous_commit = off`
/// can sit in WAL buffers (here for up to 10 s: `wal_writer_delay`) when the
/// freeze ends its sessions; the catch-up's goal must still cover them, or the
/// swap would leave them behind.
#[test]
fn a_catch_up_right_after_the_freeze_has_every_asynchronous_commit() {
    let source = Cluster::start_with(ClusterOptions {
        settings: vec![("wal_writer_delay", "10000ms")],
        ..ClusterOptions::default()
    });
    let target = Cluster::start();
    source.create_db("shopdb");
    target.create_db("shopdb");
    pg_seed::seed(&source, "shopdb", 100);
    pg_seed::roles(&target);
    source.sql(
        "shopdb",
        &format!("CREATE TABLE late (id int PRIMARY KEY); GRANT INSERT ON late TO {APP_ROLE}"),
    );
    let (s, t) = (source.url("shopdb"), target.url("shopdb"));
    let app = format!("postgres://{APP_ROLE}@127.0.0.1:{}/shopdb", source.port);
    let steps = format!(
        "  - id: replicate
    action: postgres.replicate
    with: {{ source: \"${{{{ vars.s }}}}\", target: \"${{{{ vars.t }}}}\", replica_identity_full: true }}
  - id: last-writes
    action: shell
    with: {{ run: \"{} -X -q -c 'SET synchronous_commit = off' -c 'INSERT INTO late SELECT generate_series(1, 500)' '{app}'\" }}
  - id: freeze
    action: postgres.read_only
    with: {{ url: \"${{{{ vars.s }}}}\", roles: [{APP_ROLE}] }}
  - id: catch-up
    action: postgres.catch_up
    with: {{ source: \"${{{{ vars.s }}}}\", target: \"${{{{ vars.t }}}}\", timeout: 30s }}
  - id: verify
    action: postgres.verify
    with: {{ source: \"${{{{ vars.s }}}}\", target: \"${{{{ vars.t }}}}\", mode: counts }}
",
        client_bin("psql").display()
    );
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &playbook("async", &[("s", &s), ("t", &t)], &steps),
    );
    let out = sandbox.run(&["run", "pb.yaml"]);
    out.expect_code(0);
    assert_eq!(target.sql("shopdb", "SELECT count(*) FROM late"), "500");
    // And at once: the freeze flushed them, the catch-up did not wait for
    // the WAL writer (10 s here) with writes frozen.
    let waited = sandbox
        .journal(&sandbox.last_run())
        .into_iter()
        .find(|r| r["event"] == "step_finished" && r["step"] == "catch-up")
        .expect("catch-up finished")["data"]["applied"]["waited_ms"]
        .as_u64()
        .unwrap();
    assert!(
        waited < 5000,
        "the catch-up waited {waited} ms for the WAL writer"
    );
}
