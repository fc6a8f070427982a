//! The holes an attacker with write access to a directory cutover writes in
//! would try, each written as the attack: the victim file must stay untouched.

use crate::support::Sandbox;

#[test]
fn a_symlink_planted_at_the_maintenance_flag_is_refused_and_its_victim_untouched() {
    let sandbox = Sandbox::new();
    let victim = sandbox.write("etc/passwd-like", "root:x:0:0\n");
    std::fs::create_dir_all(sandbox.path().join("www")).unwrap();
    std::os::unix::fs::symlink(&victim, sandbox.path().join("www/maintenance.on")).unwrap();
    sandbox.write(
        "pb.yaml",
        "name: m\nsteps:\n  - id: on\n    action: maintenance.file\n    with: { path: www/maintenance.on, state: on, content: owned }\n",
    );
    let output = sandbox.run(&["run", "pb.yaml"]);
    output.expect_code(3);
    assert!(
        output
            .all()
            .contains("is a symbolic link: refusing to write through it"),
        "{}",
        output.all()
    );
    assert_eq!(sandbox.read("etc/passwd-like"), "root:x:0:0\n");
    // No temporary file was left beside the flag; the rollback (maintenance
    // off) removed the planted link itself, never what it pointed to.
    let names: Vec<String> = std::fs::read_dir(sandbox.path().join("www"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.is_empty(), "{names:?}");
}
