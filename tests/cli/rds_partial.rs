//! RDS actions failed half-way against a real `moto_server`: a proxy between
//! cutover and moto lets the create call through, then refuses the next
//! DescribeDBInstances (an IAM policy missing `rds:DescribeDBInstances` does
//! exactly this on a real account). The step fails after it made an
//! instance; its undo deletes that instance, and nothing else.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use crate::moto::Moto;
use crate::support::{read_http_request, Sandbox};

/// Forwards every request to moto; after one carrying `Action=<after>`, the
/// next `refuse` calls of `Action=<describe>` get an AccessDenied answer.
struct FaultyProxy {
    port: u16,
    refused: Arc<AtomicU32>,
}

impl FaultyProxy {
    fn start(moto_port: u16, after: &'static str, describe: &'static str, refuse: u32) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let armed = Arc::new(AtomicBool::new(false));
        let left = Arc::new(AtomicU32::new(refuse));
        let refused = Arc::new(AtomicU32::new(0));
        let counted = refused.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (armed, left, counted) = (armed.clone(), left.clone(), counted.clone());
                std::thread::spawn(move || {
                    serve(
                        stream,
                        moto_port,
                        (after, describe),
                        &armed,
                        &left,
                        &counted,
                    )
                });
            }
        });
        FaultyProxy { port, refused }
    }

    fn env(&self, moto: &Moto) -> Vec<(&'static str, String)> {
        let mut env = moto.env();
        for (key, value) in &mut env {
            if *key == "AWS_ENDPOINT_URL" {
                *value = format!("http://127.0.0.1:{}", self.port);
            }
        }
        env
    }
}

/// One request per connection (the answer closes it).
fn serve(
    mut client: TcpStream,
    moto_port: u16,
    (after, describe): (&str, &str),
    armed: &AtomicBool,
    left: &AtomicU32,
    refused: &AtomicU32,
) {
    let (head, body) = read_http_request(&mut client);
    let text = String::from_utf8_lossy(&body);
    if armed.load(Ordering::SeqCst)
        && text.contains(&format!("Action={describe}&"))
        && left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    {
        refused.fetch_add(1, Ordering::SeqCst);
        let xml = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User is not authorized to perform: rds:{describe} (injected by the test)</Message></Error><RequestId>test</RequestId></ErrorResponse>";
        let xml = xml.replace("{describe}", describe);
        let _ = write!(
            client,
            "HTTP/1.1 403 Forbidden\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
            xml.len()
        );
        return;
    }
    if text.contains(&format!("Action={after}")) {
        armed.store(true, Ordering::SeqCst);
    }
    let mut upstream = TcpStream::connect(("127.0.0.1", moto_port)).unwrap();
    let head: String = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    upstream
        .write_all(format!("{head}Connection: close\r\n\r\n").as_bytes())
        .unwrap();
    upstream.write_all(&body).unwrap();
    let mut answer = Vec::new();
    let _ = upstream.read_to_end(&mut answer);
    let _ = client.write_all(&answer);
}

fn run(sandbox: &Sandbox, proxy: &FaultyProxy, moto: &Moto) -> crate::support::Output {
    let env = proxy.env(moto);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    sandbox.run_with_env(&["run", "pb.yaml"], &env)
}

#[test]
fn a_restore_that_fails_after_creating_its_instance_deletes_it_and_keeps_the_backup() {
    let moto = Moto::start();
    moto.create_instance("orders", "db.m5.large", 100);
    let proxy = FaultyProxy::start(
        moto.port,
        "RestoreDBInstanceFromDBSnapshot",
        "DescribeDBInstances",
        1,
    );
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        r#"
name: rds-partial-restore
steps:
  - id: snapshot
    action: rds.snapshot
    with: { instance: orders, snapshot_id: orders-pre-move }
  - id: restore
    action: rds.restore
    with: { snapshot: orders-pre-move, instance: orders-next }
"#,
    );
    let out = run(&sandbox, &proxy, &moto);
    out.expect_code(3);
    let all = out.all();
    assert_eq!(proxy.refused.load(Ordering::SeqCst), 1, "{all}");
    assert!(all.contains("AccessDenied"), "{all}");
    // The instance the failed step made is gone; the snapshot before it, a
    // completed backup, is kept (rds.snapshot has no implied rollback).
    assert!(moto.instance("orders-next").is_none(), "{all}");
    assert!(
        moto.snapshots().iter().any(|s| s == "orders-pre-move"),
        "{all}"
    );
    assert!(moto.instance("orders").is_some());
    assert!(all.contains("undone: `restore`"), "{all}");
}

#[test]
fn a_read_replica_that_fails_after_creating_it_deletes_it_and_spares_its_source() {
    let moto = Moto::start();
    moto.create_instance("orders", "db.m5.large", 100);
    let proxy = FaultyProxy::start(
        moto.port,
        "CreateDBInstanceReadReplica",
        "DescribeDBInstances",
        1,
    );
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        r#"
name: rds-partial-replica
steps:
  - id: replica
    action: rds.read_replica
    with: { source: orders, instance: orders-replica }
"#,
    );
    let out = run(&sandbox, &proxy, &moto);
    out.expect_code(3);
    let all = out.all();
    assert_eq!(proxy.refused.load(Ordering::SeqCst), 1, "{all}");
    assert!(moto.instance("orders-replica").is_none(), "{all}");
    assert!(moto.instance("orders").is_some());
    assert!(all.contains("undone: `replica`"), "{all}");
}

#[test]
fn a_snapshot_that_fails_while_it_is_made_is_deleted_with_delete_on_rollback() {
    let moto = Moto::start();
    moto.create_instance("orders", "db.m5.large", 100);
    let proxy = FaultyProxy::start(moto.port, "CreateDBSnapshot", "DescribeDBSnapshots", 1);
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        r#"
name: rds-partial-snapshot
steps:
  - id: snapshot
    action: rds.snapshot
    with: { instance: orders, snapshot_id: orders-scratch, delete_on_rollback: true }
"#,
    );
    let out = run(&sandbox, &proxy, &moto);
    out.expect_code(3);
    let all = out.all();
    assert_eq!(proxy.refused.load(Ordering::SeqCst), 1, "{all}");
    assert!(
        !moto.snapshots().iter().any(|s| s == "orders-scratch"),
        "{all}"
    );
    assert!(moto.instance("orders").is_some());
    assert!(all.contains("undone: `snapshot`"), "{all}");
}
