//! PostgreSQL over TLS against throwaway clusters with `ssl = on` and a
//! pg_hba.conf that admits only `hostssl`: copy, replicate (the subscription
//! itself over TLS), catch-up and verify with `sslmode=verify-full`; each
//! refusal with its own message (unknown CA, wrong host name, expired
//! certificate, a server without TLS); libpq's fallbacks; client
//! certificates (`cert` in pg_hba.conf).

use crate::certs::Certs;
use crate::pg_cluster::{playbook, Cluster, ClusterOptions, ServerTls};
use crate::pg_seed;
use crate::support::Sandbox;

const HOSTSSL_ONLY: &str = "local all all trust\nlocal replication all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl replication all 127.0.0.1/32 trust\n";

fn tls_cluster(certs: &Certs, cert: &str, hba: &str) -> Cluster {
    Cluster::start_with(ClusterOptions {
        tls: Some(ServerTls {
            cert: certs.path(&format!("{cert}.crt")),
            key: certs.path(&format!("{cert}.key")),
            ca: certs.path("ca.crt"),
        }),
        hba: Some(hba.to_string()),
        ..ClusterOptions::default()
    })
}

/// One `sql.check` of `url`.
fn check(url: &str, query: &str) -> crate::support::Output {
    check_expecting(url, query, None)
}

/// One `sql.check` of `url` whose answer must be `expect`.
fn check_expecting(url: &str, query: &str, expect: Option<&str>) -> crate::support::Output {
    let expect = expect
        .map(|e| format!(", expect: \"{e}\""))
        .unwrap_or_default();
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &playbook(
            "tls-check",
            &[("url", url)],
            &format!("  - id: check\n    action: sql.check\n    with: {{ url: \"${{{{ vars.url }}}}\", query: \"{query}\"{expect} }}\n"),
        ),
    );
    sandbox.run(&["run", "pb.yaml", "--output", "text"])
}

const SSL_OF_SESSION: &str =
    "SELECT current_user::text || ':' || ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

