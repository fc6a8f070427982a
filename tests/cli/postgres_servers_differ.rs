//! Servers configured differently (issue 14): `postgres.copy` and
//! `postgres.verify` between clusters whose `TimeZone`, `DateStyle`,
//! `IntervalStyle`, `extra_float_digits`, `bytea_output` and
//! `standard_conforming_strings` differ give the answer they give between
//! identical ones; `postgres.verify` hashes whole rows whatever the columns
//! are called; `postgres.compare_settings` names a different encoding or
//! collation before anything is copied.

use crate::pg_cluster::{playbook, Cluster, ClusterOptions};
use crate::support::{Output, Sandbox};

/// The settings every reading below is taken under: independent of both
/// servers' defaults and of cutover's own choice.
const FINGERPRINT_SESSION: &str = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; \
    SET IntervalStyle = 'postgres'; SET extra_float_digits = 3; SET bytea_output = 'hex';";

/// Values whose text depends on the session: floats at full precision, a
/// negative interval, a date whose day cannot be a month, timestamps in a
/// zone whose abbreviation (`IST`) means another zone elsewhere, bytes,
/// backslashes.
const SEED: &str = r#"
SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres';
SET standard_conforming_strings = on;
CREATE TABLE readings (
  id int PRIMARY KEY,
  f8 double precision,
  f4 real,
  span interval,
  day date,
  at timestamp,
  atz timestamptz,
  clock timetz,
  raw bytea,
  note text,
  spans interval[],
  doc jsonb
);
INSERT INTO readings VALUES
  (1, 2.7666666666666666, 0.1234567, interval '-3 days -01:00:08', date '2025-01-13',
   timestamp '2025-01-13 15:30:00.123456', timestamptz '2025-01-13 10:00:00.5+00', timetz '04:05:06.789-08',
   '\x00ff5c27'::bytea, E'back\\slash ''quoted'' ünï', ARRAY[interval '-1 day -00:00:01', interval '2 mons -3 days'],
   '{"a": 1.5, "b": [1, 2]}'),
  (2, 1e-300, -0.0, interval '1 year 2 mons -3 days 04:05:06.5', date '0044-03-15 BC',
   timestamp '2025-12-31 23:59:59.999999', timestamptz '2025-07-01 23:30:00+05:30', timetz '23:59:59+14',
   '\x'::bytea, '', NULL, 'null'),
  (3, NULL, 'NaN', interval '-0.000001 seconds', date '2025-02-28', NULL, timestamptz '1900-01-01 00:00:00+00', NULL,
   NULL, NULL, ARRAY[]::interval[], NULL);
"#;

fn copy_and_verify() -> String {
    "  - id: copy\n    action: postgres.copy\n    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\", jobs: 2 }\n  - id: verify\n    action: postgres.verify\n    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\", mode: checksum }\n".to_string()
}

fn verify_only() -> String {
    "  - id: verify\n    action: postgres.verify\n    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\", mode: checksum }\n".to_string()
}

fn cluster(settings: &[(&'static str, &'static str)]) -> Cluster {
    Cluster::start_with(ClusterOptions {
        settings: settings.to_vec(),
        ..ClusterOptions::default()
    })
}

/// A seeded source and an empty target database, each cluster with its own defaults.
fn pair(
    source_settings: &[(&'static str, &'static str)],
    target_settings: &[(&'static str, &'static str)],
) -> (Cluster, Cluster) {
    let (source, target) = (cluster(source_settings), cluster(target_settings));
    source.create_db("shopdb");
    target.create_db("shopdb");
    source.sql("shopdb", SEED);
    (source, target)
}

fn run(sandbox: &Sandbox, source: &str, target: &str, steps: &str) -> Output {
    sandbox.write(
        "pb.yaml",
        &playbook(
            "servers-differ",
            &[("source", source), ("target", target)],
            steps,
        ),
    );
    sandbox.run(&["run", "pb.yaml"])
}

/// Every row of `readings`, read under fixed settings by psql.
fn fingerprint(cluster: &Cluster, db: &str) -> String {
    cluster.sql(
        db,
        &format!("{FINGERPRINT_SESSION} SELECT r.* FROM readings r ORDER BY id"),
    )
}

