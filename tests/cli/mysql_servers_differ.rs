//! Servers configured differently (issue 14): `mysql.copy`, `mysql.verify`
//! and `mysql.snapshot` / `mysql.restore` between MariaDB servers whose time
//! zones, `sql_mode` (`ANSI_QUOTES` among others), character sets and
//! `explicit_defaults_for_timestamp` differ give the answer they give between
//! identical ones; `mysql.verify` hashes whole rows whatever the values hold;
//! `mysql.compare_settings` names the differences that change the data.

use crate::maria::Maria;
use crate::pg_cluster::playbook;
use crate::support::{Output, Sandbox};

/// Every test session below: fixed settings, independent of both servers'
/// defaults and of cutover's own choice.
const SESSION: &str =
    "SET NAMES utf8mb4; SET time_zone = '+00:00'; SET sql_mode = 'NO_ENGINE_SUBSTITUTION';";

/// Values whose text depends on the session: TIMESTAMPs (time zone), CHAR
/// (PAD_CHAR_TO_FULL_LENGTH), latin1 and 4-byte text (character sets),
/// backslashes and quotes (NO_BACKSLASH_ESCAPES, ANSI_QUOTES), a zero date
/// default (NO_ZERO_DATE), an empty string (EMPTY_STRING_IS_NULL).
fn seed(server: &Maria, db: &str) {
    server.sql("mysql", &format!("{SESSION} CREATE DATABASE {db}"));
    server.sql(
        db,
        &format!(
            "{SESSION}
             CREATE TABLE readings (
               id INT PRIMARY KEY,
               changed TIMESTAMP(3) NULL,
               plain TIMESTAMP NOT NULL,
               placed DATETIME(6),
               day DATE,
               lasted TIME(2),
               f8 DOUBLE,
               f4 FLOAT,
               amount DECIMAL(20, 6),
               code CHAR(5),
               latin VARCHAR(40) CHARACTER SET latin1 DEFAULT 'zéro',
               note TEXT CHARACTER SET utf8mb4,
               raw VARBINARY(16),
               flags BIT(4),
               doc JSON,
               zero DATETIME NOT NULL DEFAULT '0000-00-00 00:00:00',
               KEY by_day (day)
             );
             INSERT INTO readings VALUES
               (1, '2025-01-13 10:00:00.500', '2025-03-30 01:30:00', '2025-01-13 15:30:00.123456', '2025-01-13', '-838:59:59.00',
                2.7666666666666666, 0.1234567, 12345678901234.123456, 'ab', 'zéro', 'rocket \u{1F680} back\\\\slash \"dq\" ''sq''',
                X'00FF5C27', b'1010', '{{\"a\": 1.5}}', '0000-00-00 00:00:00'),
               (2, '2038-01-19 03:14:07.999', '1970-01-01 00:00:01', '1000-01-01 00:00:00', '9999-12-31', '00:00:00.01',
                1e-300, -0, -0.000001, '', '', '', X'', b'0000', '[]', '2025-10-26 02:30:00'),
               (3, NULL, '2025-10-26 01:30:00', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '1999-12-31 23:59:59');"
        ),
    );
}

/// Every row of `readings`, read under fixed settings by the `mariadb` client.
fn fingerprint(server: &Maria, db: &str) -> String {
    server.sql(
        db,
        &format!(
            "{SESSION} SELECT id, changed, plain, placed, day, lasted, f8, f4, amount, code, latin, note, HEX(raw), flags + 0, doc, zero FROM readings ORDER BY id"
        ),
    )
}

/// The columns as the catalog describes them (defaults and ON UPDATE included).
fn columns(server: &Maria, db: &str) -> String {
    server.sql(
        db,
        &format!("{SESSION} SELECT CONCAT_WS(' | ', column_name, column_type, is_nullable, COALESCE(column_default, 'none'), extra, COALESCE(character_set_name, '-'), COALESCE(collation_name, '-'))
         FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'readings' ORDER BY ordinal_position"),
    )
}

fn copy_and_verify() -> &'static str {
    "  - id: copy\n    action: mysql.copy\n    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\", jobs: 2 }\n  - id: verify\n    action: mysql.verify\n    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\", mode: checksum }\n"
}

fn verify_only() -> &'static str {
    "  - id: verify\n    action: mysql.verify\n    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\", mode: checksum }\n"
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

#[test]
fn verify_between_servers_in_different_time_zones_compares_the_stored_timestamps() {
    let source = Maria::start_with(&["--default-time-zone=+05:30"]);
    let target = Maria::start_with(&["--default-time-zone=-08:00"]);
    seed(&source, "shop");
    let (s, t) = (source.url("shop"), target.url("shop"));
    let sandbox = Sandbox::new();
    let out = run(&sandbox, &s, &t, copy_and_verify());
    out.expect_code(0);
    assert_eq!(fingerprint(&source, "shop"), fingerprint(&target, "shop"));

    // One TIMESTAMP a millisecond off is still found.
    target.sql(
        "shop",
        "UPDATE readings SET changed = changed + INTERVAL 1000 MICROSECOND WHERE id = 1",
    );
    let out = run(&sandbox, &s, &t, verify_only());
    out.expect_code(3);
    assert!(
        out.all().contains("readings (3 rows vs 3)"),
        "{}",
        out.all()
    );
}

