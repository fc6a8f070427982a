//! PgBouncer's actions against a real PgBouncer (Debian's `pgbouncer`) in
//! transaction pooling mode in front of throwaway PostgreSQL clusters, with
//! pgbench and clients writing through it.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::pg_cluster::{client_bin, free_port, scratch_dir, Cluster};
use crate::support::Sandbox;

pub struct PgBouncer {
    pub port: u16,
    pub dir: PathBuf,
    pub ini: PathBuf,
    child: Child,
}

impl PgBouncer {
    /// PgBouncer serving `database` from `backend`'s database of the same
    /// name; `users` may log in without a password (trust), `admin` runs the
    /// console. Its ini lives in `sandbox` (where playbooks find it).
    pub fn start(sandbox: &Sandbox, database: &str, backend: &Cluster, users: &[&str]) -> Self {
        let dir = scratch_dir("cutover-pgbouncer");
        let port = free_port();
        let userlist: String = users
            .iter()
            .chain(&["admin"])
            .map(|u| format!("\"{u}\" \"\"\n"))
            .collect();
        std::fs::write(dir.join("userlist.txt"), userlist).unwrap();
        let ini = format!(
            "; the pooler of the test\n[databases]\n; the application's database\n{database} = host=127.0.0.1 port={} dbname={database}\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\nauth_type = trust\nauth_file = {}\nadmin_users = admin\npool_mode = transaction\ndefault_pool_size = 10\nlogfile = {}\npidfile = {}\nuser = postgres\n",
            backend.port,
            dir.join("userlist.txt").display(),
            dir.join("pgbouncer.log").display(),
            dir.join("pgbouncer.pid").display(),
        );
        let ini_path = sandbox.write("pgbouncer.ini", &ini);
        let mut command = Command::new("pgbouncer");
        command
            .arg(&ini_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe; PgBouncer dies with the test.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .expect("pgbouncer (Debian package `pgbouncer`)");
        let bouncer = PgBouncer {
            port,
            dir,
            ini: ini_path,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "pgbouncer never listened: {}",
                std::fs::read_to_string(bouncer.dir.join("pgbouncer.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        bouncer
    }

    pub fn admin_url(&self) -> String {
        format!("postgres://admin@127.0.0.1:{}/pgbouncer", self.port)
    }

    pub fn url(&self, user: &str, database: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{database}", self.port)
    }

    /// A SHOW on the console through psql, as `a|b|c` lines.
    pub fn show(&self, what: &str) -> String {
        let output = Command::new(client_bin("psql"))
            .args([
                "-X",
                "-At",
                "-c",
                &format!("SHOW {what}"),
                &self.admin_url(),
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `paused` of `database` in SHOW DATABASES.
    pub fn paused(&self, database: &str) -> bool {
        self.show("DATABASES")
            .lines()
            .find(|l| l.starts_with(&format!("{database}|")))
            .and_then(|l| l.split('|').nth(11).map(|p| p == "1"))
            .unwrap_or(false)
    }

    /// One query through PgBouncer; its answer or the error.
    pub fn query(&self, user: &str, database: &str, sql: &str) -> Result<String, String> {
        let output = Command::new(client_bin("psql"))
            .args(["-X", "-At", "-c", sql, &self.url(user, database)])
            .output()
            .unwrap();
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn pause_playbook(admin: &str, then: &str) -> String {
    format!(
        "name: pause\nsteps:\n  - id: pause\n    action: pgbouncer.pause\n    with: {{ admin: \"{admin}\", database: shop, timeout: 2s }}\n{then}"
    )
}

#[test]
fn a_pause_holds_queries_without_failing_them_and_its_rollback_resumes() {
    let cluster = Cluster::start();
    cluster.create_db("shop");
    let sandbox = Sandbox::new();
    let bouncer = PgBouncer::start(&sandbox, "shop", &cluster, &["postgres"]);
    assert_eq!(bouncer.query("postgres", "shop", "SELECT 1").unwrap(), "1");
    // The pause holds while a later step sleeps; a query sent meanwhile waits,
    // then gets its answer once the failing step's rollback resumes.
    sandbox.write(
        "pb.yaml",
        &pause_playbook(
            &bouncer.admin_url(),
            "  - id: hold\n    action: shell\n    with: { run: \"touch paused; sleep 1.5; false\" }\n",
        ),
    );
    let mut run = sandbox.spawn(&["run", "pb.yaml"]);
    sandbox.wait_for_file("paused", Duration::from_secs(10));
    assert!(bouncer.paused("shop"), "{}", bouncer.show("DATABASES"));
    let sent = Instant::now();
    let answer = bouncer.query("postgres", "shop", "SELECT 42");
    let waited = sent.elapsed();
    assert_eq!(run.wait().unwrap().code(), Some(3));
    assert_eq!(answer.unwrap(), "42", "the query waited and was answered");
    assert!(waited >= Duration::from_millis(500), "it waited {waited:?}");
    assert!(!bouncer.paused("shop"), "the rollback resumed");
    let journal = sandbox.journal_text(&sandbox.last_run());
    assert!(
        journal.contains("resume PgBouncer database `shop`"),
        "{journal}"
    );
}

#[test]
fn pgbouncer_resume_as_its_own_step_lets_held_queries_through() {
    let cluster = Cluster::start();
    cluster.create_db("shop");
    let sandbox = Sandbox::new();
    let bouncer = PgBouncer::start(&sandbox, "shop", &cluster, &["postgres"]);
    let admin = bouncer.admin_url();
    sandbox.write(
        "pb.yaml",
        &pause_playbook(
            &admin,
            &format!(
                "  - id: hold\n    action: shell\n    with: {{ run: \"touch paused; sleep 1\" }}\n  - id: resume\n    action: pgbouncer.resume\n    with: {{ admin: \"{admin}\", database: shop }}\n"
            ),
        ),
    );
    let mut run = sandbox.spawn(&["run", "pb.yaml"]);
    sandbox.wait_for_file("paused", Duration::from_secs(10));
    assert!(bouncer.paused("shop"), "{}", bouncer.show("DATABASES"));
    let answer = bouncer.query("postgres", "shop", "SELECT 7");
    assert_eq!(run.wait().unwrap().code(), Some(0));
    assert_eq!(
        answer.unwrap(),
        "7",
        "the held query was answered after the resume"
    );
    assert!(!bouncer.paused("shop"));
    // A resume of a database that is not paused is no error (a resumed run).
    sandbox.write(
        "again.yaml",
        &format!(
            "name: again\nsteps:\n  - id: resume\n    action: pgbouncer.resume\n    with: {{ admin: \"{admin}\", database: shop }}\n"
        ),
    );
    sandbox.run(&["run", "again.yaml"]).expect_code(0);
    assert_eq!(bouncer.query("postgres", "shop", "SELECT 1").unwrap(), "1");
}

#[test]
fn a_pause_that_cannot_finish_in_time_names_the_busy_session_and_resumes() {
    let cluster = Cluster::start();
    cluster.create_db("shop");
    let sandbox = Sandbox::new();
    let bouncer = PgBouncer::start(&sandbox, "shop", &cluster, &["postgres"]);
    // A transaction left open by a client holds PAUSE for ever.
    let mut open = Command::new(client_bin("psql"))
        .args([
            "-X",
            "-q",
            "-c",
            "BEGIN",
            "-c",
            "SELECT 1",
            "-c",
            "SELECT pg_sleep(30)",
            &format!(
                "{}?application_name=stuck-worker",
                bouncer.url("postgres", "shop")
            ),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    sandbox.write("pb.yaml", &pause_playbook(&bouncer.admin_url(), ""));
    let started = Instant::now();
    let output = sandbox.run(&["run", "pb.yaml"]);
    let took = started.elapsed();
    let _ = open.kill();
    let _ = open.wait();
    output.expect_code(3);
    assert!(
        output.all().contains(
            "could not be paused within 2 s: 1 still in a transaction (postgres@127.0.0.1:"
        ) && output.all().contains("(stuck-worker)"),
        "{}",
        output.all()
    );
    assert!(took < Duration::from_secs(15), "it took {took:?}");
    assert!(!bouncer.paused("shop"), "the timed-out pause was resumed");
    assert_eq!(bouncer.query("postgres", "shop", "SELECT 1").unwrap(), "1");
}

/// pgbench through PgBouncer for `seconds`: (exit code, its output).
fn pgbench(bouncer: &PgBouncer, user: &str, seconds: u32) -> Child {
    Command::new(client_bin("pgbench"))
        .args([
            "-n",
            "-c",
            "4",
            "-T",
            &seconds.to_string(),
            "-h",
            "127.0.0.1",
            "-p",
            &bouncer.port.to_string(),
            "-U",
            user,
            "shop",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn init_pgbench(cluster: &Cluster) {
    let status = Command::new(client_bin("pgbench"))
        .args(["-i", "-q", "-s", "1", "-h", "127.0.0.1", "-p"])
        .arg(cluster.port.to_string())
        .args(["-U", "postgres", "shop"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "pgbench -i");
}

/// pgbench's verdict: exit 0, no failed transaction, no aborted client.
fn assert_clean(load: Child) -> String {
    let output = load.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(0), "pgbench: {text}");
    assert!(text.contains("number of failed transactions: 0 "), "{text}");
    assert!(!text.contains("aborted"), "{text}");
    text
}

#[test]
fn a_switch_under_load_fails_no_query_and_its_rollback_switches_back() {
    let (old, new) = (Cluster::start(), Cluster::start());
    for cluster in [&old, &new] {
        cluster.create_db("shop");
        init_pgbench(cluster);
    }
    let sandbox = Sandbox::new();
    let bouncer = PgBouncer::start(&sandbox, "shop", &old, &["postgres"]);
    let original = std::fs::read_to_string(&bouncer.ini).unwrap();
    let server_port = || {
        bouncer
            .query("postgres", "shop", "SELECT inet_server_port()")
            .unwrap()
    };
    assert_eq!(server_port(), old.port.to_string());
    sandbox.write(
        "pb.yaml",
        &format!(
            "name: switch\nsteps:\n  - id: switch\n    action: pgbouncer.switch\n    with: {{ admin: \"{}\", config: pgbouncer.ini, database: shop, to: {{ host: 127.0.0.1, port: {} }}, timeout: 5s }}\n  - id: gate\n    action: shell\n    with: {{ run: \"test -f go\" }}\n",
            bouncer.admin_url(),
            new.port
        ),
    );
    sandbox.write("go", "");
    let load = pgbench(&bouncer, "postgres", 4);
    std::thread::sleep(Duration::from_secs(1));
    let output = sandbox.run(&["run", "pb.yaml"]);
    output.expect_code(0);
    let bench = assert_clean(load);
    assert_eq!(
        server_port(),
        new.port.to_string(),
        "new connections reach the new server"
    );
    assert_eq!(
        std::fs::read_to_string(&bouncer.ini).unwrap(),
        original.replace(
            &format!("host=127.0.0.1 port={} dbname=shop", old.port),
            &format!("host=127.0.0.1 port={} dbname=shop", new.port)
        ),
        "only the one entry changed"
    );
    assert!(!bouncer.paused("shop"));
    let processed: u64 = bench
        .lines()
        .find_map(|l| l.strip_prefix("number of transactions actually processed: "))
        .and_then(|n| n.split('/').next()?.trim().parse().ok())
        .unwrap();
    let history = |c: &Cluster| {
        c.sql("shop", "SELECT count(*) FROM pgbench_history")
            .parse::<u64>()
            .unwrap()
    };
    assert_eq!(
        history(&old) + history(&new),
        processed,
        "every acknowledged transaction is on one side"
    );
    assert!(
        history(&new) > 0,
        "pgbench wrote to the new server after the switch"
    );

    // Switch again, then fail: the rollback switches back, file and all.
    std::fs::remove_file(sandbox.path().join("go")).unwrap();
    std::fs::write(&bouncer.ini, &original).unwrap();
    bouncer.query("admin", "pgbouncer", "RELOAD").unwrap();
    let load = pgbench(&bouncer, "postgres", 3);
    std::thread::sleep(Duration::from_millis(500));
    sandbox.run(&["run", "pb.yaml"]).expect_code(3);
    assert_clean(load);
    assert_eq!(std::fs::read_to_string(&bouncer.ini).unwrap(), original);
    assert_eq!(server_port(), old.port.to_string(), "switched back");
    assert!(!bouncer.paused("shop"));
}

#[test]
fn a_switch_that_pgbouncer_does_not_take_puts_the_entry_back_and_resumes() {
    let old = Cluster::start();
    old.create_db("shop");
    let sandbox = Sandbox::new();
    let bouncer = PgBouncer::start(&sandbox, "shop", &old, &["postgres"]);
    let original = std::fs::read_to_string(&bouncer.ini).unwrap();
    // An entry the running PgBouncer does not read: a config file beside it.
    sandbox.write("other.ini", &original);
    sandbox.write(
        "pb.yaml",
        &format!(
            "name: switch\nsteps:\n  - id: switch\n    action: pgbouncer.switch\n    with: {{ admin: \"{}\", config: other.ini, database: shop, to: {{ host: 127.0.0.1, port: 1 }} }}\n",
            bouncer.admin_url()
        ),
    );
    let output = sandbox.run(&["run", "pb.yaml"]);
    output.expect_code(3);
    assert!(
        output
            .all()
            .contains("after RELOAD, PgBouncer runs `shop` against 127.0.0.1:")
            && output.all().contains("instead of 127.0.0.1:1"),
        "{}",
        output.all()
    );
    assert_eq!(sandbox.read("other.ini"), original, "the entry is back");
    assert!(!bouncer.paused("shop"), "resumed");
    assert_eq!(bouncer.query("postgres", "shop", "SELECT 1").unwrap(), "1");
}

#[test]
fn the_pgbouncer_reference_playbook_moves_the_database_with_no_failed_query() {
    use crate::pg_seed::{self, APP_ROLE};
    let (source, target) = (Cluster::start(), Cluster::start());
    source.create_db("shop");
    target.create_db("shop");
    pg_seed::seed(&source, "shop", 2000);
    pg_seed::roles(&target);
    init_pgbench(&source);
    source.sql(
        "shop",
        &format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}; GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}; GRANT CREATE ON SCHEMA public TO {APP_ROLE}"),
    );
    let sandbox = Sandbox::new();
    let bouncer = PgBouncer::start(&sandbox, "shop", &source, &[APP_ROLE, "postgres"]);
    // The application: pgbench through PgBouncer for the whole cutover.
    let load = pgbench(&bouncer, APP_ROLE, 25);
    let deadline = Instant::now() + Duration::from_secs(10);
    while source.sql("shop", "SELECT count(*) FROM pgbench_history") == "0" {
        assert!(
            Instant::now() < deadline,
            "pgbench never wrote through PgBouncer"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("playbooks/postgres-pgbouncer-cutover.yaml"),
    )
    .unwrap();
    sandbox.write("pb.yaml", &text);
    let target_port = target.port.to_string();
    let app_url = bouncer.url(APP_ROLE, "shop");
    let output = sandbox.run_with_env(
        &["run", "pb.yaml"],
        &[
            ("SOURCE_URL", &source.url("shop")),
            ("TARGET_URL", &target.url("shop")),
            ("TARGET_HOST", "127.0.0.1"),
            ("TARGET_PORT", &target_port),
            ("APP_ROLE", APP_ROLE),
            ("APP_URL", &app_url),
            ("PGBOUNCER_ADMIN", &bouncer.admin_url()),
            ("PGBOUNCER_INI", "pgbouncer.ini"),
            ("PGBOUNCER_DB", "shop"),
        ],
    );
    output.expect_code(0);
    // The playbook's canary, writing through PgBouncer too, lost nothing.
    let verdict = sandbox.canary_proved_nothing_lost();
    eprintln!("pgbouncer reference playbook: canary {verdict}");
    // pgbench went on through the whole cutover without a failed query.
    let bench = assert_clean(load);
    let processed: u64 = bench
        .lines()
        .find_map(|l| l.strip_prefix("number of transactions actually processed: "))
        .and_then(|n| n.split('/').next()?.trim().parse().ok())
        .unwrap();
    assert_eq!(
        target.sql("shop", "SELECT count(*) FROM pgbench_history"),
        processed.to_string(),
        "every acknowledged pgbench transaction is on the new cluster"
    );
    let before_switch: u64 = source
        .sql("shop", "SELECT count(*) FROM pgbench_history")
        .parse()
        .unwrap();
    assert!(
        processed > before_switch,
        "pgbench wrote to the new cluster after the switch"
    );
    assert_eq!(
        bouncer
            .query("postgres", "shop", "SELECT inet_server_port()")
            .unwrap(),
        target.port.to_string(),
        "new connections through PgBouncer reach the new cluster"
    );
    sandbox
        .run(&["audit", "verify", &sandbox.last_run()])
        .expect_code(0);
}
