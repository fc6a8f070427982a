//! `Cluster`: a throwaway PostgreSQL server for one test — its own data
//! directory (copied from a template made once per test process by initdb), a
//! free loopback port and its own socket directory. Runs as the `postgres`
//! user when the tests run as root. Stopped and removed on drop, panics included.

#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The password of the optional password-checked role (`Cluster::with_password_role`).
pub const ROLE_PASSWORD: &str = "s3cret-Pa55word";

/// How a cluster is started.
#[derive(Clone)]
pub struct ClusterOptions {
    pub wal_level: &'static str,
    /// A role that must give `ROLE_PASSWORD` (scram-sha-256) over TCP.
    pub password_role: Option<&'static str>,
    /// More `-c name=value` server settings.
    pub settings: Vec<(&'static str, &'static str)>,
    /// `ssl = on` with this certificate, key and client CA.
    pub tls: Option<ServerTls>,
    /// The whole pg_hba.conf, instead of trust for everyone.
    pub hba: Option<String>,
}

/// A server's certificate, its key, and the CA of the client certificates it accepts.
#[derive(Clone)]
pub struct ServerTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            wal_level: "logical",
            password_role: None,
            settings: Vec::new(),
            tls: None,
            hba: None,
        }
    }
}

pub struct Cluster {
    root: PathBuf,
    pub port: u16,
    postmaster: Child,
    options: ClusterOptions,
    tls_settings: Vec<String>,
}

impl Cluster {
    /// A cluster with `wal_level=logical` and trust authentication.
    pub fn start() -> Cluster {
        Self::start_with(ClusterOptions::default())
    }

    pub fn start_with(options: ClusterOptions) -> Cluster {
        let mut last_error = String::new();
        // A free port can be taken by another test between the probe and the
        // bind: try a few.
        for _ in 0..5 {
            match Self::try_start(&options) {
                Ok(cluster) => return cluster,
                Err(error) => last_error = error,
            }
        }
        panic!("could not start a PostgreSQL cluster: {last_error}");
    }

    fn try_start(options: &ClusterOptions) -> Result<Cluster, String> {
        let root = scratch_dir("cutover-pg");
        let data = root.join("data");
        copy_dir(template(), &data);
        let socket_dir = root.join("socket");
        std::fs::create_dir(&socket_dir).unwrap();
        chmod(&socket_dir, 0o777);
        let mut hba = String::new();
        if let Some(role) = options.password_role {
            hba.push_str(&format!("host all {role} 127.0.0.1/32 scram-sha-256\n"));
        }
        hba.push_str("local all all trust\nhost all all 127.0.0.1/32 trust\n");
        hba.push_str("local replication all trust\nhost replication all 127.0.0.1/32 trust\n");
        if let Some(custom) = &options.hba {
            hba = custom.clone();
        }
        std::fs::write(data.join("pg_hba.conf"), hba).unwrap();
        let mut tls_settings = Vec::new();
        if let Some(tls) = &options.tls {
            // The server insists on a key only it can read.
            let dir = root.join("tls");
            std::fs::create_dir(&dir).unwrap();
            for (from, name, setting) in [
                (&tls.cert, "server.crt", "ssl_cert_file"),
                (&tls.key, "server.key", "ssl_key_file"),
                (&tls.ca, "ca.crt", "ssl_ca_file"),
            ] {
                let to = dir.join(name);
                std::fs::copy(from, &to).unwrap();
                chmod(&to, if name == "server.key" { 0o600 } else { 0o644 });
                chown_to_postgres(&to);
                tls_settings.push(format!("{setting}={}", to.display()));
            }
            tls_settings.push("ssl=on".to_string());
        }
        let port = free_port();
        let postmaster = spawn_postmaster(&root, port, options, &tls_settings)?;
        let mut cluster = Cluster {
            root,
            port,
            postmaster,
            options: options.clone(),
            tls_settings,
        };
        cluster.wait_ready()?;
        if let Some(role) = options.password_role {
            cluster.sql(
                "postgres",
                &format!("CREATE ROLE {role} LOGIN PASSWORD '{ROLE_PASSWORD}' SUPERUSER"),
            );
        }
        Ok(cluster)
    }

