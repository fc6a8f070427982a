//! Secrets never reach the output, the journal or error messages: neither
//! values listed under `secrets` nor passwords written inside URLs.

use crate::support::Sandbox;

const SECRET: &str = "hunter2-s3cr3t";
const URL_PASSWORD: &str = "pl4intext-pw";

fn playbook() -> String {
    format!(
        r#"name: secretive
vars:
  source: postgres://app:{URL_PASSWORD}@db.internal:5432/orders
secrets: [DB_TOKEN]
steps:
  - id: show
    action: shell
    with:
      run: |
        echo "token=${{{{ secrets.DB_TOKEN }}}} url=${{{{ vars.source }}}}"
        echo "env copy: $TOKEN" >&2
      env: {{ TOKEN: "${{{{ env.DB_TOKEN }}}}" }}
  - id: fail
    action: shell
    with: {{ run: "echo failing with ${{{{ secrets.DB_TOKEN }}}}; exit 3" }}
"#
    )
}

fn assert_clean(text: &str, place: &str) {
    assert!(
        !text.contains(SECRET),
        "the secret leaked into {place}:\n{text}"
    );
    assert!(
        !text.contains(URL_PASSWORD),
        "the URL password leaked into {place}:\n{text}"
    );
}

#[test]
fn secrets_are_masked_in_output_journal_and_errors() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", &playbook());
    for output_mode in ["text", "json"] {
        let output = sandbox.run_with_env(
            &["run", "pb.yaml", "--output", output_mode],
            &[("DB_TOKEN", SECRET)],
        );
        output.expect_code(3);
        assert_clean(&output.all(), &format!("--output {output_mode}"));
        assert!(output.all().contains("token=***"), "{}", output.all());
        let journal = sandbox.journal_text(&sandbox.last_run());
        assert_clean(&journal, "the journal");
        assert!(journal.contains("failing with ***"), "{journal}");
    }
    let plan = sandbox.run_with_env(&["plan", "pb.yaml"], &[("DB_TOKEN", SECRET)]);
    assert_clean(&plan.all(), "plan");
    let plan_json = sandbox.run_with_env(
        &["plan", "pb.yaml", "--output", "json"],
        &[("DB_TOKEN", SECRET)],
    );
    assert_clean(&plan_json.all(), "plan --output json");
    let show = sandbox.run(&["audit", "show", &sandbox.last_run()]);
    assert_clean(&show.all(), "audit show");
}

#[test]
fn a_missing_secret_refuses_to_run_and_names_it() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", &playbook());
    let output = sandbox.run(&["run", "pb.yaml"]);
    output.expect_code(2);
    assert!(
        output.stderr.contains("`DB_TOKEN` is not set"),
        "{}",
        output.stderr
    );
    assert!(sandbox.run_ids().is_empty(), "nothing started");
}

#[test]
fn validate_errors_do_not_echo_url_passwords() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &playbook().replace("action: shell\n    with: {", "action: shel\n    with: {"),
    );
    let output = sandbox.run(&["validate", "pb.yaml"]);
    output.expect_code(2);
    assert_clean(&output.all(), "validate");
}

#[test]
fn a_var_built_from_an_unset_variable_never_runs_with_its_template() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        r#"name: unset-var
vars:
  target: postgres://app:${{ secrets.PW }}@${{ env.TARGET_HOST }}/orders
secrets: [PW]
steps:
  - id: connect
    action: shell
    with: { run: "echo ${{ vars.target }} > used.txt" }
"#,
    );
    let output = sandbox.run_with_env(&["run", "pb.yaml"], &[("PW", SECRET)]);
    output.expect_code(2);
    assert!(output.stderr.contains("TARGET_HOST"), "{}", output.stderr);
    assert!(!sandbox.path().join("used.txt").exists());
    assert_clean(&output.all(), "the error");
}

#[test]
fn a_secret_too_short_to_mask_is_refused() {
    let sandbox = Sandbox::new();
    sandbox.write("pb.yaml", &playbook());
    let output = sandbox.run_with_env(&["run", "pb.yaml"], &[("DB_TOKEN", "x")]);
    output.expect_code(2);
    assert!(
        output
            .stderr
            .contains("secret `DB_TOKEN` is shorter than 4 characters"),
        "{}",
        output.stderr
    );
    assert!(sandbox.run_ids().is_empty());
}
