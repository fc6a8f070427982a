//! `Moto`: a real `moto_server` (PyPI `moto[server]`) on a free loopback port,
//! killed when dropped, and boto3 calls to set it up and look at it — the RDS
//! the `rds.*` tests point the binary at.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A dummy secret that must never show up in output or a journal.
pub const SECRET: &str = "moto-dummy-secret-3f9c1e7a";
pub const ACCESS_KEY: &str = "AKIAMOTODUMMY0001";

pub struct Moto {
    child: Child,
    pub port: u16,
}

/// The boto3 call behind `Moto::call`: method name and JSON kwargs in, JSON out.
const CALL: &str = r#"
import boto3, json, sys
client = boto3.client(sys.argv[4], endpoint_url=sys.argv[1], region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
try:
    reply = getattr(client, sys.argv[2])(**json.loads(sys.argv[3]))
except client.exceptions.ClientError as e:
    print(e.response["Error"]["Code"])
    sys.exit(3)
reply.pop("ResponseMetadata", None)
print(json.dumps(reply, default=str))
"#;

impl Moto {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server (pip install \"moto[server]\")");
        let moto = Moto { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server never listened on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment a step needs: dummy credentials, the region, the endpoint.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET.into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", self.url()),
            // No profile or IMDS lookups from the test machine's own setup.
            ("AWS_CONFIG_FILE", "/dev/null".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// One RDS call through boto3: the reply, or the error code.
    pub fn call(&self, method: &str, args: serde_json::Value) -> Result<serde_json::Value, String> {
        self.call_on("rds", method, args)
    }

    /// One call to any service (`route53`, `elbv2`, `ec2` …) through boto3.
    pub fn call_on(
        &self,
        service: &str,
        method: &str,
        args: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let output = Command::new("python3")
            .args(["-c", CALL, &self.url(), method, &args.to_string(), service])
            .output()
            .expect("python3 with boto3");
        let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
        if output.status.success() {
            Ok(serde_json::from_str(&text).expect("JSON from boto3"))
        } else {
            Err(format!(
                "{text}{}",
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }

    /// A PostgreSQL instance, as a source for the tests.
    pub fn create_instance(&self, id: &str, class: &str, storage: u32) {
        self.create_instance_with(id, class, storage, serde_json::json!({}));
    }

    /// A PostgreSQL instance with more of CreateDBInstance's arguments.
    pub fn create_instance_with(
        &self,
        id: &str,
        class: &str,
        storage: u32,
        more: serde_json::Value,
    ) {
        let mut args = serde_json::json!({
            "DBInstanceIdentifier": id,
            "DBInstanceClass": class,
            "Engine": "postgres",
            "EngineVersion": "16.3",
            "AllocatedStorage": storage,
            "StorageType": "gp3",
            "MasterUsername": "app",
            "MasterUserPassword": "not-a-secret-1",
        });
        if let (Some(args), Some(more)) = (args.as_object_mut(), more.as_object()) {
            args.extend(more.clone());
        }
        self.call("create_db_instance", args)
            .expect("create_db_instance");
    }

    /// A postgres16 parameter group with one value set.
    pub fn parameter_group(&self, name: &str, parameter: &str, value: &str) {
        self.call(
            "create_db_parameter_group",
            serde_json::json!({
                "DBParameterGroupName": name,
                "DBParameterGroupFamily": "postgres16",
                "Description": "cutover test",
            }),
        )
        .expect("create_db_parameter_group");
        self.call(
            "modify_db_parameter_group",
            serde_json::json!({
                "DBParameterGroupName": name,
                "Parameters": [{ "ParameterName": parameter, "ParameterValue": value, "ApplyMethod": "immediate" }],
            }),
        )
        .expect("modify_db_parameter_group");
    }

    /// The instance as RDS describes it, or None.
    pub fn instance(&self, id: &str) -> Option<serde_json::Value> {
        self.call(
            "describe_db_instances",
            serde_json::json!({ "DBInstanceIdentifier": id }),
        )
        .ok()
        .map(|reply| reply["DBInstances"][0].clone())
    }

    /// The snapshot ids RDS knows.
    pub fn snapshots(&self) -> Vec<String> {
        let reply = self
            .call("describe_db_snapshots", serde_json::json!({}))
            .expect("describe_db_snapshots");
        reply["DBSnapshots"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["DBSnapshotIdentifier"].as_str().map(str::to_string))
            // moto makes an automated `rds:` snapshot of every new instance.
            .filter(|id| !id.starts_with("rds:"))
            .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
