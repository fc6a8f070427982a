//! `route53.swap`, `elbv2.swap` and `rds.proxy_swap` through the real binary
//! against a real `moto_server`: each swap moves what the application
//! resolves or connects through, checked with boto3 from outside cutover, and
//! a later failing step rolls it back to exactly what it was.

use std::time::Instant;

use crate::moto::{Moto, SECRET};
use crate::support::{Output, Sandbox};

fn run(sandbox: &Sandbox, moto: &Moto, args: &[&str]) -> Output {
    let env = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let output = sandbox.run_with_env(args, &env);
    assert!(!output.all().contains(SECRET), "{}", output.all());
    for id in sandbox.run_ids() {
        assert!(!sandbox.journal_text(&id).contains(SECRET));
    }
    output
}

fn applied(sandbox: &Sandbox, step: &str) -> serde_json::Value {
    sandbox
        .journal(&sandbox.last_run())
        .into_iter()
        .find(|r| r["event"] == "step_finished" && r["step"] == step)
        .map(|r| r["data"]["applied"].clone())
        .unwrap_or_else(|| panic!("no step_finished for {step}"))
}

const FAIL: &str = r#"
  - id: smoke
    action: shell
    with: { run: 'exit 1' }
"#;

// --- Route 53 ---------------------------------------------------------------

fn zone(moto: &Moto) -> String {
    let reply = moto
        .call_on(
            "route53",
            "create_hosted_zone",
            serde_json::json!({ "Name": "example.com", "CallerReference": "cutover-test" }),
        )
        .expect("create_hosted_zone");
    reply["HostedZone"]["Id"].as_str().unwrap().to_string()
}

fn upsert(moto: &Moto, zone: &str, set: serde_json::Value) {
    moto.call_on(
        "route53",
        "change_resource_record_sets",
        serde_json::json!({ "HostedZoneId": zone, "ChangeBatch": { "Changes": [
            { "Action": "UPSERT", "ResourceRecordSet": set }
        ]}}),
    )
    .expect("change_resource_record_sets");
}

/// Every record set of `name` (all set identifiers), as Route 53 lists them.
fn records(moto: &Moto, zone: &str, name: &str) -> Vec<serde_json::Value> {
    let reply = moto
        .call_on(
            "route53",
            "list_resource_record_sets",
            serde_json::json!({ "HostedZoneId": zone }),
        )
        .expect("list_resource_record_sets");
    let mut sets: Vec<serde_json::Value> = reply["ResourceRecordSets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["Name"] == format!("{name}."))
        .cloned()
        .collect();
    sets.sort_by_key(|r| r["SetIdentifier"].as_str().unwrap_or_default().to_string());
    sets
}

#[test]
fn route53_swap_points_the_name_at_the_new_value_and_waits_out_the_old_ttl() {
    let moto = Moto::start();
    let zone = zone(&moto);
    upsert(
        &moto,
        &zone,
        serde_json::json!({ "Name": "db.example.com", "Type": "CNAME", "TTL": 2,
                            "ResourceRecords": [{ "Value": "old-db.example.net" }] }),
    );
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &format!(
            r#"
name: dns-swap
steps:
  - id: dns
    action: route53.swap
    with: {{ zone_id: "{zone}", name: db.example.com, type: CNAME, to: new-db.example.net, ttl: 1 }}
"#
        ),
    );
    let dry = run(&sandbox, &moto, &["run", "--dry-run", "pb.yaml"]);
    dry.expect_code(0);
    assert!(
        dry.all()
            .contains("would point Route 53 record db.example.com CNAME in zone `/hostedzone/")
            && dry
                .all()
                .contains("at new-db.example.net (TTL 1s), wait for INSYNC and the old TTL"),
        "{}",
        dry.all()
    );
    assert_eq!(
        records(&moto, &zone, "db.example.com")[0]["ResourceRecords"][0]["Value"],
        "old-db.example.net",
        "a dry run changes nothing"
    );

    let started = Instant::now();
    run(&sandbox, &moto, &["run", "pb.yaml"]).expect_code(0);
    assert!(
        started.elapsed().as_secs_f64() >= 2.0,
        "the old TTL (2 s) was waited out"
    );
    let now = records(&moto, &zone, "db.example.com");
    assert_eq!(now.len(), 1);
    assert_eq!(now[0]["ResourceRecords"][0]["Value"], "new-db.example.net");
    assert_eq!(now[0]["TTL"], 1);
    let data = applied(&sandbox, "dns");
    assert_eq!(data["before"]["values"][0], "old-db.example.net");
    assert_eq!(data["before"]["ttl"], 2);
    assert_eq!(data["waited_ttl_s"], 2);
}

