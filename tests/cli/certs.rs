//! `Certs`: a throwaway certificate authority made with the `openssl`
//! command for one test — CA, server certificates for the names asked, client
//! certificates by common name, an expired server certificate and a second,
//! unrelated CA. The directory is readable by every user (the servers run as
//! `postgres`); keys are 0600, owned by whoever uses them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Certs {
    dir: PathBuf,
}

impl Certs {
    /// A CA `CN=cutover test CA` and a server certificate `server.crt` for
    /// `names` (a subjectAltName list: `DNS:localhost,IP:127.0.0.1`).
    pub fn new(names: &str) -> Certs {
        let dir = crate::pg_cluster::scratch_dir("cutover-certs");
        let certs = Certs { dir };
        certs.ca("ca", "cutover test CA");
        certs.server("server", names);
        certs
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The CA's certificate, as a string for URLs.
    pub fn ca_pem(&self) -> String {
        self.path("ca.crt").display().to_string()
    }

    /// A self-signed CA `NAME.crt` / `NAME.key` that signed nothing here.
    pub fn ca(&self, name: &str, cn: &str) -> PathBuf {
        self.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
            "-days",
            "3650",
            "-subj",
            &format!("/CN={cn}"),
        ]);
        self.path(&format!("{name}.crt"))
    }

    /// `NAME.crt` / `NAME.key`, a server certificate signed by the CA.
    pub fn server(&self, name: &str, names: &str) {
        self.csr(name, "localhost");
        std::fs::write(
            self.path(&format!("{name}.ext")),
            format!(
                "subjectAltName={names}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
            ),
        )
        .unwrap();
        self.sign(name, &["-days", "825"]);
    }

    /// `expired.crt` / `expired.key`: valid for one day in 2020.
    pub fn expired(&self) {
        self.csr("expired", "localhost");
        std::fs::write(
            self.path("expired.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        std::fs::create_dir_all(self.path("newcerts")).unwrap();
        std::fs::write(self.path("index.txt"), "").unwrap();
        std::fs::write(self.path("serial"), "1000\n").unwrap();
        std::fs::write(
            self.path("ca.cnf"),
            format!(
                "[ca]\ndefault_ca = test\n[test]\ndir = {}\ndatabase = $dir/index.txt\nnew_certs_dir = $dir/newcerts\nserial = $dir/serial\ndefault_md = sha256\npolicy = any\n[any]\ncommonName = supplied\n",
                self.dir.display()
            ),
        )
        .unwrap();
        self.openssl(&[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.crt",
            "-keyfile",
            "ca.key",
            "-in",
            "expired.csr",
            "-out",
            "expired.crt",
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20200102000000Z",
            "-extfile",
            "expired.ext",
            "-notext",
        ]);
    }

    /// `NAME.crt` / `NAME.key`, a client certificate for `cn` signed by the CA.
    pub fn client(&self, name: &str, cn: &str) -> (String, String) {
        self.client_of("ca", name, cn)
    }

    /// A client certificate signed by the CA `ca` (`ca.crt` or one made by `ca()`).
    pub fn client_of(&self, ca: &str, name: &str, cn: &str) -> (String, String) {
        self.csr(name, cn);
        std::fs::write(
            self.path(&format!("{name}.ext")),
            "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        self.sign_with(ca, name);
        (
            self.path(&format!("{name}.crt")).display().to_string(),
            self.path(&format!("{name}.key")).display().to_string(),
        )
    }

    /// A rustls server configuration presenting `server.crt`, for the test's
    /// own TLS servers (a stand-in for RDS, an HTTPS application).
    pub fn server_config(&self) -> std::sync::Arc<rustls::ServerConfig> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain = CertificateDer::pem_file_iter(self.path("server.crt"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(self.path("server.key")).unwrap();
        std::sync::Arc::new(
            rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap(),
        )
    }

    fn csr(&self, name: &str, cn: &str) {
        self.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={cn}"),
        ]);
    }

    fn sign(&self, name: &str, extra: &[&str]) {
        self.sign_by("ca", name, extra)
    }

    fn sign_with(&self, ca: &str, name: &str) {
        self.sign_by(ca, name, &["-days", "825"])
    }

    fn sign_by(&self, ca: &str, name: &str, extra: &[&str]) {
        let mut args = vec![
            "x509".to_string(),
            "-req".into(),
            "-in".into(),
            format!("{name}.csr"),
            "-CA".into(),
            format!("{ca}.crt"),
            "-CAkey".into(),
            format!("{ca}.key"),
            "-CAcreateserial".into(),
            "-out".into(),
            format!("{name}.crt"),
            "-extfile".into(),
            format!("{name}.ext"),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.openssl(&args);
    }

    fn openssl(&self, args: &[&str]) {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(&self.dir)
            .output()
            .expect("the `openssl` command is installed");
        assert!(
            output.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        for entry in std::fs::read_dir(&self.dir).unwrap().flatten() {
            let path = entry.path();
            let mode = if path.extension().is_some_and(|e| e == "key") {
                0o600
            } else {
                0o644
            };
            if path.is_file() {
                chmod(&path, mode);
            }
        }
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}
