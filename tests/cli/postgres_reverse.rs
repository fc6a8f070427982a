//! `postgres.reverse_replicate` against real clusters: after a logical
//! cutover (replicate → freeze → catch up → sequences → forward replication
//! ended), the new primary's writes flow back to the old one, which keeps
//! refusing the application; its rollback drops it. Also the refusals: a
//! forward subscription still in place, a source that was never frozen.

use crate::pg_cluster::{playbook, Cluster};
use crate::pg_seed::{self, APP_ROLE};
use crate::support::Sandbox;

const FORWARD: &str = "  - id: replicate
    action: postgres.replicate
    with: { source: \"${{ vars.old }}\", target: \"${{ vars.new }}\", replica_identity_full: true }
  - id: freeze
    action: postgres.read_only
    with: { url: \"${{ vars.old }}\", roles: [app] }
  - id: catch-up
    action: postgres.catch_up
    with: { source: \"${{ vars.old }}\", target: \"${{ vars.new }}\", timeout: 1m }
  - id: sequences
    action: postgres.sync_sequences
    with: { source: \"${{ vars.old }}\", target: \"${{ vars.new }}\" }
";

const END_FORWARD: &str = "  - id: end-forward
    action: postgres.drop_replication
    with: { source: \"${{ vars.old }}\", target: \"${{ vars.new }}\" }
";

const REVERSE: &str = "  - id: reverse
    action: postgres.reverse_replicate
    with: { source: \"${{ vars.old }}\", target: \"${{ vars.new }}\" }
";

const BACK: &str = "  - id: catch-up-back
    action: postgres.catch_up
    with: { source: \"${{ vars.new }}\", target: \"${{ vars.old }}\", subscription: cutover_reverse, timeout: 1m }
  - id: verify-back
    action: postgres.verify
    with: { source: \"${{ vars.new }}\", target: \"${{ vars.old }}\", mode: checksum }
";

#[test]
fn reverse_replication_brings_the_new_primarys_writes_back_and_its_rollback_drops_it() {
    let (old, new) = (Cluster::start(), Cluster::start());
    old.create_db("shopdb");
    new.create_db("shopdb");
    pg_seed::seed(&old, "shopdb", 2000);
    pg_seed::roles(&new);
    let sandbox = Sandbox::new();
    let (o, n) = (old.url("shopdb"), new.url("shopdb"));
    let vars = [("old", o.as_str()), ("new", n.as_str())];
    let write = |name: &str, steps: &str| {
        sandbox.write(name, &playbook("reverse", &vars, steps));
    };

    write("forward.yaml", FORWARD);
    sandbox.run(&["run", "forward.yaml"]).expect_code(0);

    // The forward subscription is still there: both directions would loop.
    write("early.yaml", REVERSE);
    let out = sandbox.run(&["run", "early.yaml"]);
    out.expect_code(3);
    assert!(
        out.all().contains("still subscribes (cutover)"),
        "{}",
        out.all()
    );

    write("reverse.yaml", &format!("{END_FORWARD}{REVERSE}"));
    let out = sandbox.run(&["run", "reverse.yaml"]);
    out.expect_code(0);
    assert!(
        out.all()
            .contains("the application stays locked out of the source (app)"),
        "{}",
        out.all()
    );
    assert_eq!(
        new.sql(
            "shopdb",
            "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'cutover_reverse'"
        ),
        "1",
        "the slot is on the new primary"
    );

    // The application now writes on the new primary.
    new.try_sql(
        APP_ROLE,
        "shopdb",
        "INSERT INTO shop.customers (name) VALUES ('after the swap');
         INSERT INTO shop.orders (customer_id, amount) SELECT id, 42 FROM shop.customers WHERE name = 'after the swap';
         UPDATE shop.customers SET balance = 1 WHERE id <= 10;
         DELETE FROM shop.events WHERE kind = 'dup';",
    )
    .expect("the application writes on the new primary");
    write("back.yaml", BACK);
    let out = sandbox.run(&["run", "back.yaml"]);
    out.expect_code(0);
    assert_eq!(
        old.sql(
            "shopdb",
            "SELECT count(*) FROM shop.orders o JOIN shop.customers c ON c.id = o.customer_id WHERE c.name = 'after the swap'"
        ),
        "1",
        "the new primary's writes reached the old one"
    );
    assert_eq!(
        pg_seed::counts(&old, "shopdb"),
        pg_seed::counts(&new, "shopdb")
    );
    // The old side still refuses the application.
    let refused = old
        .try_sql(APP_ROLE, "shopdb", "SELECT 1")
        .expect_err("the application stays frozen out of the old primary");
    assert!(refused.contains("not permitted to log in"), "{refused}");

    // Run again with a failure after it: already in place (idempotent), then
    // the implied rollback drops it.
    write(
        "rollback.yaml",
        &format!("{REVERSE}  - id: boom\n    action: shell\n    with: {{ run: exit 1 }}\n"),
    );
    let out = sandbox.run(&["run", "rollback.yaml"]);
    out.expect_code(3);
    assert!(
        out.all().contains("dropped subscription cutover_reverse"),
        "{}",
        out.all()
    );
    assert_eq!(
        old.sql("shopdb", "SELECT count(*) FROM pg_subscription"),
        "0"
    );
    assert_eq!(
        new.sql("shopdb", "SELECT count(*) FROM pg_publication"),
        "0"
    );
    assert_eq!(
        new.sql("shopdb", "SELECT count(*) FROM pg_replication_slots"),
        "0"
    );
    assert_eq!(
        old.sql(
            "shopdb",
            "SELECT count(*) FROM pg_db_role_setting WHERE setrole <> 0"
        ),
        "0",
        "the apply worker's exemption is gone"
    );
    let still = old
        .try_sql(
            "postgres",
            "shopdb",
            "INSERT INTO shop.events (at) VALUES (now())",
        )
        .expect_err("the old primary is read-only by default again");
    assert!(still.contains("read-only transaction"), "{still}");
}

#[test]
fn reverse_replication_refuses_a_source_that_was_never_frozen() {
    let (old, new) = (Cluster::start(), Cluster::start());
    old.create_db("shopdb");
    new.create_db("shopdb");
    pg_seed::seed(&old, "shopdb", 10);
    pg_seed::roles(&new);
    crate::pg_cluster::dump_into(&old, &new, "shopdb");
    let sandbox = Sandbox::new();
    let (o, n) = (old.url("shopdb"), new.url("shopdb"));
    sandbox.write(
        "pb.yaml",
        &playbook("reverse", &[("old", &o), ("new", &n)], REVERSE),
    );
    let out = sandbox.run(&["run", "pb.yaml"]);
    out.expect_code(3);
    assert!(out.all().contains("is not frozen"), "{}", out.all());
    assert!(out.all().contains("postgres.read_only"), "{}", out.all());
    assert_eq!(
        new.sql("shopdb", "SELECT count(*) FROM pg_publication"),
        "0"
    );
}