#[test]
fn copy_replicate_catch_up_and_verify_run_over_verify_full() {
    let certs = Certs::new("DNS:localhost,IP:127.0.0.1");
    let source = tls_cluster(&certs, "server", HOSTSSL_ONLY);
    let target = tls_cluster(&certs, "server", HOSTSSL_ONLY);
    source.create_db("shopdb");
    target.create_db("shopdb");
    target.create_db("copydb");
    pg_seed::seed(&source, "shopdb", 2000);
    pg_seed::roles(&target);
    let tls = format!("sslmode=verify-full&sslrootcert={}", certs.ca_pem());
    let url =
        |c: &Cluster, db: &str| format!("postgres://postgres@localhost:{}/{db}?{tls}", c.port);
    let (s, t, c) = (
        url(&source, "shopdb"),
        url(&target, "shopdb"),
        url(&target, "copydb"),
    );
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &playbook(
            "tls",
            &[("source", &s), ("target", &t), ("copy", &c)],
            "  - id: copy
    action: postgres.copy
    with: { source: \"${{ vars.source }}\", target: \"${{ vars.copy }}\", jobs: 2 }
  - id: verify-copy
    action: postgres.verify
    with: { source: \"${{ vars.source }}\", target: \"${{ vars.copy }}\", mode: checksum }
  - id: replicate
    action: postgres.replicate
    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\", replica_identity_full: true }
  - id: catch-up
    action: postgres.catch_up
    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\", timeout: 1m }
  - id: verify
    action: postgres.verify
    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\", mode: checksum }
",
        ),
    );
    // pg_hba.conf admits nothing but TLS: every session of cutover, of
    // pg_dump and psql, and of the subscription had to use it.
    let out = sandbox.run(&["run", "pb.yaml", "--output", "text"]);
    out.expect_code(0);
    let counts = pg_seed::counts(&source, "shopdb");
    assert_eq!(counts, pg_seed::counts(&target, "shopdb"));
    assert_eq!(counts, pg_seed::counts(&target, "copydb"));
    // The subscription's own connection: TLS, with the settings it was given.
    assert_eq!(
        source.sql(
            "postgres",
            "SELECT s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) LIMIT 1"
        ),
        "t"
    );
    let conninfo = target.sql("shopdb", "SELECT subconninfo FROM pg_subscription");
    assert!(conninfo.contains("sslmode='verify-full'"), "{conninfo}");
    assert!(
        conninfo.contains(&format!("sslrootcert='{}'", certs.ca_pem())),
        "{conninfo}"
    );
}

#[test]
fn each_refusal_says_what_is_wrong_and_never_the_password() {
    let certs = Certs::new("DNS:localhost,IP:127.0.0.1");
    certs.ca("other", "some other CA");
    certs.expired();
    let server = tls_cluster(&certs, "server", HOSTSSL_ONLY);
    let expired = tls_cluster(&certs, "expired", HOSTSSL_ONLY);
    let plain = Cluster::start();
    let ca = certs.ca_pem();
    let password = "Never-Shown-9f3";
    let at = |c: &Cluster, host: &str, query: &str| {
        format!(
            "postgres://postgres:{password}@{host}:{}/postgres?{query}",
            c.port
        )
    };

    // Good certificates first, so the failures below fail for their own reason.
    check_expecting(
        &at(
            &server,
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={ca}"),
        ),
        SSL_OF_SESSION,
        Some("postgres:true"),
    )
    .expect_code(0);

    let out = check(
        &at(
            &server,
            "localhost",
            &format!(
                "sslmode=verify-full&sslrootcert={}",
                certs.path("other.crt").display()
            ),
        ),
        "SELECT 1",
    );
    out.expect_code(3);
    let all = out.all();
    assert!(
        all.contains("is not signed by a CA cutover trusts"),
        "{all}"
    );
    assert!(
        all.contains("subject \"CN=localhost\", issuer \"CN=cutover test CA\""),
        "{all}"
    );
    assert!(all.contains("other.crt"), "{all}");
    assert!(!all.contains(password), "{all}");

    let mismatch = at(
        &server,
        "db.example.com",
        &format!("hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={ca}"),
    );
    let out = check(&mismatch, "SELECT 1");
    out.expect_code(3);
    let all = out.all();
    assert!(
        all.contains("is for DNS:localhost, IP:127.0.0.1, not for \"db.example.com\""),
        "{all}"
    );
    assert!(!all.contains(password), "{all}");
    // verify-ca checks the chain only: the same name passes.
    check(&mismatch.replace("verify-full", "verify-ca"), "SELECT 1").expect_code(0);

    let out = check(
        &at(
            &expired,
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={ca}"),
        ),
        "SELECT 1",
    );
    out.expect_code(3);
    let all = out.all();
    assert!(
        all.contains("the server's certificate expired: it was valid until 2020-01-02"),
        "{all}"
    );

    let out = check(&at(&plain, "127.0.0.1", "sslmode=require"), "SELECT 1");
    out.expect_code(3);
    let all = out.all();
    assert!(
        all.contains("the server does not offer TLS, and sslmode=require requires it"),
        "{all}"
    );
    assert!(!all.contains(password), "{all}");

    // libpq's fallbacks: prefer (the default) uses TLS where offered; allow
    // tries without it, is refused by pg_hba.conf, and tries again with it.
    check_expecting(
        &at(&server, "127.0.0.1", ""),
        SSL_OF_SESSION,
        Some("postgres:true"),
    )
    .expect_code(0);
    check_expecting(
        &at(&server, "127.0.0.1", "sslmode=allow"),
        SSL_OF_SESSION,
        Some("postgres:true"),
    )
    .expect_code(0);
    check_expecting(
        &at(&plain, "127.0.0.1", ""),
        SSL_OF_SESSION,
        Some("postgres:false"),
    )
    .expect_code(0);
    let out = check(&at(&server, "127.0.0.1", "sslmode=disable"), "SELECT 1");
    out.expect_code(3);
    assert!(
        out.all()
            .contains("admits this connection only over TLS (`hostssl`)"),
        "{}",
        out.all()
    );
}

#[test]
fn a_client_certificate_logs_in_where_pg_hba_says_cert() {
    let certs = Certs::new("DNS:localhost,IP:127.0.0.1");
    let (cert, key) = certs.client("app", "app");
    certs.ca("other", "some other CA");
    let (stranger_cert, stranger_key) = certs.client_of("other", "stranger", "app");
    let hba = "local all all trust\nhostssl all app 127.0.0.1/32 cert\nhostssl all all 127.0.0.1/32 trust\n";
    let server = tls_cluster(&certs, "server", hba);
    server.sql("postgres", "CREATE ROLE app LOGIN");
    let ca = certs.ca_pem();
    let url = |extra: &str| {
        format!(
            "postgres://app@localhost:{}/postgres?sslmode=verify-full&sslrootcert={ca}{extra}",
            server.port
        )
    };

    check_expecting(
        &url(&format!("&sslcert={cert}&sslkey={key}")),
        "SELECT current_user::text || ':' || client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        Some("app:/CN=app"),
    )
    .expect_code(0);

    let out = check(&url(""), "SELECT 1");
    out.expect_code(3);
    let all = out.all();
    assert!(all.contains("requires a valid client certificate"), "{all}");
    assert!(all.contains("sslcert=… and sslkey=…"), "{all}");

    let out = check(
        &url(&format!("&sslcert={stranger_cert}&sslkey={stranger_key}")),
        "SELECT 1",
    );
    out.expect_code(3);
    let all = out.all();
    assert!(
        all.contains("the server refused cutover's client certificate"),
        "{all}"
    );
}