#[test]
fn route53_swap_is_undone_exactly_by_a_later_failure() {
    let moto = Moto::start();
    let zone = zone(&moto);
    // A weighted pair: the swap moves `blue`, `green` must stay untouched.
    let blue = serde_json::json!({ "Name": "app.example.com", "Type": "A", "TTL": 1,
        "SetIdentifier": "blue", "Weight": 70,
        "ResourceRecords": [{ "Value": "10.0.0.1" }, { "Value": "10.0.0.3" }] });
    let green = serde_json::json!({ "Name": "app.example.com", "Type": "A", "TTL": 1,
        "SetIdentifier": "green", "Weight": 30, "ResourceRecords": [{ "Value": "10.0.1.1" }] });
    upsert(&moto, &zone, blue);
    upsert(&moto, &zone, green);
    let before = records(&moto, &zone, "app.example.com");
    assert_eq!(before.len(), 2);
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        &format!(
            r#"
name: dns-undo
steps:
  - id: dns
    action: route53.swap
    with:
      zone_id: "{zone}"
      name: app.example.com
      type: A
      set_identifier: blue
      weight: 100
      to: [10.0.2.1]
      ttl: 1
  - id: fresh
    action: route53.swap
    with: {{ zone_id: "{zone}", name: new.example.com, type: CNAME, to: app.example.com, ttl: 1 }}
{FAIL}"#
        ),
    );
    let output = run(&sandbox, &moto, &["run", "pb.yaml"]);
    output.expect_code(3);
    let events = sandbox.events(&sandbox.last_run());
    for step in ["dns", "fresh"] {
        assert!(
            events.contains(&format!("compensation_finished:{step}")),
            "{events:?}"
        );
    }
    // Both sets exactly as they were: values, TTL, weight, identifier.
    assert_eq!(records(&moto, &zone, "app.example.com"), before);
    // A record that did not exist before the run is gone again.
    assert!(records(&moto, &zone, "new.example.com").is_empty());
}

#[test]
fn route53_swap_parameters_are_checked_by_validate() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        r#"
name: dns-bad
steps:
  - id: dns
    action: route53.swap
    with:
      zone_id: Z1
      name: db.example.com
      type: CNAME
      to: new.example.net
      alias: { dns_name: lb.example.com, zone_id: Z2 }
"#,
    );
    let output = sandbox.run(&["validate", "pb.yaml"]);
    output.expect_code(2);
    assert!(
        output.all().contains("give `to` or `alias`, not both"),
        "{}",
        output.all()
    );
}

// --- ELBv2 ------------------------------------------------------------------

fn target_group(moto: &Moto, targets: &[&str]) -> String {
    let vpcs = moto
        .call_on("ec2", "describe_vpcs", serde_json::json!({}))
        .expect("describe_vpcs");
    let vpc = vpcs["Vpcs"][0]["VpcId"].as_str().unwrap().to_string();
    let group = moto
        .call_on(
            "elbv2",
            "create_target_group",
            serde_json::json!({ "Name": "orders-db", "Protocol": "TCP", "Port": 5432,
                                "VpcId": vpc, "TargetType": "ip" }),
        )
        .expect("create_target_group");
    let arn = group["TargetGroups"][0]["TargetGroupArn"]
        .as_str()
        .unwrap()
        .to_string();
    let targets: Vec<_> = targets
        .iter()
        .map(|id| serde_json::json!({ "Id": id, "Port": 5432 }))
        .collect();
    moto.call_on(
        "elbv2",
        "register_targets",
        serde_json::json!({ "TargetGroupArn": arn, "Targets": targets }),
    )
    .expect("register_targets");
    arn
}

/// `id:port state` of every target in the group, sorted.
fn targets(moto: &Moto, arn: &str) -> Vec<String> {
    let reply = moto
        .call_on(
            "elbv2",
            "describe_target_health",
            serde_json::json!({ "TargetGroupArn": arn }),
        )
        .expect("describe_target_health");
    let mut all: Vec<String> = reply["TargetHealthDescriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{}:{} {}",
                d["Target"]["Id"].as_str().unwrap(),
                d["Target"]["Port"],
                d["TargetHealth"]["State"].as_str().unwrap()
            )
        })
        .collect();
    all.sort();
    all
}