    /// Stops the server at once, as a crash would (immediate shutdown),
    /// keeping its data for `start_again`.
    pub fn stop(&mut self) {
        unsafe {
            libc::kill(self.postmaster.id() as i32, libc::SIGQUIT);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.postmaster.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.postmaster.kill();
        let _ = self.postmaster.wait();
    }

    /// Starts a stopped server again on the same port and data.
    pub fn start_again(&mut self) {
        let _ = std::fs::remove_file(self.root.join("data/postmaster.pid"));
        self.postmaster =
            spawn_postmaster(&self.root, self.port, &self.options, &self.tls_settings)
                .expect("restart postgres");
        self.wait_ready().expect("restarted postgres ready");
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let pid_file = self.root.join("data/postmaster.pid");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.postmaster.try_wait() {
                return Err(format!("postgres exited ({status}): {}", self.log()));
            }
            let text = std::fs::read_to_string(&pid_file).unwrap_or_default();
            if text.lines().nth(7).map(str::trim) == Some("ready") {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Err(format!("postgres not ready in 20 s: {}", self.log()))
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default()
    }

    /// A URL for `db` as the superuser `postgres` over TCP.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// A URL for `db` as `user` with `password`.
    pub fn url_as(&self, user: &str, password: &str, db: &str) -> String {
        format!("postgres://{user}:{password}@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs SQL through psql as `postgres`; returns unaligned, tuples-only output.
    #[track_caller]
    pub fn sql(&self, db: &str, sql: &str) -> String {
        match self.try_sql("postgres", db, sql) {
            Ok(out) => out,
            Err(error) => panic!("psql failed: {error}\n--- sql\n{sql}"),
        }
    }

    /// Runs SQL as `user`; `Err` carries psql's error output.
    pub fn try_sql(&self, user: &str, db: &str, sql: &str) -> Result<String, String> {
        let output = Command::new(client_bin("psql"))
            .args([
                "-X",
                "-q",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
            ])
            .args(["-p", &self.port.to_string(), "-U", user, "-d", db])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(sql.as_bytes())?;
                child.wait_with_output()
            })
            .expect("run psql");
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    pub fn create_db(&self, db: &str) {
        self.sql("postgres", &format!("CREATE DATABASE {db}"));
    }

    /// Data directory, for a test that needs to look at files.
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// Tablespace `name`, in a directory of this cluster's own owned as its
    /// data directory is (the server insists).
    pub fn create_tablespace(&self, name: &str) {
        use std::os::unix::fs::MetadataExt;
        let dir = self.root.join(format!("tablespace-{name}"));
        std::fs::create_dir(&dir).unwrap();
        let owner = std::fs::metadata(self.data_dir()).unwrap();
        std::os::unix::fs::chown(&dir, Some(owner.uid()), Some(owner.gid())).unwrap();
        self.sql(
            "postgres",
            &format!("CREATE TABLESPACE {name} LOCATION '{}'", dir.display()),
        );
    }
}

/// Starts the postmaster of the cluster in `root` on `port`.
fn spawn_postmaster(
    root: &Path,
    port: u16,
    options: &ClusterOptions,
    tls_settings: &[String],
) -> Result<Child, String> {
    let data = root.join("data");
    let socket_dir = root.join("socket");
    let mut command = Command::new(bin("postgres"));
    command
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-k"])
        .arg(&socket_dir)
        .args(["-c", "listen_addresses=127.0.0.1"])
        .args(["-c", &format!("wal_level={}", options.wal_level)])
        .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
        .args(["-c", "synchronous_commit=off", "-c", "max_connections=60"])
        .args(["-c", "shared_buffers=32MB", "-c", "max_wal_senders=10"])
        .args([
            "-c",
            "max_replication_slots=10",
            "-c",
            "logging_collector=off",
        ])
        .args(
            options
                .settings
                .iter()
                .flat_map(|(k, v)| ["-c".to_string(), format!("{k}={v}")]),
        )
        .args(
            tls_settings
                .iter()
                .flat_map(|s| ["-c".to_string(), s.clone()]),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    as_postgres(&mut command);
    // Its libpq (a subscription's worker) looks for `~/.postgresql/`: not root's.
    command.env("HOME", root);
    // SAFETY: prctl is async-signal-safe; the server dies with the test
    // thread that started it, so a crashed test leaves no server behind.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join("server.log"))
        .map_err(|e| format!("server.log: {e}"))?;
    command.stderr(log);
    command.spawn().map_err(|e| format!("postgres: {e}"))
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // SIGQUIT: immediate shutdown, the postmaster takes its backends down.
        unsafe {
            libc::kill(self.postmaster.id() as i32, libc::SIGQUIT);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.postmaster.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() > deadline => {
                    let _ = self.postmaster.kill();
                    let _ = self.postmaster.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The newest server binaries installed.
pub fn bin(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is installed under /usr/lib/postgresql")
            .flatten()
            .filter_map(|e| {
                let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                let bin = e.path().join("bin");
                bin.join("postgres").is_file().then_some((version, bin))
            })
            .collect();
        versions.sort();
        versions.pop().expect("a PostgreSQL server is installed").1
    })
    .join(name)
}

/// Client tools (psql, pgbench) of the same version as the server.
pub fn client_bin(name: &str) -> PathBuf {
    let path = bin(name);
    if path.is_file() {
        path
    } else {
        PathBuf::from(name)
    }
}

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// initdb and postgres refuse to run as root: run them as `postgres` then.
fn as_postgres(command: &mut Command) {
    if is_root() {
        let (uid, gid) = postgres_ids();
        command.uid(uid).gid(gid);
    }
}

fn postgres_ids() -> (u32, u32) {
    let name = std::ffi::CString::new("postgres").unwrap();
    // SAFETY: getpwnam returns static storage or null; read at once.
    unsafe {
        let entry = libc::getpwnam(name.as_ptr());
        assert!(!entry.is_null(), "no `postgres` user on this machine");
        ((*entry).pw_uid, (*entry).pw_gid)
    }
}

/// Gives `path` to the postgres user when the tests run as root.
fn chown_to_postgres(path: &Path) {
    if is_root() {
        let (uid, gid) = postgres_ids();
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    }
}

/// A fresh directory under /tmp the postgres user can use.
pub fn scratch_dir(prefix: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{n}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    chmod(&dir, 0o777);
    dir
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `cp -a`: keeps the owner (postgres) and the 0700 mode the server insists on.
fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("run cp");
    assert!(status.success(), "cp -a {} failed", from.display());
}

/// One initdb per test process; clusters copy it (0.1 s instead of 1 s).
fn template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let root = scratch_dir("cutover-pg-template");
        let data = root.join("data");
        let mut command = Command::new(bin("initdb"));
        command
            .arg("-D")
            .arg(&data)
            .args(["--no-sync", "-A", "trust", "-U", "postgres", "-E", "UTF8"])
            .args(["--locale=C.UTF-8", "--no-instructions"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        as_postgres(&mut command);
        let output = command.output().expect("run initdb");
        assert!(
            output.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        remove_at_exit(root);
        data
    })
}

fn remove_at_exit(root: PathBuf) {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    let _ = ROOT.set(root);
    extern "C" fn cleanup() {
        if let Some(root) = ROOT.get() {
            let _ = std::fs::remove_dir_all(root);
        }
    }
    // SAFETY: registers a plain function; the test harness exits through exit(3).
    unsafe {
        libc::atexit(cleanup);
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A playbook named `name` with `vars` and the given `steps:` text.
pub fn playbook(name: &str, vars: &[(&str, &str)], steps: &str) -> String {
    let mut text = format!("name: {name}\nvars:\n");
    for (key, value) in vars {
        text.push_str(&format!("  {key}: \"{value}\"\n"));
    }
    text.push_str("steps:\n");
    text.push_str(steps);
    text
}

/// Copies database `db` of `from` into the existing database `db` of `to`
/// with pg_dump | psql (a reference the actions are compared against).
pub fn dump_into(from: &Cluster, to: &Cluster, db: &str) {
    let script = format!(
        "{} -h 127.0.0.1 -p {} -U postgres {db} | {} -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p {} -U postgres {db} >/dev/null",
        client_bin("pg_dump").display(),
        from.port,
        client_bin("psql").display(),
        to.port
    );
    let status = Command::new("bash")
        .args(["-o", "pipefail", "-c", &script])
        .status()
        .unwrap();
    assert!(status.success(), "pg_dump | psql failed");
}
