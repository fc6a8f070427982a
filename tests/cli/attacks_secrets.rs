//! Masking cannot fail open: a multi-line secret (a PEM key), a 10 000-char
//! secret, a secret equal to a word the journal itself uses, and passwords
//! written literally in URLs in every form, are found nowhere — not in the
//! run's output (text or JSON), the journal, `plan`, `audit show`, the
//! reports, nor `validate`'s quoted source lines.

use crate::support::Sandbox;

const PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\nq2p9Zk3mVxW8yTnLr0fJ4cHs5uE1aBdQ6gNwOiXtYzKlM\nY2F0IGtleSBib2R5IGZvciB0ZXN0cw==\n-----END PRIVATE KEY-----";

/// The PEM's lines that must never show (its armour lines are public words).
fn pem_body() -> Vec<&'static str> {
    PEM.lines().filter(|l| !l.starts_with("-----")).collect()
}

fn long_secret() -> String {
    (0..10_000)
        .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
        .collect()
}

/// `step` is a key of nearly every journal event and part of their names.
const WORD: &str = "step";

fn run_playbook() -> &'static str {
    r#"name: leaky
secrets: [PEM_KEY, LONG_TOKEN, WORD_SECRET]
steps:
  - id: show
    action: shell
    with:
      run: |
        printf 'key follows\n%s\nkey done\n' "$PEM"
        printf 'long=%s\n' "$LONG"
        printf 'word=%s\n' "$WORD"
        printf 'pem inline %s' "$PEM" >&2
      env: { PEM: "${{ env.PEM_KEY }}", LONG: "${{ env.LONG_TOKEN }}", WORD: "${{ env.WORD_SECRET }}" }
  - id: fail
    action: shell
    with: { run: "echo \"failing with $LONG\"; exit 3", env: { LONG: "${{ secrets.LONG_TOKEN }}" } }
"#
}

fn assert_clean(text: &str, place: &str, long: &str) {
    for line in pem_body() {
        assert!(
            !text.contains(line),
            "a PEM line leaked into {place}: {line}\n{text}"
        );
    }
    // Not even a prefix of the long secret (a cut that masked too late).
    assert!(
        !text.contains(&long[..64]),
        "the long secret leaked into {place}"
    );
    assert!(
        !text.contains("word=step"),
        "the word secret leaked into {place}\n{text}"
    );
}

#[test]
fn multi_line_long_and_event_word_secrets_are_masked_everywhere_and_never_fail_open() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", run_playbook());
    let long = long_secret();
    let env = [
        ("PEM_KEY", PEM),
        ("LONG_TOKEN", long.as_str()),
        ("WORD_SECRET", WORD),
    ];
    for output_mode in ["text", "json"] {
        let output = sandbox.run_with_env(&["run", "pb.yaml", "--output", output_mode], &env);
        // Rolled back by the failing step: the masking never stopped the run.
        output.expect_code(3);
        assert_clean(&output.all(), &format!("--output {output_mode}"), &long);
        assert!(output.all().contains("word=***"), "{}", output.all());
        assert!(output.all().contains("long=***"), "{}", output.all());
        let run = sandbox.last_run();
        let journal = sandbox.journal_text(&run);
        assert_clean(&journal, "the journal", &long);
        assert!(journal.contains("word=***"), "{journal}");
        assert!(journal.contains("failing with ***"), "{journal}");
        // Still a journal: the event words equal to the secret were kept.
        sandbox.run(&["audit", "verify", &run]).expect_code(0);
        let show = sandbox.run(&["audit", "show", &run]);
        show.expect_code(0);
        assert_clean(&show.all(), "audit show", &long);
        for format in ["markdown", "html"] {
            let report = sandbox.run(&["audit", "report", &run, "--format", format, "--out", "-"]);
            report.expect_code(0);
            assert_clean(&report.stdout, &format!("the {format} report"), &long);
        }
    }
}

const URLS: &str = r#"name: urls
vars:
  raw: "postgres://app:p@ss/w#rd?x@127.0.0.1:1/orders"
  encoded: "postgres://app:p%40ss%2Fw0rd-enc@127.0.0.1:1/orders"
  query: "postgres://app@127.0.0.1:1/orders?sslmode=disable&password=qu3ry-pw"
  keywords: "host=127.0.0.1 port=1 dbname=orders user=app password='kv pw-quoted'"
  bare: "host=127.0.0.1 port=1 password=kvpw-bare dbname=orders"
steps:
  - id: show
    action: shell
    with:
      run: printf '%s\n' "$RAW" "$ENC" "$QUERY" "$KW" "$BARE"
      env: { RAW: "${{ vars.raw }}", ENC: "${{ vars.encoded }}", QUERY: "${{ vars.query }}", KW: "${{ vars.keywords }}", BARE: "${{ vars.bare }}" }
  - id: health
    action: postgres.health
    with: { url: "${{ vars.keywords }}" }
"#;

const PASSWORDS: &[&str] = &[
    "p@ss/w#rd?x",
    "ss/w#rd",
    "p%40ss%2Fw0rd-enc",
    "w0rd-enc",
    "qu3ry-pw",
    "kv pw-quoted",
    "pw-quoted",
    "kvpw-bare",
];

fn assert_no_password(text: &str, place: &str) {
    for password in PASSWORDS {
        assert!(
            !text.contains(password),
            "`{password}` leaked into {place}:\n{text}"
        );
    }
}

#[test]
fn literal_url_passwords_are_masked_in_every_form_and_every_place() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", URLS);
    let output = sandbox.run(&["run", "pb.yaml"]);
    output.expect_code(3);
    assert_no_password(&output.all(), "run");
    assert!(output.all().contains("password=***"), "{}", output.all());
    let run = sandbox.last_run();
    assert_no_password(&sandbox.journal_text(&run), "the journal");
    for args in [
        vec!["plan", "pb.yaml"],
        vec!["plan", "pb.yaml", "--output", "json"],
        vec!["audit", "show", &run],
        vec![
            "audit", "report", &run, "--format", "markdown", "--out", "-",
        ],
        vec!["audit", "report", &run, "--format", "html", "--out", "-"],
    ] {
        let shown = sandbox.run(&args);
        assert_no_password(&shown.all(), &format!("{args:?}"));
    }

    // `validate` quotes the line in error, masked before it is cut to width:
    // the password sits across the 200th column.
    let padding = "x".repeat(170);
    sandbox.write(
        "bad.yaml",
        &format!(
            "name: bad\nsteps:\n  - id: h\n    action: postgres.health\n    with: {{ bogus: 1, url: \"host=h dbname={padding} password=kvpw-bare\" }}\n  - id: r\n    action: postgres.health\n    with: {{ bogus: 1, url: \"postgres://app:p@ss/w#rd?x@127.0.0.1:1/orders?password=qu3ry-pw\" }}\n"
        ),
    );
    let output = sandbox.run(&["validate", "bad.yaml"]);
    output.expect_code(2);
    assert!(output.stderr.contains("bogus"), "{}", output.stderr);
    assert_no_password(&output.all(), "validate");
    for cut in ["password=kvpw", "password=kv", "p@ss"] {
        assert!(
            !output.all().contains(cut),
            "`{cut}` in validate:\n{}",
            output.all()
        );
    }
}