#[test]
fn elbv2_swap_moves_the_target_group_and_a_failure_moves_it_back() {
    let moto = Moto::start();
    let arn = target_group(&moto, &["10.0.0.1", "10.0.0.2"]);
    let sandbox = Sandbox::new();
    // By name in the first playbook, by ARN in the second.
    sandbox.write(
        "pb.yaml",
        r#"
name: lb-swap
steps:
  - id: swap
    action: elbv2.swap
    with: { target_group: orders-db, from: ["10.0.0.1:5432", "10.0.0.2"], to: ["10.0.1.1"], timeout: 30s }
"#,
    );
    let dry = run(&sandbox, &moto, &["run", "--dry-run", "pb.yaml"]);
    dry.expect_code(0);
    assert!(dry.all().contains(
        "would register 10.0.1.1 in target group `orders-db`, wait until healthy, then deregister 10.0.0.1:5432, 10.0.0.2 and wait until drained (at most 30s each)"
    ), "{}", dry.all());
    run(&sandbox, &moto, &["run", "pb.yaml"]).expect_code(0);
    assert_eq!(targets(&moto, &arn), ["10.0.1.1:5432 healthy"]);
    assert_eq!(applied(&sandbox, "swap")["target_group"], arn.as_str());

    sandbox.write(
        "undo.yaml",
        &format!(
            r#"
name: lb-undo
steps:
  - id: swap
    action: elbv2.swap
    with: {{ target_group: "{arn}", from: ["10.0.1.1"], to: ["10.0.2.1", "10.0.2.2"], timeout: 30s }}
{FAIL}"#
        ),
    );
    let output = run(&sandbox, &moto, &["run", "undo.yaml"]);
    output.expect_code(3);
    assert!(sandbox
        .events(&sandbox.last_run())
        .contains(&"compensation_finished:swap".to_string()));
    assert_eq!(targets(&moto, &arn), ["10.0.1.1:5432 healthy"]);
}

#[test]
fn elbv2_swap_on_an_unknown_target_group_shows_the_aws_code() {
    let moto = Moto::start();
    target_group(&moto, &["10.0.0.1"]);
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb.yaml",
        r#"
name: lb-wrong
steps:
  - id: swap
    action: elbv2.swap
    with: { target_group: orders-bd, from: ["10.0.0.1"], to: ["10.0.1.1"] }
"#,
    );
    let output = run(&sandbox, &moto, &["run", "pb.yaml"]);
    output.expect_code(3);
    assert!(
        output
            .all()
            .contains("failed to find target group `orders-bd`"),
        "{}",
        output.all()
    );
    assert!(
        output.all().contains("TargetGroupNotFound"),
        "{}",
        output.all()
    );
}

// --- RDS Proxy --------------------------------------------------------------

fn proxy(moto: &Moto) {
    moto.create_instance("orders", "db.m5.large", 100);
    moto.create_instance("orders-next", "db.m5.large", 100);
    let subnets = moto
        .call_on("ec2", "describe_subnets", serde_json::json!({}))
        .expect("describe_subnets");
    let subnets: Vec<_> = subnets["Subnets"]
        .as_array()
        .unwrap()
        .iter()
        .take(2)
        .map(|s| s["SubnetId"].clone())
        .collect();
    moto.call(
        "create_db_proxy",
        serde_json::json!({
            "DBProxyName": "orders-proxy", "EngineFamily": "POSTGRESQL",
            "Auth": [{ "AuthScheme": "SECRETS", "IAMAuth": "DISABLED",
                       "SecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders" }],
            "RoleArn": "arn:aws:iam::123456789012:role/proxy", "VpcSubnetIds": subnets,
        }),
    )
    .expect("create_db_proxy");
    moto.call(
        "register_db_proxy_targets",
        serde_json::json!({ "DBProxyName": "orders-proxy", "DBInstanceIdentifiers": ["orders"] }),
    )
    .expect("register_db_proxy_targets");
}

fn proxy_targets(moto: &Moto) -> Vec<String> {
    let reply = moto
        .call(
            "describe_db_proxy_targets",
            serde_json::json!({ "DBProxyName": "orders-proxy" }),
        )
        .expect("describe_db_proxy_targets");
    reply["Targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["RdsResourceId"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn rds_proxy_swap_moves_the_proxy_and_a_failure_moves_it_back() {
    let moto = Moto::start();
    proxy(&moto);
    assert_eq!(proxy_targets(&moto), ["orders"]);
    let sandbox = Sandbox::new();
    let step = r#"
name: proxy-swap
steps:
  - id: proxy
    action: rds.proxy_swap
    with: { proxy: orders-proxy, from: orders, to: orders-next, timeout: 30s }
"#;
    sandbox.write("undo.yaml", &format!("{step}{FAIL}"));
    sandbox.write("pb.yaml", step);
    let output = run(&sandbox, &moto, &["run", "undo.yaml"]);
    output.expect_code(3);
    assert!(sandbox
        .events(&sandbox.last_run())
        .contains(&"compensation_finished:proxy".to_string()));
    assert_eq!(
        proxy_targets(&moto),
        ["orders"],
        "rolled back to the old instance"
    );

    let dry = run(&sandbox, &moto, &["run", "--dry-run", "pb.yaml"]);
    dry.expect_code(0);
    assert!(dry.all().contains(
        "would point RDS Proxy `orders-proxy` (target group `default`) at instance `orders-next` instead of instance `orders`"
    ), "{}", dry.all());
    run(&sandbox, &moto, &["run", "pb.yaml"]).expect_code(0);
    assert_eq!(proxy_targets(&moto), ["orders-next"]);
    let data = applied(&sandbox, "proxy");
    assert_eq!(data["registered"], "orders-next");
    assert_eq!(data["deregistered"], "orders");
}
