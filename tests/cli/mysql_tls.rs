//! MariaDB over TLS against throwaway servers with their own certificates
//! and `require_secure_transport=ON`: copy (its `mariadb-dump` too),
//! replication whose channel itself uses TLS, catch-up and verify with
//! `ssl-mode=VERIFY_CA` — the certificate names `db.internal`, not the
//! address connected to, which VERIFY_CA accepts and VERIFY_IDENTITY
//! refuses; and the refusals: a login without TLS, a server without TLS.

use crate::certs::Certs;
use crate::maria::Maria;
use crate::pg_cluster::playbook;
use crate::support::Sandbox;

fn tls_server(certs: &Certs, extra: &[&str]) -> Maria {
    let mut options = vec![
        format!("--ssl-ca={}", certs.ca_pem()),
        format!("--ssl-cert={}", certs.path("server.crt").display()),
        format!("--ssl-key={}", certs.path("server.key").display()),
        "--require-secure-transport=ON".to_string(),
    ];
    options.extend(extra.iter().map(|s| s.to_string()));
    Maria::start_with(&options.iter().map(String::as_str).collect::<Vec<_>>())
}

fn check(url: &str) -> crate::support::Output {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &playbook(
            "tls-check",
            &[("url", url)],
            "  - id: check\n    action: sql.check\n    with: { url: \"${{ vars.url }}\", query: \"SELECT 1\" }\n",
        ),
    );
    sandbox.run(&["run", "pb.yaml", "--output", "text"])
}

#[test]
fn copy_replicate_catch_up_and_verify_run_over_verify_ca() {
    let certs = Certs::new("DNS:db.internal");
    let source = tls_server(
        &certs,
        &["--log-bin=binlog", "--binlog-format=ROW", "--server-id=1"],
    );
    let target = tls_server(&certs, &["--server-id=2"]);
    source.seed("shop", 300);
    let tls = format!("ssl-mode=VERIFY_CA&ssl-ca={}", certs.ca_pem());
    let (s, t) = (
        format!("{}?{tls}", source.url("shop")),
        format!("{}?{tls}", target.url("shop")),
    );
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &playbook(
            "mysql-tls",
            &[("source", &s), ("target", &t)],
            "  - id: copy
    action: mysql.copy
    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\", jobs: 2 }
  - id: replicate
    action: mysql.replicate
    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\" }
  - id: catch-up
    action: mysql.catch_up
    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\", timeout: 1m }
  - id: verify
    action: mysql.verify
    with: { source: \"${{ vars.source }}\", target: \"${{ vars.target }}\", mode: checksum }
",
        ),
    );
    let out = sandbox.run(&["run", "pb.yaml", "--output", "text"]);
    assert_eq!(
        out.code,
        0,
        "{}\n--- target log:\n{}",
        out.all(),
        target.error_log()
    );
    // Rows written after the copy arrive through the channel, which uses TLS.
    source.sql(
        "shop",
        "INSERT INTO audit_log VALUES (NOW(), 'after the copy')",
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while target.sql(
        "shop",
        "SELECT COUNT(*) FROM audit_log WHERE line = 'after the copy'",
    ) != "1"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the channel never delivered the row"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The source refuses logins without TLS (require_secure_transport), so
    // the channel's connection is encrypted; its settings, as the target
    // lists them (values only): Master_SSL_Allowed, then Master_SSL_CA_File.
    let status = target.sql("mysql", "SHOW ALL SLAVES STATUS\\G");
    assert!(
        status.contains(&format!("\nYes\n{}\n", certs.ca_pem())),
        "{status}"
    );
    assert_eq!(
        source.sql(
            "mysql",
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND = 'Binlog Dump'"
        ),
        "1"
    );
}

#[test]
fn refusals_name_the_server_s_requirement_the_missing_tls_and_the_certificate() {
    let certs = Certs::new("DNS:db.internal");
    certs.ca("other", "some other CA");
    let server = tls_server(&certs, &[]);
    let plain = Maria::start();
    let password = "Never-Shown-5d1";
    server.sql(
        "mysql",
        &format!("CREATE USER app@'%' IDENTIFIED BY '{password}'; GRANT SELECT ON *.* TO app@'%'"),
    );
    let at = |m: &Maria, query: &str| {
        format!("mysql://app:{password}@127.0.0.1:{}/mysql?{query}", m.port)
    };

    check(&at(&server, "ssl-mode=REQUIRED")).expect_code(0);
    check(&at(&server, "")).expect_code(0);

    let out = check(&at(&server, "ssl-mode=DISABLED"));
    out.expect_code(3);
    let all = out.all();
    assert!(all.contains("require_secure_transport=ON"), "{all}");
    assert!(!all.contains(password), "{all}");

    let out = check(&at(&plain, "ssl-mode=REQUIRED"));
    out.expect_code(3);
    let all = out.all();
    assert!(all.contains("the server does not offer TLS"), "{all}");
    assert!(all.contains("ssl-mode=REQUIRED requires it"), "{all}");

    let out = check(&at(
        &server,
        &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={}", certs.ca_pem()),
    ));
    out.expect_code(3);
    let all = out.all();
    assert!(
        all.contains("is for DNS:db.internal, not for \"127.0.0.1\""),
        "{all}"
    );
    assert!(!all.contains(password), "{all}");

    let other = certs.path("other.crt").display().to_string();
    for mode in ["VERIFY_CA", "VERIFY_IDENTITY"] {
        let out = check(&at(&server, &format!("ssl-mode={mode}&ssl-ca={other}")));
        out.expect_code(3);
        let all = out.all();
        assert!(
            all.contains("is not signed by a CA cutover trusts"),
            "{mode}: {all}"
        );
        assert!(
            all.contains("issuer \"CN=cutover test CA\""),
            "{mode}: {all}"
        );
    }
}
