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

/// The boto3 call behind `Moto::call`: service, method name and JSON kwargs
/// in, JSON out. A kwarg `"Timestamp": "now+N"` becomes the time N seconds from now.
const CALL: &str = r#"
import boto3, datetime, json, sys
client = boto3.client(sys.argv[4], endpoint_url=sys.argv[1], region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
def times(value):
    if isinstance(value, dict):
        return {k: times(v) for k, v in value.items()}
    if isinstance(value, list):
        return [times(v) for v in value]
    if isinstance(value, str) and value.startswith("now"):
        return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=float(value[3:] or 0))
    return value
try:
    reply = getattr(client, sys.argv[2])(**times(json.loads(sys.argv[3])))
except client.exceptions.ClientError as e:
    print(e.response["Error"]["Code"])
    sys.exit(3)
reply.pop("ResponseMetadata", None)
print(json.dumps(reply, default=str))
"#;

impl Moto {
    pub fn start() -> Self {
        // Tests start servers in parallel and moto is slow to listen: a port
        // another moto took meanwhile makes this one exit, and its test would
        // talk to the other's. So: ports never handed out twice in this
        // process, and the server counts as up only when its own process
        // holds the listening socket.
        loop {
            let port = fresh_port();
            let child = Command::new("moto_server")
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("moto_server (pip install \"moto[server]\")");
            let mut moto = Moto { child, port };
            // moto imports every service it emulates before it listens: seconds
            // on an idle machine, far more on a busy one running tests in parallel.
            let deadline = Instant::now() + Duration::from_secs(180);
            loop {
                if let Ok(Some(_)) = moto.child.try_wait() {
                    break; // it could not bind: try another port
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() && listens(moto.child.id(), port)
                {
                    return moto;
                }
                assert!(
                    Instant::now() < deadline,
                    "moto_server never listened on {port}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// The server another `Moto` started (for a thread of the same test);
    /// dropping it leaves the server running.
    pub fn attach(port: u16) -> MotoRef {
        MotoRef { port }
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
        self.call_service("rds", method, args)
    }

    /// One call to any service (`route53`, `elbv2`, `ec2` …) through boto3.
    pub fn call_on(
        &self,
        service: &str,
        method: &str,
        args: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        self.call_service(service, method, args)
    }

    /// One call to any service moto answers (`cloudwatch`, `route53` …).
    pub fn call_service(
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

/// A handle on a running `Moto` by its port.
pub struct MotoRef {
    port: u16,
}

impl MotoRef {
    pub fn put_rds_metric(&self, instance: &str, metric: &str, value: f64, seconds_ago: u32) {
        put_rds_metric(
            &format!("http://127.0.0.1:{}", self.port),
            instance,
            metric,
            value,
            seconds_ago,
        );
    }
}

fn put_rds_metric(url: &str, instance: &str, metric: &str, value: f64, seconds_ago: u32) {
    let args = serde_json::json!({
        "Namespace": "AWS/RDS",
        "MetricData": [{
            "MetricName": metric,
            "Dimensions": [{ "Name": "DBInstanceIdentifier", "Value": instance }],
            "Value": value,
            "Timestamp": format!("now-{seconds_ago}"),
        }],
    });
    let output = Command::new("python3")
        .args([
            "-c",
            CALL,
            url,
            "put_metric_data",
            &args.to_string(),
            "cloudwatch",
        ])
        .output()
        .expect("python3 with boto3");
    assert!(
        output.status.success(),
        "put_metric_data: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Moto {
    /// One datapoint of an `AWS/RDS` metric of `instance`, `seconds_ago` old.
    pub fn put_rds_metric(&self, instance: &str, metric: &str, value: f64, seconds_ago: u32) {
        put_rds_metric(&self.url(), instance, metric, value, seconds_ago);
    }

    /// Every DB instance id moto knows.
    pub fn instance_ids(&self) -> Vec<String> {
        let reply = self
            .call("describe_db_instances", serde_json::json!({}))
            .expect("describe_db_instances");
        reply["DBInstances"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["DBInstanceIdentifier"].as_str().map(str::to_string))
            .collect()
    }
}

/// A loopback port no other test of this process was given.
fn fresh_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// True when process `pid` holds the socket listening on `port`.
fn listens(pid: u32, port: u16) -> bool {
    let wanted = format!(":{port:04X} ");
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
        return true;
    };
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local address, state 0A = LISTEN, inode
            (fields.len() > 9 && format!("{} ", fields[1]).ends_with(&wanted) && fields[3] == "0A")
                .then(|| fields[9].to_string())
        })
        .collect();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .map(|target| {
                let target = target.to_string_lossy().to_string();
                inodes
                    .iter()
                    .any(|inode| target == format!("socket:[{inode}]"))
            })
            .unwrap_or(false)
    })
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