/// One value of row `id`, as text under fixed settings.
fn value(cluster: &Cluster, column: &str, id: u32) -> String {
    cluster.sql(
        "shopdb",
        &format!("{FINGERPRINT_SESSION} SELECT {column} FROM readings WHERE id = {id}"),
    )
}

#[test]
fn a_copy_from_a_source_with_extra_float_digits_0_keeps_every_digit() {
    let (source, target) = pair(&[("extra_float_digits", "0")], &[]);
    let sandbox = Sandbox::new();
    let out = run(
        &sandbox,
        &source.url("shopdb"),
        &target.url("shopdb"),
        &copy_and_verify(),
    );
    out.expect_code(0);
    assert_eq!(value(&target, "f8", 1), "2.7666666666666666");
    assert_eq!(value(&target, "f4", 1), "0.1234567");
    assert_eq!(value(&target, "f8", 2), "1e-300");
    assert_eq!(
        fingerprint(&source, "shopdb"),
        fingerprint(&target, "shopdb")
    );
}

#[test]
fn a_copy_from_a_sql_standard_source_keeps_the_sign_of_negative_intervals() {
    let (source, target) = pair(&[("IntervalStyle", "sql_standard")], &[]);
    let sandbox = Sandbox::new();
    let out = run(
        &sandbox,
        &source.url("shopdb"),
        &target.url("shopdb"),
        &copy_and_verify(),
    );
    out.expect_code(0);
    assert_eq!(value(&target, "span", 1), "-3 days -01:00:08");
    assert_eq!(
        value(&target, "spans", 1),
        "{\"-1 days -00:00:01\",\"2 mons -3 days\"}"
    );
    assert_eq!(
        fingerprint(&source, "shopdb"),
        fingerprint(&target, "shopdb")
    );
}

#[test]
fn a_copy_from_a_dmy_source_reads_its_dates() {
    let (source, target) = pair(&[("DateStyle", "SQL, DMY")], &[]);
    let sandbox = Sandbox::new();
    let out = run(
        &sandbox,
        &source.url("shopdb"),
        &target.url("shopdb"),
        &copy_and_verify(),
    );
    out.expect_code(0);
    assert_eq!(value(&target, "day", 1), "2025-01-13");
    assert_eq!(
        fingerprint(&source, "shopdb"),
        fingerprint(&target, "shopdb")
    );
}

