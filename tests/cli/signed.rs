//! Issue 12, the signed head: `run --sign-key` signs the journal's head with an
//! Ed25519 key made by `openssl`; `audit verify --pubkey` passes for that run
//! and key only. A journal rewritten in full — every hash and the head
//! recomputed, which the unsigned chain cannot tell — fails it, as do a
//! signature removed and the wrong key; `resume`/`rollback --sign-key` re-sign.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::{kill9, Sandbox};

const PLAYBOOK: &str = "name: signed\nsteps:\n  - id: one\n    action: shell\n    with: { run: 'true' }\n  - id: two\n    action: shell\n    with: { run: 'true' }\n";

/// `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout`, as an
/// operator makes them.
fn keypair(dir: &Path, name: &str) -> (String, String) {
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    let status = Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&private)
        .status()
        .expect("openssl");
    assert!(status.success());
    let status = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&private)
        .arg("-out")
        .arg(&public)
        .status()
        .expect("openssl");
    assert!(status.success());
    (private.display().to_string(), public.display().to_string())
}

fn sha256_hex(data: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(data.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

/// Rewrites every line through `edit` and recomputes the chain and the head,
/// as whoever owns the state directory can.
fn rewrite_chain(journal: &Path, edit: impl Fn(&str) -> String) {
    let original = std::fs::read_to_string(journal).unwrap();
    let mut prev = "0".repeat(64);
    let mut forged = String::new();
    for line in original.lines() {
        let body = edit(&format!("{}}}", &line[..line.len() - 75]));
        let hash = sha256_hex(&format!("{prev}{body}"));
        forged.push_str(&format!(
            "{},\"hash\":\"{hash}\"}}\n",
            &body[..body.len() - 1]
        ));
        prev = hash;
    }
    std::fs::write(journal, &forged).unwrap();
    let count = forged.lines().count();
    std::fs::write(journal.with_file_name("head"), format!("{count} {prev}\n")).unwrap();
}

#[test]
fn a_signed_head_verifies_and_a_chain_rewritten_in_full_or_another_key_does_not() {
    let sandbox = Sandbox::new();
    let keys = tempfile::tempdir().unwrap();
    let (private, public) = keypair(keys.path(), "ops");
    let (_, other_public) = keypair(keys.path(), "other");
    sandbox.write("pb.yaml", PLAYBOOK);
    sandbox
        .run(&["run", "pb.yaml", "--sign-key", &private])
        .expect_code(0);
    let run = sandbox.last_run();
    let run_dir = sandbox.state_dir().join("runs").join(&run);
    let signature = std::fs::read_to_string(run_dir.join("head.sig")).unwrap();
    assert!(signature.starts_with("ed25519 "), "{signature}");
    let ok = sandbox.run(&["audit", "verify", &run, "--pubkey", &public]);
    ok.expect_code(0);
    assert!(
        ok.stdout.contains("head signature verifies"),
        "{}",
        ok.stdout
    );

    // Another key: refused, naming why.
    let wrong = sandbox.run(&["audit", "verify", &run, "--pubkey", &other_public]);
    wrong.expect_code(1);
    assert!(
        wrong.stderr.contains("signature does not match"),
        "{}",
        wrong.stderr
    );

    // The whole chain rewritten consistently (operator changed, every hash
    // and the head recomputed): the unsigned check passes — that is what an
    // unsigned chain cannot prove — the signed one does not.
    let journal = run_dir.join("journal.jsonl");
    let original = std::fs::read_to_string(&journal).unwrap();
    let original_head = std::fs::read_to_string(run_dir.join("head")).unwrap();
    rewrite_chain(&journal, |body| {
        body.replace("\"operator\":\"tester\"", "\"operator\":\"mallory\"")
    });
    assert!(std::fs::read_to_string(&journal)
        .unwrap()
        .contains("mallory"));
    sandbox.run(&["audit", "verify", &run]).expect_code(0);
    let forged = sandbox.run(&["audit", "verify", &run, "--pubkey", &public]);
    forged.expect_code(1);
    assert!(
        forged
            .stderr
            .contains("the head's signature does not match"),
        "{}",
        forged.stderr
    );

    // The signature removed: refused as unsigned.
    std::fs::write(&journal, &original).unwrap();
    std::fs::write(run_dir.join("head"), &original_head).unwrap();
    sandbox
        .run(&["audit", "verify", &run, "--pubkey", &public])
        .expect_code(0);
    std::fs::remove_file(run_dir.join("head.sig")).unwrap();
    let unsigned = sandbox.run(&["audit", "verify", &run, "--pubkey", &public]);
    unsigned.expect_code(1);
    assert!(
        unsigned.stderr.contains("the head is not signed"),
        "{}",
        unsigned.stderr
    );

    // Another run's signature copied in: it signs another run id.
    sandbox
        .run(&["run", "pb.yaml", "--sign-key", &private])
        .expect_code(0);
    let second = sandbox.last_run();
    let second_dir = sandbox.state_dir().join("runs").join(&second);
    std::fs::copy(second_dir.join("head.sig"), run_dir.join("head.sig")).unwrap();
    std::fs::copy(second_dir.join("head"), run_dir.join("head")).unwrap();
    let copied = sandbox.run(&["audit", "verify", &run, "--pubkey", &public]);
    copied.expect_code(1);
}

#[test]
fn a_bad_key_is_refused_before_the_run_and_resume_re_signs() {
    let sandbox = Sandbox::new();
    let keys = tempfile::tempdir().unwrap();
    let (private, public) = keypair(keys.path(), "ops");
    sandbox.write(
        "pb.yaml",
        "name: signed\nsteps:\n  - id: one\n    action: shell\n    with: { run: 'true' }\n  - id: two\n    action: shell\n    idempotent: true\n    with: { run: 'if [ -f go ]; then true; else touch go; sleep 30; fi' }\n",
    );
    sandbox.write("not-a-key.pem", "hello\n");
    let bad = sandbox.run(&["run", "pb.yaml", "--sign-key", "not-a-key.pem"]);
    bad.expect_code(2);
    assert!(
        bad.stderr.contains("is not an Ed25519 private key"),
        "{}",
        bad.stderr
    );
    let public_as_private = sandbox.run(&["run", "pb.yaml", "--sign-key", &public]);
    public_as_private.expect_code(2);
    assert!(
        sandbox.run_ids().is_empty(),
        "no run may start with a bad key"
    );

    // Killed in step `two`: no head, nothing signed yet.
    let mut child = sandbox.spawn(&["run", "pb.yaml", "--sign-key", &private]);
    sandbox.wait_for_file("go", Duration::from_secs(10));
    kill9(&mut child);
    let run = sandbox.last_run();
    let run_dir = sandbox.state_dir().join("runs").join(&run);
    assert!(!run_dir.join("head.sig").exists());
    // Resumed with the key: the head it writes is signed.
    sandbox
        .run(&["resume", &run, "--sign-key", &private])
        .expect_code(0);
    sandbox
        .run(&["audit", "verify", &run, "--pubkey", &public])
        .expect_code(0);
    // A public key that cannot be read is the command line's fault.
    sandbox
        .run(&["audit", "verify", &run, "--pubkey", "missing.pem"])
        .expect_code(2);
}
