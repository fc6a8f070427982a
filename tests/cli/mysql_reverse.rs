//! `mysql.reverse_replicate` against throwaway MariaDB servers: after a
//! binlog cutover (replicate → freeze → catch up → forward replication
//! dropped), the new primary's writes flow back to the old one, which keeps
//! refusing the application; `mysql.catch_up` in reverse waits for them and,
//! with the reverse channel stopped, fails naming how far behind it is; the
//! implied rollback drops the channel. Also the refusals: the forward channel
//! still in place, a source that was never frozen, and the undo of a reverse
//! channel that could not start.

use crate::maria::Maria;
use crate::mysql_replicate::{dump, primaries, record_copy, repl_user, REPL_PASSWORD};
use crate::support::{Output, Sandbox};

const APP: (&str, &str) = ("app", "app-pass-123");

/// `old`/`new`: root on each; `repl_old`/`repl_new`: the replication account on each.
fn playbook(old: &Maria, new: &Maria, steps: &str) -> String {
    let repl = |server: &Maria| {
        format!(
            "mysql://repl:${{{{ secrets.REPL_PASSWORD }}}}@127.0.0.1:{}/shop",
            server.port
        )
    };
    format!(
        "name: mysql-reverse\nsecrets: [REPL_PASSWORD]\nvars:\n  old: \"{}\"\n  new: \"{}\"\n  repl_old: \"{}\"\n  repl_new: \"{}\"\nsteps:\n{steps}",
        old.url("shop"),
        new.url("shop"),
        repl(old),
        repl(new)
    )
}