#[test]
fn copy_and_verify_agree_between_servers_configured_differently() {
    // Database-level defaults on the source, server-level on the target:
    // both kinds of default reach a session.
    let source = cluster(&[("standard_conforming_strings", "off")]);
    let target = cluster(&[
        ("TimeZone", "America/St_Johns"),
        ("DateStyle", "German, MDY"),
        ("IntervalStyle", "iso_8601"),
        ("extra_float_digits", "-3"),
        ("bytea_output", "escape"),
    ]);
    source.create_db("shopdb");
    target.create_db("shopdb");
    source.sql("shopdb", SEED);
    source.sql(
        "postgres",
        "ALTER DATABASE shopdb SET TimeZone = 'Asia/Kolkata';
         ALTER DATABASE shopdb SET DateStyle = 'SQL, DMY';
         ALTER DATABASE shopdb SET IntervalStyle = 'sql_standard';
         ALTER DATABASE shopdb SET extra_float_digits = 0;
         ALTER DATABASE shopdb SET bytea_output = 'escape';",
    );
    let (s, t) = (source.url("shopdb"), target.url("shopdb"));
    let sandbox = Sandbox::new();

    let steps = "  - id: compare\n    action: postgres.compare_settings\n    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\" }\n";
    let out = run(&sandbox, &s, &t, steps);
    out.expect_code(0);
    let all = out.all();
    let row = |name: &str| {
        all.lines()
            .find(|l| l.contains(&format!("| {name} ")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{all}"))
            .to_string()
    };
    eprintln!("{all}");
    assert!(row("TimeZone").contains("Asia/Kolkata"), "{all}");
    assert!(row("TimeZone").contains("pinned"), "{all}");
    assert!(row("encoding").ends_with("ok"), "{all}");

    let out = run(&sandbox, &s, &t, &copy_and_verify());
    out.expect_code(0);
    assert!(
        out.all().contains("same     public.readings: 3 rows"),
        "{}",
        out.all()
    );
    assert_eq!(
        fingerprint(&source, "shopdb"),
        fingerprint(&target, "shopdb")
    );
    assert_eq!(value(&target, "f8", 1), "2.7666666666666666");
    assert_eq!(value(&target, "span", 1), "-3 days -01:00:08");
    assert_eq!(value(&target, "day", 2), "0044-03-15 BC");
    assert_eq!(value(&target, "atz", 2), "2025-07-01 18:00:00+00");
    assert_eq!(value(&target, "raw", 1), "\\x00ff5c27");
    assert_eq!(value(&target, "note", 1), "back\\slash 'quoted' ünï");

    // One value a microsecond off is still found.
    target.sql(
        "shopdb",
        "UPDATE readings SET atz = atz + interval '1 microsecond' WHERE id = 2",
    );
    let out = run(&sandbox, &s, &t, &verify_only());
    out.expect_code(3);
    assert!(
        out.all()
            .contains("public.readings: 3 rows on both, but their contents differ"),
        "{}",
        out.all()
    );
}

#[test]
fn verify_hashes_whole_rows_whatever_the_columns_are_called() {
    let cluster = Cluster::start();
    cluster.create_db("a");
    cluster.create_db("b");
    // Columns named like the aliases a checksum query might use for the
    // row, its hash or its subquery.
    let table = r#"CREATE TABLE quirks (id int PRIMARY KEY, t text, "row" text, h text, rows int, r text, x text);
        INSERT INTO quirks VALUES (1, 'same', 'one', 'two', 3, 'four', 'five'), (2, NULL, NULL, NULL, NULL, NULL, NULL);"#;
    cluster.sql("a", table);
    cluster.sql("b", table);
    let sandbox = Sandbox::new();
    let (a, b) = (cluster.url("a"), cluster.url("b"));
    run(&sandbox, &a, &b, &verify_only()).expect_code(0);

    for change in [
        r#"UPDATE quirks SET "row" = 'changed' WHERE id = 1"#,
        "UPDATE quirks SET h = 'changed' WHERE id = 1",
        "UPDATE quirks SET rows = 4 WHERE id = 1",
        "UPDATE quirks SET x = '' WHERE id = 2",
    ] {
        cluster.sql("b", change);
        let out = run(&sandbox, &a, &b, &verify_only());
        out.expect_code(3);
        assert!(
            out.all()
                .contains("public.quirks: 2 rows on both, but their contents differ"),
            "{change}: {}",
            out.all()
        );
        cluster.sql("b", "DELETE FROM quirks");
        cluster.sql("b", "INSERT INTO quirks VALUES (1, 'same', 'one', 'two', 3, 'four', 'five'), (2, NULL, NULL, NULL, NULL, NULL, NULL)");
    }
}

#[test]
fn compare_settings_names_a_different_encoding_or_collation_before_the_copy() {
    let cluster = Cluster::start();
    cluster.create_db("utf");
    cluster.sql(
        "postgres",
        "CREATE DATABASE latin TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'",
    );
    let sandbox = Sandbox::new();
    let steps = "  - id: compare\n    action: postgres.compare_settings\n    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\" }\n";
    let out = run(&sandbox, &cluster.url("utf"), &cluster.url("latin"), steps);
    out.expect_code(3);
    let all = out.all();
    let row = |name: &str| {
        all.lines()
            .find(|l| l.contains(&format!("| {name} ")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{all}"))
            .to_string()
    };
    eprintln!("{all}");
    assert!(row("encoding").contains("UTF8"), "{all}");
    assert!(row("encoding").contains("LATIN1"), "{all}");
    assert!(row("encoding").contains("TARGET DIFFERS"), "{all}");
    assert!(row("collation").contains("TARGET DIFFERS"), "{all}");
    assert!(all.contains("encoding (different"), "{all}");
    assert!(all.contains("hint: "), "{all}");

    // Same encoding and collation: passes.
    let out = run(
        &sandbox,
        &cluster.url("utf"),
        &cluster.url("postgres"),
        steps,
    );
    out.expect_code(0);
}
