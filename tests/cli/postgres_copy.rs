//! `postgres.copy` against real clusters: a copy that `postgres.verify` finds
//! equal (checksums), a refused non-empty target, and kill -9 in the middle of
//! the rows followed by `cutover resume`.

use std::time::{Duration, Instant};

use crate::pg_cluster::{playbook, Cluster};
use crate::pg_seed;
use crate::support::{kill9, Output, Sandbox};

fn copy_steps(extra: &str) -> String {
    format!(
        "  - id: copy\n    action: postgres.copy\n    with: {{ source: \"${{{{ vars.source }}}}\", target: \"${{{{ vars.target }}}}\", jobs: 3{extra} }}\n  - id: verify\n    action: postgres.verify\n    with: {{ source: \"${{{{ vars.source }}}}\", target: \"${{{{ vars.target }}}}\", mode: checksum }}\n"
    )
}

fn pair(rows: u32) -> (Cluster, Cluster) {
    let (source, target) = (Cluster::start(), Cluster::start());
    source.create_db("shopdb");
    target.create_db("shopdb");
    pg_seed::seed(&source, "shopdb", rows);
    pg_seed::roles(&target);
    (source, target)
}

fn vars<'a>(source: &'a str, target: &'a str) -> [(&'static str, &'a str); 2] {
    [("source", source), ("target", target)]
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

/// The bytes bar's plain lines (`copy : 1.2 MB of 5.0 MB (24%), 3.1 MB/s,
/// ETA 1.2s`), figures only.
pub fn transfer_lines(all: &str) -> Vec<String> {
    all.lines()
        .filter_map(|l| l.trim_start().strip_prefix("copy : "))
        .filter(|l| l.contains(" of ") && l.contains("%)"))
        .map(str::to_string)
        .collect()
}

#[test]
fn copy_then_verify_finds_the_databases_equal() {
    let (source, target) = pair(20_000);
    let sandbox = Sandbox::new();
    let (s, t) = (source.url("shopdb"), target.url("shopdb"));
    // The index builds' own settings reach pg_restore's sessions (a bad one
    // would fail the build).
    sandbox.write(
        "pb.yaml",
        &playbook(
            "copy",
            &vars(&s, &t),
            &copy_steps(", maintenance_work_mem: 128MB, max_parallel_maintenance_workers: 1"),
        ),
    );
    let started = Instant::now();
    let out = sandbox.run(&["run", "pb.yaml"]);
    out.expect_code(0);
    let elapsed = started.elapsed();
    assert_eq!(
        pg_seed::counts(&source, "shopdb"),
        pg_seed::counts(&target, "shopdb")
    );
    assert_eq!(shape(&source), shape(&target));
    let all = out.all();
    assert!(all.contains("copied shop.customers: 20000 rows"), "{all}");
    assert!(all.contains("ETA") || all.contains("rows copied:"), "{all}");
    // The bytes bar, as plain lines: from nothing to all of the tables'
    // size on the source, the last one with the rate.
    let bars = transfer_lines(&all);
    assert!(bars.len() >= 2, "{all}");
    assert!(bars[0].starts_with("0 B of "), "{bars:?}");
    let last = bars.last().unwrap();
    let (done, rest) = last.split_once(" of ").unwrap();
    assert!(rest.starts_with(&format!("{done} (100%), ")), "{bars:?}");
    assert!(last.ends_with("/s"), "{bars:?}");
    eprintln!("bytes bar: {bars:?}");
    let journal = sandbox.journal(&sandbox.last_run());
    let applied = journal
        .iter()
        .find(|r| r["event"] == "step_finished" && r["step"] == "copy")
        .map(|r| r["data"]["applied"].clone())
        .expect("copy finished");
    let rows = applied["rows"].as_u64().unwrap();
    let seconds = applied["seconds"].as_f64().unwrap();
    eprintln!(
        "copy: {rows} rows, {} bytes in {seconds:.2} s ({:.0} rows/s); run with verify {elapsed:?}",
        applied["bytes"],
        rows as f64 / seconds
    );
    // The ledger is gone; a stamp says the copy is complete.
    assert_eq!(
        target.sql("shopdb", "SELECT to_regnamespace('_cutover') IS NULL"),
        "t"
    );
}