const FORWARD: &str = "  - id: replicate
    action: mysql.replicate
    with: { source: \"${{ vars.repl_old }}\", target: \"${{ vars.new }}\" }
  - id: freeze
    action: mysql.read_only
    with: { url: \"${{ vars.old }}\" }
  - id: catch-up
    action: mysql.catch_up
    with: { source: \"${{ vars.repl_old }}\", target: \"${{ vars.new }}\", timeout: 1m }
";

const END_FORWARD: &str = "  - id: end-forward
    action: mysql.drop_replication
    with: { source: \"${{ vars.repl_old }}\", target: \"${{ vars.new }}\" }
";

const REVERSE: &str = "  - id: reverse
    action: mysql.reverse_replicate
    with: { source: \"${{ vars.old }}\", target: \"${{ vars.repl_new }}\" }
";

const CATCH_UP_BACK: &str = "  - id: catch-up-back
    action: mysql.catch_up
    with: { source: \"${{ vars.repl_new }}\", target: \"${{ vars.old }}\", channel: cutover_reverse, timeout: 1m }
";

const FAIL: &str = "  - id: boom\n    action: shell\n    with: { run: exit 1 }\n";

/// An old primary seeded with 100 orders, a new one loaded from its dump
/// with the position recorded, and the accounts.
fn old_and_new() -> (Maria, Maria, Sandbox) {
    let (old, new) = primaries();
    old.seed("shop", 100);
    accounts(&old, &new);
    let snapshot = dump(&old, &new, &["--databases", "shop"], true).unwrap();
    record_copy(&old, &new, Some(&snapshot), Some(&snapshot));
    (old, new, Sandbox::new())
}

/// The application's and the replication accounts on both servers (the
/// `mysql` schema is not replicated).
fn accounts(old: &Maria, new: &Maria) {
    for server in [old, new] {
        server.sql(
            "mysql",
            &format!(
                "CREATE USER {}@'%' IDENTIFIED BY '{}'; GRANT SELECT, INSERT, UPDATE, DELETE ON shop.* TO app@'%'",
                APP.0, APP.1
            ),
        );
        repl_user(server);
    }
    // The reverse step reads the new server's replica status (no loop).
    new.sql("mysql", "GRANT SLAVE MONITOR ON *.* TO repl@'%'");
}

fn run(sandbox: &Sandbox, old: &Maria, new: &Maria, steps: &str) -> Output {
    sandbox.write("pb.yaml", &playbook(old, new, steps));
    sandbox.run_with_env(&["run", "pb.yaml"], &[("REPL_PASSWORD", REPL_PASSWORD)])
}

fn channels(server: &Maria) -> String {
    server.sql("mysql", "SHOW ALL SLAVES STATUS")
}

fn app_writes(server: &Maria, sql: &str) -> Result<String, String> {
    server.try_sql(APP.0, APP.1, "shop", sql)
}

const CHANGED_ROWS: &str =
    "SELECT id, total, note FROM orders WHERE id IN (3, 4) OR id > 1000 ORDER BY id";

#[test]
fn reverse_replication_brings_the_new_primarys_writes_back_and_its_rollback_drops_it() {
    let (old, new, sandbox) = old_and_new();
    run(&sandbox, &old, &new, FORWARD).expect_code(0);

    // The forward channel is still on the new server: both ways would loop.
    let out = run(&sandbox, &old, &new, REVERSE);
    out.expect_code(3);
    let all = out.all();
    assert!(
        all.contains("still replicates (channel `cutover` from 127.0.0.1:"),
        "{all}"
    );
    assert!(all.contains("`mysql.drop_replication`"), "{all}");
    assert_eq!(channels(&old), "", "nothing was set up on the old server");

    let out = run(&sandbox, &old, &new, &format!("{END_FORWARD}{REVERSE}"));
    out.expect_code(0);
    let all = out.all();
    assert!(all.contains("by GTID"), "{all}");
    assert!(
        all.contains("the application stays locked out of root@127.0.0.1"),
        "{all}"
    );
    assert!(!all.contains(REPL_PASSWORD), "{all}");
    assert!(!sandbox
        .journal_text(&sandbox.last_run())
        .contains(REPL_PASSWORD));
    assert_eq!(channels(&new), "", "the forward channel is gone");

    // After the swap the application writes on the new primary…
    app_writes(
        &new,
        "INSERT INTO orders (id, total, note) VALUES (1001, 10.50, 'after the swap 1'), (1002, 20.25, 'after the swap 2');
         UPDATE orders SET note = 'changed after the swap' WHERE id = 3;
         DELETE FROM orders WHERE id = 4;",
    )
    .expect("the application writes on the new primary");
    // …and a go-back waits for the old one to have them.
    let out = run(
        &sandbox,
        &old,
        &new,
        &format!("{CATCH_UP_BACK}  - id: verify-back\n    action: mysql.verify\n    with: {{ source: \"${{{{ vars.new }}}}\", target: \"${{{{ vars.old }}}}\", mode: checksum }}\n"),
    );
    out.expect_code(0);
    assert!(out.all().contains("caught up"), "{}", out.all());
    let expected = "3\t3.75\tchanged after the swap\n1001\t10.50\tafter the swap 1\n1002\t20.25\tafter the swap 2";
    assert_eq!(old.sql("shop", CHANGED_ROWS), expected);
    assert_eq!(new.sql("shop", CHANGED_ROWS), expected);
    assert_eq!(old.sql("shop", "SELECT COUNT(*) FROM orders"), "101");
    // The old server still refuses the application.
    let refused = app_writes(&old, "INSERT INTO orders (total) VALUES (1)")
        .expect_err("the old primary stays frozen for the application");
    assert!(refused.contains("--read-only"), "{refused}");

    // The reverse channel breaks; more writes arrive on the new primary.
    old.sql("mysql", "STOP SLAVE 'cutover_reverse'");
    app_writes(
        &new,
        "INSERT INTO orders (id, total, note) VALUES (1003, 1, 'lost?');
         INSERT INTO orders (id, total, note) VALUES (1004, 1, 'lost?');
         INSERT INTO orders (id, total, note) VALUES (1005, 1, 'lost?');",
    )
    .unwrap();
    let out = run(&sandbox, &old, &new, CATCH_UP_BACK);
    out.expect_code(3);
    let all = out.all();
    assert!(
        all.contains("thread of channel `cutover_reverse` is stopped"),
        "{all}"
    );
    assert!(all.contains("of binary log behind binlog.000001:"), "{all}");
    assert!(all.contains("3 transaction(s) behind by GTID"), "{all}");
    assert!(all.contains("START SLAVE 'cutover_reverse'"), "{all}");

    // Run again (restarts it where it stopped, nothing applied twice), catch
    // up, then fail: the implied rollback drops the reverse channel.
    let out = run(
        &sandbox,
        &old,
        &new,
        &format!("{REVERSE}{CATCH_UP_BACK}{FAIL}"),
    );
    out.expect_code(3);
    let all = out.all();
    assert!(all.contains("restarting it where it stopped"), "{all}");
    assert!(all.contains("dropped channel cutover_reverse"), "{all}");
    assert_eq!(channels(&old), "", "the reverse channel is gone");
    assert_eq!(
        old.sql("shop", "SELECT COUNT(*) FROM orders WHERE note = 'lost?'"),
        "3"
    );
    assert_eq!(old.sql("mysql", "SELECT @@GLOBAL.read_only"), "1");
}

#[test]
fn reverse_replication_refuses_an_unfrozen_source_and_undoes_a_channel_that_cannot_start() {
    let (old, new, sandbox) = old_and_new();
    let out = run(&sandbox, &old, &new, REVERSE);
    out.expect_code(3);
    let all = out.all();
    assert!(all.contains("is not frozen (`read_only` is OFF)"), "{all}");
    assert!(all.contains("`mysql.read_only`"), "{all}");
    assert_eq!(channels(&old), "");

    // Frozen, but the old server cannot reach the new one: nothing listens on port 1.
    let unreachable = REVERSE.replace(
        "target: \"${{ vars.repl_new }}\" }",
        "target: \"${{ vars.repl_new }}\", target_address: \"127.0.0.1:1\" }",
    );
    let out = run(
        &sandbox,
        &old,
        &new,
        &format!("  - id: freeze\n    action: mysql.read_only\n    with: {{ url: \"${{{{ vars.old }}}}\" }}\n    rollback: none\n{unreachable}"),
    );
    out.expect_code(3);
    let all = out.all();
    assert!(all.contains("127.0.0.1:1"), "{all}");
    assert!(all.contains("`target_address`"), "{all}");
    assert!(!all.contains(REPL_PASSWORD), "{all}");
    assert_eq!(channels(&old), "", "no half-made channel stays");

    // A channel of that name that reads another server is not the undo's to drop.
    old.sql(
        "mysql",
        "CHANGE MASTER 'cutover_reverse' TO MASTER_HOST = '127.0.0.1', MASTER_PORT = 2, MASTER_USER = 'x'",
    );
    let out = run(
        &sandbox,
        &old,
        &new,
        "  - id: drop\n    action: mysql.drop_reverse_replication\n    with: { source: \"${{ vars.old }}\", target: \"${{ vars.repl_new }}\" }\n",
    );
    out.expect_code(0);
    assert!(out.all().contains("left alone"), "{}", out.all());
    assert!(channels(&old).contains("cutover_reverse"));
}

/// Recommended MariaDB settings on the old server: `gtid_strict_mode` with
/// `log_slave_updates`, its binary log further on in domain 0 than the new
/// server's own writes. It refuses the new server's GTID position as its
/// `gtid_slave_pos` (error 1947), so the reverse channel starts from the same
/// point by file and position, and the writes after the swap still arrive.
#[test]
fn a_strict_mode_old_server_replicates_back_from_the_same_point_by_file_and_position() {
    let starting = crate::mysql_replicate::START
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let old = Maria::start_with(&[
        "--log-bin=binlog",
        "--binlog-format=ROW",
        "--server-id=1",
        "--gtid-strict-mode=1",
        "--log-slave-updates",
    ]);
    let new = Maria::start_with(&["--log-bin=binlog", "--binlog-format=ROW", "--server-id=2"]);
    drop(starting);
    old.seed("shop", 10);
    // Many small transactions: the old server's domain 0 runs ahead of the new one's.
    old.sql("shop", &"INSERT INTO orders (total) VALUES (1);".repeat(40));
    accounts(&old, &new);
    let snapshot = dump(&old, &new, &["--databases", "shop"], true).unwrap();
    record_copy(&old, &new, Some(&snapshot), Some(&snapshot));
    let sandbox = Sandbox::new();
    run(&sandbox, &old, &new, FORWARD).expect_code(0);
    let out = run(&sandbox, &old, &new, &format!("{END_FORWARD}{REVERSE}"));
    out.expect_code(0);
    let all = out.all();
    assert!(
        all.contains("starting by file and position instead"),
        "{all}"
    );
    app_writes(
        &new,
        "INSERT INTO orders (id, total, note) VALUES (1001, 10.50, 'after the swap 1'); UPDATE orders SET note = 'changed after the swap' WHERE id = 3; DELETE FROM orders WHERE id = 4;",
    )
    .unwrap();
    run(&sandbox, &old, &new, CATCH_UP_BACK).expect_code(0);
    let expected = "3\t3.75\tchanged after the swap\n1001\t10.50\tafter the swap 1";
    assert_eq!(old.sql("shop", CHANGED_ROWS), expected);
    assert_eq!(
        old.sql("shop", "SELECT COUNT(*) FROM orders"),
        new.sql("shop", "SELECT COUNT(*) FROM orders")
    );
}

#[test]
fn reverse_catch_up_behind_a_conflicting_row_fails_with_the_replicas_error_and_the_lag() {
    let (old, new, sandbox) = old_and_new();
    run(
        &sandbox,
        &old,
        &new,
        &format!("{FORWARD}{END_FORWARD}{REVERSE}"),
    )
    .expect_code(0);
    // The old server diverges (an operator's fix, say): a row the new one then updates is gone there.
    old.sql("shop", "DELETE FROM orders WHERE id = 7");
    app_writes(
        &new,
        "UPDATE orders SET note = 'changed' WHERE id = 7; INSERT INTO orders (id, total) VALUES (1001, 1);",
    )
    .unwrap();
    let out = run(&sandbox, &old, &new, CATCH_UP_BACK);
    out.expect_code(3);
    let all = out.all();
    assert!(
        all.contains("the SQL thread of channel `cutover_reverse` stopped: "),
        "{all}"
    );
    assert!(all.contains("(error 1032); the replica is "), "{all}");
    assert!(all.contains("2 transaction(s) behind by GTID"), "{all}");
    assert_eq!(
        old.sql("shop", "SELECT COUNT(*) FROM orders WHERE id = 1001"),
        "0"
    );
}

#[test]
fn kill_9_while_reverse_replicate_starts_its_channel_then_rollback_removes_the_channel_it_noted() {
    use crate::support::kill9;
    use std::time::{Duration, Instant};
    let (old, new, sandbox) = old_and_new();
    run(&sandbox, &old, &new, &format!("{FORWARD}{END_FORWARD}")).expect_code(0);
    // The channel points at a listener that never answers: its IO thread
    // stays `Connecting`, and the step waits for it to run.
    let hung = crate::deadlines::hung_listener();
    let steps = REVERSE.replace(
        "target: \"${{ vars.repl_new }}\" }",
        &format!("target: \"${{{{ vars.repl_new }}}}\", target_address: \"127.0.0.1:{hung}\" }}"),
    );
    sandbox.write("pb.yaml", &playbook(&old, &new, &steps));
    let mut child = sandbox
        .command(&["run", "pb.yaml"])
        .env("REPL_PASSWORD", REPL_PASSWORD)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while channels(&old).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the channel was never configured"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    kill9(&mut child);
    assert!(
        channels(&old).contains("cutover_reverse"),
        "a channel is left by the kill"
    );
    let run = sandbox.last_run();
    assert!(
        sandbox
            .journal_text(&run)
            .contains(&format!("\"reverse_channel_address\":\"127.0.0.1:{hung}\"")),
        "the channel was noted before it was made"
    );
    let out = sandbox.run_with_env(&["rollback", &run], &[("REPL_PASSWORD", REPL_PASSWORD)]);
    out.expect_code(3);
    let all = out.all();
    assert!(all.contains("undone: `reverse`"), "{all}");
    assert!(!all.contains(REPL_PASSWORD), "{all}");
    assert_eq!(channels(&old), "");
    sandbox.run(&["audit", "verify", &run]).expect_code(0);
}

/// `plan` and a dry run of the MySQL reference playbook, no server involved:
/// the forward replication is replaced by reverse replication before the
/// swap, and `--fail-at soak` rehearses the go-back through it.
#[test]
fn the_mysql_reference_playbook_plans_its_reverse_replication_and_rehearses_its_go_back() {
    let sandbox = Sandbox::new();
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("playbooks/mysql-replica-cutover.yaml"),
    )
    .unwrap();
    sandbox.write("pb.yaml", &text);
    let flag = sandbox.path().join("maintenance.on").display().to_string();
    let env = [
        ("SOURCE_URL", "mysql://root@127.0.0.1:1/shop"),
        ("TARGET_URL", "mysql://root@127.0.0.1:2/shop"),
        ("APP_URL", "mysql://app@127.0.0.1:3/shop"),
        ("HAPROXY_SOCKET", "/nonexistent/haproxy.sock"),
        ("MAINTENANCE_FLAG", flag.as_str()),
        ("NEW_SERVER_ID", "2"),
        ("SOAK", "15m"),
    ];
    let plan = sandbox.run_with_env(&["plan", "pb.yaml"], &env);
    plan.expect_code(0);
    let all = plan.all();
    assert!(
        all.contains("`replicate`: replaced by reverse replication in `reverse`, before the swap"),
        "{all}"
    );
    assert!(
        all.contains("GO BACK: freeze-new → reverse-catch-up → thaw-old → swap-back → end-reverse"),
        "{all}"
    );
    let rehearsal =
        sandbox.run_with_env(&["run", "pb.yaml", "--dry-run", "--fail-at", "soak"], &env);
    rehearsal.expect_code(3);
    let all = rehearsal.all();
    assert!(
        all.contains("would stop and remove reverse replication channel `cutover_reverse`"),
        "{all}"
    );
    assert!(all.contains("went back: the go-back ran"), "{all}");

    // Started after the swap instead, plan says what a go-back would lose.
    sandbox.write(
        "late.yaml",
        "name: late\nsteps:\n  - id: replicate\n    action: mysql.replicate\n    with: { source: \"mysql://repl@127.0.0.1:1/shop\", target: \"mysql://root@127.0.0.1:2/shop\" }\n  - id: swap\n    action: shell\n    with: { run: \"true\" }\n    point_of_no_return: true\n  - id: reverse\n    action: mysql.reverse_replicate\n    with: { source: \"mysql://root@127.0.0.1:1/shop\", target: \"mysql://repl@127.0.0.1:2/shop\" }\n",
    );
    let plan = sandbox.run(&["plan", "late.yaml"]);
    plan.expect_code(0);
    assert!(
        plan.all()
            .contains("replaced by reverse replication in `reverse`, AFTER the point of no return"),
        "{}",
        plan.all()
    );
}