#[test]
fn a_copy_from_an_ansi_quotes_source_creates_its_tables() {
    let source = Maria::start_with(&["--sql-mode=ANSI_QUOTES"]);
    let target = Maria::start();
    seed(&source, "shop");
    let sandbox = Sandbox::new();
    let out = run(
        &sandbox,
        &source.url("shop"),
        &target.url("shop"),
        copy_and_verify(),
    );
    out.expect_code(0);
    assert_eq!(fingerprint(&source, "shop"), fingerprint(&target, "shop"));
    assert_eq!(columns(&source, "shop"), columns(&target, "shop"));
}

#[test]
fn copy_verify_and_restore_agree_between_servers_configured_differently() {
    let source = Maria::start_with(&[
        "--default-time-zone=+05:30",
        "--sql-mode=ANSI,NO_BACKSLASH_ESCAPES,PAD_CHAR_TO_FULL_LENGTH",
        "--character-set-server=latin1",
        "--collation-server=latin1_swedish_ci",
        "--skip-character-set-client-handshake",
        "--explicit-defaults-for-timestamp=1",
        "--log-bin=binlog",
        "--server-id=1",
    ]);
    let target = Maria::start_with(&[
        "--default-time-zone=-08:00",
        "--sql-mode=TRADITIONAL,EMPTY_STRING_IS_NULL,NO_BACKSLASH_ESCAPES,TIME_ROUND_FRACTIONAL",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_unicode_ci",
        "--explicit-defaults-for-timestamp=0",
        "--lower-case-table-names=1",
    ]);
    seed(&source, "shop");
    let (s, t) = (source.url("shop"), target.url("shop"));
    let sandbox = Sandbox::new();

    // The differences that change the data are named before anything is copied.
    let steps = "  - id: compare\n    action: mysql.compare_settings\n    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\" }\n";
    let out = run(&sandbox, &s, &t, steps);
    out.expect_code(3);
    let all = out.all();
    let row = |name: &str| {
        all.lines()
            .find(|l| l.contains(&format!("| {name} ")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{all}"))
            .to_string()
    };
    for name in [
        "character_set_server",
        "collation_server",
        "lower_case_table_names",
    ] {
        assert!(row(name).contains("TARGET DIFFERS"), "{name}: {all}");
        assert!(all.contains(&format!("{name} (")), "{name}: {all}");
    }
    assert!(row("character_set_server").contains("latin1"), "{all}");
    assert!(row("time_zone").contains("pinned"), "{all}");
    assert!(row("sql_mode").contains("pinned"), "{all}");
    assert!(all.contains("hint: "), "{all}");
    eprintln!("{all}");

    let out = run(&sandbox, &s, &t, copy_and_verify());
    out.expect_code(0);
    assert!(out.all().contains("same     readings"), "{}", out.all());
    assert_eq!(fingerprint(&source, "shop"), fingerprint(&target, "shop"));
    assert_eq!(columns(&source, "shop"), columns(&target, "shop"));
    assert_eq!(
        target.sql("shop", &format!("{SESSION} SELECT CONCAT_WS(',', changed, code, latin, note IS NULL) FROM readings WHERE id = 2")),
        "2038-01-19 03:14:07.999,,,0"
    );

    // The archive path pins its own settings (mariadb-dump's --tz-utc, its
    // SQL_MODE and character set): a restore into the target is equal too.
    let steps = "  - id: snapshot\n    action: mysql.snapshot\n    with: { url: \"${{ vars.source }}\", to: shop.sql }\n  - id: restore\n    action: mysql.restore\n    with: { from: shop.sql, url: \"${{ vars.target }}\" }\n  - id: verify\n    action: mysql.verify\n    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\", mode: checksum }\n";
    let restored = target.url("restored");
    let out = run(&sandbox, &s, &restored, steps);
    out.expect_code(0);
    assert_eq!(
        fingerprint(&source, "shop"),
        fingerprint(&target, "restored")
    );
    assert_eq!(columns(&source, "shop"), columns(&target, "restored"));

    // One changed value is still found.
    target.sql("shop", "UPDATE readings SET latin = 'zero' WHERE id = 1");
    let out = run(&sandbox, &s, &t, verify_only());
    out.expect_code(3);
    assert!(
        out.all().contains("readings (3 rows vs 3)"),
        "{}",
        out.all()
    );
}

#[test]
fn verify_hashes_whole_rows_whatever_the_values_and_columns_are_called() {
    let server = Maria::start();
    let table = "CREATE TABLE quirks (id INT PRIMARY KEY, `t` TEXT, `row` TEXT, `h` TEXT, `count` INT, `a|b` TEXT);
                 INSERT INTO quirks VALUES (1, 'x|', 'y', 'one', 3, 'two'), (2, NULL, '', NULL, NULL, '1');";
    for db in ["a", "b"] {
        server.sql("mysql", &format!("CREATE DATABASE {db}"));
        server.sql(db, table);
    }
    let sandbox = Sandbox::new();
    let (a, b) = (server.url("a"), server.url("b"));
    run(&sandbox, &a, &b, verify_only()).expect_code(0);

    for change in [
        // The separator moved from one value into the next.
        "UPDATE quirks SET `t` = 'x', `row` = '|y' WHERE id = 1",
        // NULL and '' swapped between two columns.
        "UPDATE quirks SET `t` = '', `row` = NULL WHERE id = 2",
        // A value moved into another column.
        "UPDATE quirks SET `h` = '1', `a|b` = NULL WHERE id = 2",
        "UPDATE quirks SET `count` = 4 WHERE id = 1",
    ] {
        server.sql("b", change);
        let out = run(&sandbox, &a, &b, verify_only());
        out.expect_code(3);
        assert!(
            out.all().contains("quirks (2 rows vs 2)"),
            "{change}: {}",
            out.all()
        );
        server.sql("b", &format!("DROP TABLE quirks; {table}"));
    }
}