#[test]
fn a_non_empty_target_is_refused_unless_on_existing_truncate() {
    let (source, target) = pair(500);
    target.sql(
        "shopdb",
        &pg_seed::schema().replace("CREATE ROLE", "-- CREATE ROLE"),
    );
    target.sql(
        "shopdb",
        "INSERT INTO public.wide VALUES (999999, 'left over')",
    );
    let sandbox = Sandbox::new();
    let (s, t) = (source.url("shopdb"), target.url("shopdb"));
    sandbox.write(
        "refuse.yaml",
        &playbook("copy", &vars(&s, &t), &copy_steps("")),
    );
    let out = sandbox.run(&["run", "refuse.yaml"]);
    out.expect_code(3);
    assert!(out.all().contains("is not empty"), "{}", out.all());
    assert!(out.all().contains("on_existing: truncate"), "{}", out.all());
    assert_eq!(
        target.sql("shopdb", "SELECT count(*) FROM public.wide"),
        "1"
    );

    sandbox.write(
        "truncate.yaml",
        &playbook(
            "copy",
            &vars(&s, &t),
            &copy_steps(", on_existing: truncate"),
        ),
    );
    sandbox.run(&["run", "truncate.yaml"]).expect_code(0);
    assert_eq!(
        pg_seed::counts(&source, "shopdb"),
        pg_seed::counts(&target, "shopdb")
    );
}

#[test]
fn a_copy_killed_mid_rows_resumes_table_by_table() {
    let (source, target) = pair(30_000);
    let sandbox = Sandbox::new();
    let (s, t) = (source.url("shopdb"), target.url("shopdb"));
    // Throttled so the kill lands in the middle of the rows.
    sandbox.write(
        "pb.yaml",
        &playbook("copy", &vars(&s, &t), &copy_steps(", max_rate: 6MB")),
    );
    let mut child = sandbox.spawn(&["run", "pb.yaml"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let done = target
            .try_sql(
                "postgres",
                "shopdb",
                "SELECT count(*) FROM _cutover.copy_progress WHERE item LIKE 'table:%'",
            )
            .unwrap_or_default();
        if done.parse::<u32>().unwrap_or(0) >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "no table was ever copied");
        std::thread::sleep(Duration::from_millis(10));
    }
    kill9(&mut child);
    let id = sandbox.last_run();
    let done_before: u32 = target
        .sql(
            "shopdb",
            "SELECT count(*) FROM _cutover.copy_progress WHERE item LIKE 'table:%'",
        )
        .parse()
        .unwrap();
    let total: u32 = source
        .sql("shopdb", "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND nspname IN ('shop', 'public')")
        .parse()
        .unwrap();
    assert!(
        done_before < total,
        "killed before the end ({done_before} of {total} tables)"
    );

    let out = sandbox.run(&["resume", &id]);
    out.expect_code(0);
    assert!(out.all().contains("resuming: "), "{}", out.all());
    assert_eq!(
        pg_seed::counts(&source, "shopdb"),
        pg_seed::counts(&target, "shopdb")
    );
    assert_eq!(shape(&source), shape(&target));
    eprintln!("killed after {done_before} of {total} tables; resumed and verified");
}

/// A table big enough to split (~8 MB) with holes in its pages, and one
/// without a primary key holding duplicate rows.
fn split_pair() -> (Cluster, Cluster) {
    let (source, target) = (Cluster::start(), Cluster::start());
    source.create_db("shopdb");
    target.create_db("shopdb");
    source.sql(
        "shopdb",
        "CREATE TABLE big (id int PRIMARY KEY, pad text NOT NULL);
         INSERT INTO big SELECT g, repeat(md5(g::text), 3) FROM generate_series(1, 60000) g;
         DELETE FROM big WHERE id % 3 = 0 OR id BETWEEN 20000 AND 26000;
         CREATE TABLE nokey (n int, pad text);
         INSERT INTO nokey SELECT g % 500, repeat('x', 200) FROM generate_series(1, 30000) g;
         ANALYZE",
    );
    (source, target)
}

/// An order-independent fingerprint of a table's rows, duplicates counted.
fn fingerprint(cluster: &Cluster, table: &str) -> String {
    cluster.sql(
        "shopdb",
        &format!("SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY t::text)) FROM {table} t"),
    )
}

