//! Throwaway MariaDB servers for the MySQL tests: each with its own data
//! directory, port and socket under a temp dir, stopped and removed on drop.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Maria {
    pub port: u16,
    dir: tempfile::TempDir,
    server: Child,
    /// `--ssl` when the server has a certificate (it may refuse plaintext).
    client_args: Vec<&'static str>,
}

fn mariadbd() -> PathBuf {
    ["/usr/sbin/mariadbd", "/usr/sbin/mysqld"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("mariadbd is installed")
}

impl Maria {
    pub fn start() -> Maria {
        Maria::start_with(&[])
    }

    /// A primary for replication: binary log in ROW format, GTIDs, server id 1.
    pub fn start_primary() -> Maria {
        Maria::start_with(&["--log-bin=binlog", "--binlog-format=ROW", "--server-id=1"])
    }

    /// A server with extra `mariadbd` options (`--server-id=2`, `--log-bin`, …).
    pub fn start_with(options: &[&str]) -> Maria {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let install = Command::new("mariadb-install-db")
            .args([
                "--no-defaults",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .arg(format!("--datadir={}", data.display()))
            // Installs sharing /tmp were seen failing (`Unknown table
            // 'mysql.tmp_user_sys'`) when tests start servers in parallel.
            .arg(format!("--tmpdir={}", dir.path().display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("mariadb-install-db");
        assert!(install.success(), "mariadb-install-db failed");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = Command::new(mariadbd())
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", dir.path().join("sock").display()))
            .arg(format!(
                "--log-error={}",
                dir.path().join("error.log").display()
            ))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            // Its own temporary files: servers sharing /tmp were seen
            // failing to delete each other's internal temporary tables.
            .arg(format!("--tmpdir={}", dir.path().display()))
            .args([
                "--user=root",
                "--bind-address=127.0.0.1",
                "--innodb-buffer-pool-size=32M",
            ])
            .arg(format!("--port={port}"))
            .args(options)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd");
        let client_args = if options.iter().any(|o| o.starts_with("--ssl-cert")) {
            vec!["--ssl"]
        } else {
            Vec::new()
        };
        let maria = Maria {
            port,
            dir,
            server,
            client_args,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while maria.try_sql("root", "", "mysql", "SELECT 1").is_err() {
            assert!(
                Instant::now() < deadline,
                "mariadbd never answered on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        maria
    }

    /// The server's error log, for assertion messages.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    pub fn url(&self, db: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs SQL as root and returns the output (tab-separated, no headers).
    pub fn sql(&self, db: &str, sql: &str) -> String {
        self.try_sql("root", "", db, sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    pub fn try_sql(
        &self,
        user: &str,
        password: &str,
        db: &str,
        sql: &str,
    ) -> Result<String, String> {
        let output = Command::new("mariadb")
            .args([
                "-h",
                "127.0.0.1",
                "-P",
                &self.port.to_string(),
                "-u",
                user,
                "-N",
                "-B",
                "--default-character-set=utf8mb4",
            ])
            .arg(format!("--password={password}"))
            .args(&self.client_args)
            .args(["-D", db, "-e", sql])
            .output()
            .map_err(|e| e.to_string())?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
        }
    }

    /// A shop database with the types that break naive copies.
    pub fn seed(&self, db: &str, rows: u32) {
        self.sql(
            "mysql",
            &format!("CREATE DATABASE {db} CHARACTER SET utf8mb4"),
        );
        self.sql(
            db,
            &format!(
                "CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, total DECIMAL(12,2), note TEXT, photo BLOB, attrs JSON, placed DATETIME(6), changed TIMESTAMP(3) NULL);
                 CREATE TABLE audit_log (at DATETIME, line VARCHAR(200));
                 INSERT INTO orders (total, note, photo, attrs, placed, changed)
                   SELECT seq * 1.25, IF(seq % 7 = 0, NULL, CONCAT('order ', seq, ' \u{1F680} ünïcode')), UNHEX(MD5(seq)),
                          JSON_OBJECT('n', seq, 'tags', JSON_ARRAY('a', 'b')), NOW(6) - INTERVAL seq SECOND,
                          IF(seq % 5 = 0, NULL, NOW(3))
                   FROM seq_1_to_{rows};
                 INSERT INTO audit_log SELECT NOW(), CONCAT('line ', seq) FROM seq_1_to_{rows};"
            ),
        );
    }
}

impl Drop for Maria {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = &self.dir;
    }
}
