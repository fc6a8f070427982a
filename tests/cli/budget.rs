//! The downtime budget: a catch-up slower than the budget is cut short and
//! the run rolls back with the source writable again; a step whose estimate
//! does not fit is never started; a switch inside the budget says how much
//! it used.

use std::time::{Duration, Instant};

use crate::pg_cluster::{client_bin, playbook, Cluster};
use crate::pg_seed::APP_ROLE;
use crate::support::Sandbox;

fn events_named(sandbox: &Sandbox, name: &str) -> Vec<serde_json::Value> {
    sandbox
        .journal(&sandbox.last_run())
        .into_iter()
        .filter(|r| r["event"] == name)
        .map(|r| r["data"].clone())
        .collect()
}

#[test]
fn a_slow_catch_up_runs_out_the_budget_and_the_source_is_writable_again() {
    let (source, target) = (Cluster::start(), Cluster::start());
    for cluster in [&source, &target] {
        cluster.create_db("shop");
        cluster.sql("postgres", &format!("CREATE ROLE {APP_ROLE} LOGIN"));
    }
    source.sql(
        "shop",
        &format!("CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders SELECT g, 'x' FROM generate_series(1, 100) g; GRANT ALL ON orders TO {APP_ROLE}"),
    );
    let psql = client_bin("psql");
    let (source_url, target_url) = (source.url("shop"), target.url("shop"));
    // After the initial sync, a session on the new server holds a lock the
    // apply worker needs, and the source takes more writes: the catch-up
    // cannot finish (for 30 s) — far past a 50 ms budget.
    let slow_down = format!(
        "setsid {psql} -X -q -c 'BEGIN; LOCK TABLE orders; SELECT pg_sleep(30)' '{target_url}' >/dev/null 2>&1 < /dev/null &\n        sleep 0.5\n        {psql} -X -q -c \"INSERT INTO orders SELECT g, 'late' FROM generate_series(101, 200) g\" '{source_url}'",
        psql = psql.display()
    );
    let sandbox = Sandbox::new();
    let mut text = playbook(
        "budget-slow-catch-up",
        &[("source", &source_url), ("target", &target_url)],
        &format!(
            "  - id: replicate\n    action: postgres.replicate\n    with: {{ source: \"${{{{ vars.source }}}}\", target: \"${{{{ vars.target }}}}\" }}\n\
             \x20 - id: slow-down\n    action: shell\n    with:\n      run: |\n        {slow_down}\n    rollback: none\n\
             \x20 - id: freeze\n    action: postgres.read_only\n    with: {{ url: \"${{{{ vars.source }}}}\", roles: [{APP_ROLE}] }}\n\
             \x20 - id: catch-up\n    action: postgres.catch_up\n    with: {{ source: \"${{{{ vars.source }}}}\", target: \"${{{{ vars.target }}}}\", timeout: 1m }}\n\
             \x20 - id: switch\n    action: shell\n    with: {{ run: touch switched }}\n    point_of_no_return: true\n"
        ),
    );
    text.push_str("downtime_budget: 50ms\n");
    sandbox.write("pb.yaml", &text);
    let started = Instant::now();
    let out = sandbox.run(&["run", "pb.yaml"]);
    let took = started.elapsed();
    out.expect_code(3);
    assert!(!sandbox.path().join("switched").exists(), "never switched");
    let all = out.all();
    assert!(all.contains("downtime budget"), "{all}");
    // Cut short by the budget, not by the catch-up's own 1 m timeout.
    assert!(took < Duration::from_secs(40), "took {took:?}");
    let exceeded = events_named(&sandbox, "downtime_budget_exceeded");
    assert_eq!(exceeded.len(), 1, "{exceeded:?}");
    // Normally cut during the catch-up; on a loaded machine the freeze alone
    // may spend the 50 ms, and the catch-up is then never started.
    assert!(
        exceeded[0]["step"] == "catch-up" || exceeded[0]["step"] == "freeze",
        "{exceeded:?}"
    );
    let started_events = events_named(&sandbox, "downtime_budget_started");
    assert_eq!(started_events[0]["step"], "freeze");
    // The source takes the application's writes again.
    source
        .try_sql(
            APP_ROLE,
            "shop",
            "INSERT INTO orders VALUES (1000, 'after')",
        )
        .expect("the application's role writes to the source again");
    // And the replication is gone from both sides.
    assert_eq!(
        source.sql("shop", "SELECT count(*) FROM pg_replication_slots"),
        "0"
    );
}

#[test]
fn a_step_whose_estimate_does_not_fit_the_budget_is_never_started() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        "name: budget-estimate\ndowntime_budget: 2s\nsteps:\n\
         \x20 - id: maintenance\n    action: maintenance.file\n    with: { path: maintenance.on, state: on }\n\
         \x20 - id: copy\n    action: shell\n    with: { run: touch copied }\n    estimate: 10s\n\
         \x20 - id: switch\n    action: shell\n    with: { run: touch switched }\n    point_of_no_return: true\n",
    );
    let out = sandbox.run(&["run", "pb.yaml"]);
    out.expect_code(3);
    assert!(
        !sandbox.path().join("copied").exists(),
        "the step never started"
    );
    assert!(
        !sandbox.path().join("maintenance.on").exists(),
        "maintenance was turned off again"
    );
    let all = out.all();
    assert!(
        all.contains("the downtime budget 2s would be spent before `copy`")
            && all.contains("`copy` is estimated at 10s"),
        "{all}"
    );
    let exceeded = events_named(&sandbox, "downtime_budget_exceeded");
    assert_eq!(exceeded[0]["during"], false);
    assert_eq!(exceeded[0]["estimate_ms"], 10_000);
}

#[test]
fn a_switch_inside_the_budget_journals_what_it_used() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        "name: budget-kept\ndowntime_budget: 5s\nsteps:\n\
         \x20 - id: before\n    action: wait\n    with: { duration: 300ms }\n\
         \x20 - id: maintenance\n    action: maintenance.file\n    with: { path: maintenance.on, state: on }\n\
         \x20 - id: switch\n    action: wait\n    with: { duration: 200ms }\n    point_of_no_return: true\n\
         \x20 - id: after\n    action: wait\n    with: { duration: 300ms }\n",
    );
    sandbox.run(&["run", "pb.yaml"]).expect_code(0);
    let kept = events_named(&sandbox, "downtime_budget_kept");
    assert_eq!(kept.len(), 1);
    let used = kept[0]["used_ms"].as_u64().unwrap();
    // From maintenance on to the end of the switch: not the waits around it.
    assert!((200..1000).contains(&used), "{kept:?}");
    let show = sandbox.run(&["audit", "show", &sandbox.last_run()]);
    assert!(
        show.stdout.contains("budget    downtime budget 5s:"),
        "{}",
        show.stdout
    );
    // A dry run only says what a live run would do.
    sandbox.run(&["run", "pb.yaml", "--dry-run"]).expect_code(0);
}