/// `split_pair`'s tables copied by one `postgres.copy` step with `extra` fields.
fn copy_split_pair(extra: &str) -> (Cluster, Cluster, Sandbox, Output) {
    let (source, target) = split_pair();
    let sandbox = Sandbox::new();
    let (s, t) = (source.url("shopdb"), target.url("shopdb"));
    sandbox.write(
        "pb.yaml",
        &playbook("split", &vars(&s, &t), &copy_steps(extra)),
    );
    let out = sandbox.run(&["run", "pb.yaml"]);
    out.expect_code(0);
    (source, target, sandbox, out)
}

#[test]
fn a_split_table_copies_every_row_exactly_once() {
    let (source, target, sandbox, out) = copy_split_pair(", split_above: 1MB");
    let all = out.all();
    assert!(
        all.contains("public.big: ") && all.contains("ranges of pages"),
        "{all}"
    );
    assert!(all.contains("public.nokey: "), "{all}");
    for table in ["big", "nokey"] {
        assert_eq!(
            fingerprint(&source, table),
            fingerprint(&target, table),
            "{table}"
        );
    }
    let applied = sandbox
        .journal(&sandbox.last_run())
        .into_iter()
        .find(|r| r["event"] == "step_finished" && r["step"] == "copy")
        .expect("copy finished")["data"]["applied"]
        .clone();
    assert_eq!(applied["binary_tables"], 2, "{applied}");
}

/// The default keeps a big table whole: one stream, `COPY … FREEZE`, so the
/// new server's first VACUUM has no page to rewrite (ranges could not be frozen).
#[test]
fn by_default_a_big_table_is_not_cut_and_its_rows_arrive_frozen() {
    let (source, target, _sandbox, out) = copy_split_pair("");
    assert!(!out.all().contains("ranges of pages"), "{}", out.all());
    assert_eq!(fingerprint(&source, "big"), fingerprint(&target, "big"));
    target.sql("shopdb", "CREATE EXTENSION pg_visibility");
    let frozen = target.sql(
        "shopdb",
        "SELECT all_frozen || '/' || pg_relation_size('big') / current_setting('block_size')::int FROM pg_visibility_map_summary('big')",
    );
    let (all_frozen, pages) = frozen.split_once('/').expect("two numbers");
    assert!(pages.parse::<u32>().unwrap() > 100, "{frozen}");
    assert_eq!(all_frozen, pages, "every page of big frozen: {frozen}");
}

#[test]
fn a_split_copy_killed_mid_range_resumes_with_the_missing_ranges_only() {
    let (source, target) = split_pair();
    let sandbox = Sandbox::new();
    let (s, t) = (source.url("shopdb"), target.url("shopdb"));
    // Throttled so the kill lands between ranges.
    sandbox.write(
        "pb.yaml",
        &playbook(
            "split",
            &vars(&s, &t),
            &copy_steps(", split_above: 1MB, max_rate: 2MB"),
        ),
    );
    let mut child = sandbox.spawn(&["run", "pb.yaml"]);
    let ranges_done = || {
        target
            .try_sql(
                "postgres",
                "shopdb",
                "SELECT count(*) FROM _cutover.copy_progress WHERE item LIKE 'table:public.big#pages:%'",
            )
            .unwrap_or_default()
            .parse::<u32>()
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while ranges_done() < 1 {
        assert!(Instant::now() < deadline, "no range was ever copied");
        std::thread::sleep(Duration::from_millis(10));
    }
    kill9(&mut child);
    let before = ranges_done();
    let out = sandbox.run(&["resume", &sandbox.last_run()]);
    out.expect_code(0);
    for table in ["big", "nokey"] {
        assert_eq!(
            fingerprint(&source, table),
            fingerprint(&target, table),
            "{table}"
        );
    }
    // The resumed attempt copied fewer rows of `big` than the table has: the
    // ranges done before the kill were not copied again.
    let copied: u64 = sandbox
        .journal(&sandbox.last_run())
        .into_iter()
        .rfind(|r| r["event"] == "step_finished" && r["step"] == "copy")
        .map(|r| r["data"]["applied"]["rows"].as_u64().unwrap())
        .unwrap();
    let total: u64 = source
        .sql(
            "shopdb",
            "SELECT (SELECT count(*) FROM big) + (SELECT count(*) FROM nokey)",
        )
        .parse()
        .unwrap();
    assert!(
        copied < total,
        "the resume copied {copied} rows of {total} ({before} ranges were done)"
    );
}

#[test]
fn awkward_types_travel_in_binary_or_fall_back_to_text_per_table_and_stay_equal() {
    let (source, target) = (Cluster::start(), Cluster::start());
    source.create_db("shopdb");
    target.create_db("shopdb");
    source.sql(
        "shopdb",
        "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
         CREATE DOMAIN scores AS int[] CHECK (cardinality(VALUE) < 10);
         CREATE TYPE point2 AS (x float8, y float8);
         CREATE TYPE floatrange AS RANGE (subtype = float8);
         CREATE TABLE builtin (id int PRIMARY KEY, amount numeric, at timestamptz, d date,
                               blob bytea, span int4range, s scores, tags text[], j jsonb);
         INSERT INTO builtin VALUES
           (1, 'NaN', 'infinity', '-infinity', '\\x00ff'::bytea, '[1,5)', '{1,2,3}', '{a,NULL,\"b c\"}', '{\"k\": [1, null]}'),
           (2, 12345678901234567890.123456789, '-infinity', 'infinity', '', 'empty', '{}', '{}', 'null'),
           (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
         CREATE TABLE custom (id int PRIMARY KEY, m mood, ms mood[], p point2, r floatrange);
         INSERT INTO custom VALUES (1, 'happy', '{sad,ok}', '(1.5,-2)', '[0.5,2.5)'), (2, NULL, '{}', NULL, 'empty');",
    );
    let sandbox = Sandbox::new();
    let (s, t) = (source.url("shopdb"), target.url("shopdb"));
    sandbox.write(
        "pb.yaml",
        &playbook("types", &vars(&s, &t), &copy_steps("")),
    );
    let out = sandbox.run(&["run", "pb.yaml"]);
    out.expect_code(0);
    let all = out.all();
    assert!(
        all.contains("rows as text for 1 table(s) whose types have no portable binary form: public.custom (m (mood), ms (mood), p (point2), r (floatrange))"),
        "{all}"
    );
    assert!(
        all.contains("copied public.builtin: 3 rows") && all.contains("(binary)"),
        "{all}"
    );
    for table in ["builtin", "custom"] {
        assert_eq!(
            fingerprint(&source, table),
            fingerprint(&target, table),
            "{table}"
        );
    }
}

/// Several tables with indexes (plain, partial, on an expression), primary
/// and unique keys, an exclusion constraint, foreign keys between them (one
/// NOT VALID on the source) and a trigger; `slow` makes `slow_idx` take
/// seconds to build (a sleep per row).
fn builds_pair(slow_rows: u32) -> (Cluster, Cluster) {
    let (source, target) = (Cluster::start(), Cluster::start());
    source.create_db("shopdb");
    target.create_db("shopdb");
    source.sql(
        "shopdb",
        &format!(
            "CREATE SCHEMA shop;
             CREATE TABLE shop.customers (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text);
             INSERT INTO shop.customers SELECT g, 'c' || g || '@example.com', md5(g::text) FROM generate_series(1, 20000) g;
             CREATE TABLE shop.products (id int PRIMARY KEY, sku text NOT NULL, price numeric CHECK (price >= 0),
                                         CONSTRAINT products_sku_key UNIQUE (sku) DEFERRABLE INITIALLY DEFERRED);
             INSERT INTO shop.products SELECT g, 'sku-' || g, g * 1.5 FROM generate_series(1, 2000) g;
             CREATE TABLE shop.orders (id bigint PRIMARY KEY, customer_id int NOT NULL REFERENCES shop.customers,
                                       placed timestamptz NOT NULL, status text NOT NULL);
             INSERT INTO shop.orders SELECT g, 1 + g % 20000, '2026-01-01'::timestamptz + g * interval '1 minute',
                                            CASE WHEN g % 10 = 0 THEN 'open' ELSE 'shipped' END
               FROM generate_series(1, 60000) g;
             CREATE INDEX orders_by_customer ON shop.orders (customer_id, placed DESC);
             CREATE INDEX orders_open ON shop.orders (placed) WHERE status = 'open';
             CREATE INDEX orders_lower_status ON shop.orders (lower(status));
             ALTER INDEX shop.orders_lower_status ALTER COLUMN 1 SET STATISTICS 500;
             CREATE TABLE shop.items (order_id bigint NOT NULL, line int NOT NULL, product_id int NOT NULL, qty int,
                                      PRIMARY KEY (order_id, line));
             INSERT INTO shop.items SELECT 1 + g / 2, g % 2, 1 + g % 2000, 1 FROM generate_series(1, 80000) g;
             ALTER TABLE shop.items ADD CONSTRAINT items_order_fkey FOREIGN KEY (order_id) REFERENCES shop.orders;
             ALTER TABLE shop.items ADD CONSTRAINT items_product_fkey FOREIGN KEY (product_id) REFERENCES shop.products NOT VALID;
             CREATE TABLE public.bookings (id int PRIMARY KEY, room int, during int4range,
                                           EXCLUDE USING gist (during WITH &&) WHERE (room IS NOT NULL AND room < 0));
             INSERT INTO public.bookings SELECT g, g, int4range(g * 10, g * 10 + 5) FROM generate_series(1, 3000) g;
             CREATE TABLE public.audit (at timestamptz DEFAULT now(), what text);
             CREATE FUNCTION public.audit_order() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN INSERT INTO public.audit (what) VALUES ('order ' || NEW.id); RETURN NEW; END $$;
             CREATE TRIGGER orders_audit AFTER INSERT ON shop.orders FOR EACH ROW EXECUTE FUNCTION public.audit_order();
             CREATE FUNCTION public.slow_key(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS
               $$ BEGIN PERFORM pg_sleep(0.002); RETURN i; END $$;
             CREATE TABLE public.slow (id int);
             INSERT INTO public.slow SELECT g FROM generate_series(1, {slow_rows}) g;
             CREATE INDEX slow_idx ON public.slow (public.slow_key(id));
             ANALYZE"
        ),
    );
    (source, target)
}

/// Every index with its definition and validity, every constraint with its
/// definition and whether it is validated, and the triggers.
fn built_objects(cluster: &Cluster) -> String {
    cluster.sql(
        "shopdb",
        "SELECT (SELECT string_agg(x, E'\\n' ORDER BY x) FROM (
                   SELECT format('%s valid=%s', pg_get_indexdef(i.indexrelid)
                                 || coalesce((SELECT ' statistics=' || string_agg(attnum || ':' || attstattarget, ',')
                                                FROM pg_attribute WHERE attrelid = i.indexrelid AND attstattarget >= 0), ''),
                                 i.indisvalid AND i.indisready) x
                     FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname IN ('shop', 'public')) s)
             || E'\\n' || (SELECT string_agg(x, E'\\n' ORDER BY x) FROM (
                   SELECT format('%s.%s %s validated=%s', conrelid::regclass, conname, pg_get_constraintdef(oid), convalidated) x
                     FROM pg_constraint WHERE connamespace IN ('shop'::regnamespace, 'public'::regnamespace)) s)
             || E'\\n' || (SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger WHERE NOT tgisinternal)",
    )
}

fn check_built(source: &Cluster, target: &Cluster) {
    let built = built_objects(target);
    assert_eq!(built_objects(source), built);
    assert!(
        built.contains("(lower(status)) statistics=1:500 valid=t"),
        "{built}"
    );
    // Every index valid, every constraint validated but the one the source
    // has NOT VALID.
    assert!(!built.lines().any(|l| l.ends_with(" valid=f")), "{built}");
    assert_eq!(
        built.lines().filter(|l| l.ends_with(" valid=t")).count(),
        12
    );
    let unvalidated: Vec<&str> = built
        .lines()
        .filter(|l| l.ends_with(" validated=f"))
        .collect();
    assert_eq!(unvalidated.len(), 1, "{built}");
    assert!(unvalidated[0].contains("items_product_fkey"), "{built}");
    for table in [
        "shop.customers",
        "shop.products",
        "shop.orders",
        "shop.items",
        "public.bookings",
        "public.slow",
        "public.audit",
    ] {
        assert_eq!(
            fingerprint(source, table),
            fingerprint(target, table),
            "{table}"
        );
    }
}

#[test]
fn indexes_and_constraints_are_built_beside_the_rows_and_come_out_valid() {
    let (source, target) = builds_pair(200);
    let sandbox = Sandbox::new();
    let (s, t) = (source.url("shopdb"), target.url("shopdb"));
    sandbox.write(
        "pb.yaml",
        &playbook(
            "builds",
            &vars(&s, &t),
            &copy_steps(", maintenance_work_mem: 96MB, max_parallel_maintenance_workers: 1"),
        ),
    );
    let out = sandbox.run(&["run", "pb.yaml"]);
    out.expect_code(0);
    let all = out.all();
    check_built(&source, &target);
    assert!(all.contains("built shop.orders orders_pkey in "), "{all}");
    assert!(
        all.contains("built public.bookings bookings_during_excl in "),
        "{all}"
    );
    assert!(
        all.contains("added 3 foreign key(s) NOT VALID, validated 2"),
        "{all}"
    );
    // The trigger came through the rest of post-data.
    assert!(all.contains("restoring the rest of post-data"), "{all}");
    // The first index build began before the last table's rows were in.
    let lines: Vec<&str> = all.lines().collect();
    let first_build = lines.iter().position(|l| l.contains(": built ")).unwrap();
    let last_copied = lines
        .iter()
        .rposition(|l| l.contains(": copied ") && l.contains(" rows, "))
        .unwrap();
    assert!(first_build < last_copied, "{all}");
}

/// An index kept on its own tablespace (fast disks for indexes) is built
/// there on the target, a plain index and a primary key alike.
#[test]
fn indexes_built_beside_the_rows_stay_in_their_tablespace() {
    let (source, target) = (Cluster::start(), Cluster::start());
    for cluster in [&source, &target] {
        cluster.create_tablespace("fast");
        cluster.create_db("shopdb");
    }
    source.sql(
        "shopdb",
        "CREATE TABLE t (id int, v int, CONSTRAINT t_pkey PRIMARY KEY (id) USING INDEX TABLESPACE fast);
         CREATE INDEX t_v ON t (v) TABLESPACE fast;
         CREATE INDEX t_plain ON t (v, id);
         INSERT INTO t SELECT g, g % 97 FROM generate_series(1, 5000) g",
    );
    let sandbox = Sandbox::new();
    let (s, t) = (source.url("shopdb"), target.url("shopdb"));
    sandbox.write(
        "pb.yaml",
        &playbook("spaces", &vars(&s, &t), &copy_steps("")),
    );
    sandbox.run(&["run", "pb.yaml"]).expect_code(0);
    let spaces = "SELECT string_agg(c.relname || '=' || coalesce(s.spcname, 'default'), ',' ORDER BY c.relname)
                    FROM pg_class c LEFT JOIN pg_tablespace s ON s.oid = c.reltablespace
                   WHERE c.relname IN ('t_pkey', 't_v', 't_plain')";
    assert_eq!(
        target.sql("shopdb", spaces),
        "t_pkey=fast,t_plain=default,t_v=fast"
    );
    assert_eq!(source.sql("shopdb", spaces), target.sql("shopdb", spaces));
    assert_eq!(fingerprint(&source, "t"), fingerprint(&target, "t"));
}

#[test]
fn a_copy_killed_mid_index_build_resumes_and_finishes_it() {
    // slow_idx: ~3000 rows × 2 ms.
    let (source, target) = builds_pair(3000);
    let sandbox = Sandbox::new();
    let (s, t) = (source.url("shopdb"), target.url("shopdb"));
    sandbox.write(
        "pb.yaml",
        &playbook("builds", &vars(&s, &t), &copy_steps("")),
    );
    let mut child = sandbox.spawn(&["run", "pb.yaml"]);
    let building = || {
        target
            .try_sql(
                "postgres",
                "shopdb",
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cutover copy build' AND query LIKE '%CREATE INDEX slow_idx%' AND state = 'active'",
            )
            .unwrap_or_default()
            == "1"
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !building() {
        assert!(Instant::now() < deadline, "slow_idx was never being built");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    kill9(&mut child);
    // Killed mid-build: not recorded, and (its transaction open) not there yet.
    assert_eq!(
        target.sql(
            "shopdb",
            "SELECT count(*) FROM _cutover.copy_progress WHERE item LIKE 'build:%slow_idx'"
        ),
        "0"
    );
    let out = sandbox.run(&["resume", &sandbox.last_run()]);
    out.expect_code(0);
    let all = out.all();
    assert!(all.contains("built public.slow slow_idx in "), "{all}");
    // The killed attempt's backend, still building, was ended first (else
    // the two builds of slow_idx would collide).
    eprintln!(
        "orphans: {:?}",
        all.lines()
            .find(|l| l.contains("index build session(s) an earlier attempt"))
    );
    check_built(&source, &target);
    assert_eq!(
        target.sql("shopdb", "SELECT to_regnamespace('_cutover') IS NULL"),
        "t"
    );
}
