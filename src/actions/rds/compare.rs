//! `rds.compare`: a preflight that fails where the target instance is smaller
//! than the source — class (vCPU, memory), storage, IOPS, engine version,
//! capacity parameters — and warns on burstable classes and other differences.

use std::collections::BTreeMap;

use anyhow::bail;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::api::{Instance, RdsApi};
use super::aws::{aws_fields, Here};
use super::classes;
use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Descriptor, Progress, StepContext,
};

/// Parameters whose smaller value on the target is a smaller database.
const CAPACITY: &[&str] = &[
    "max_connections",
    "shared_buffers",
    "effective_cache_size",
    "work_mem",
    "maintenance_work_mem",
    "max_wal_size",
    "max_worker_processes",
    "max_parallel_workers",
    "max_wal_senders",
    "max_replication_slots",
    "innodb_buffer_pool_size",
    "max_user_connections",
];

/// Parameters of `rds.compare`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RdsCompare {
    /// The DB instance in service now.
    pub source: String,
    /// The DB instance that must be at least as big.
    pub target: String,
    /// AWS region; by default from the standard chain.
    #[serde(default)]
    pub region: Option<String>,
    /// A profile of `~/.aws/config`.
    #[serde(default)]
    pub profile: Option<String>,
    /// Another endpoint for RDS; also `AWS_ENDPOINT_URL`.
    #[serde(default)]
    pub endpoint_url: Option<String>,
}

aws_fields!(RdsCompare);

/// What the comparison found.
#[derive(Debug, Default, PartialEq)]
pub struct Findings {
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
}

impl RdsCompare {
    pub async fn run<A: RdsApi>(
        &self,
        api: &A,
        here: &Here<'_>,
    ) -> anyhow::Result<serde_json::Value> {
        let mut found = Vec::new();
        for id in [&self.source, &self.target] {
            match api.instance(id).await? {
                Some(instance) => found.push(instance),
                None => bail!("instance `{id}` does not exist"),
            }
        }
        let (source, target) = (&found[0], &found[1]);
        let mut findings = compare(source, target);
        let (from, to) = (
            parameters(api, source, &mut findings).await,
            parameters(api, target, &mut findings).await,
        );
        if let (Some(from), Some(to)) = (from, to) {
            compare_parameters(&from, &to, &mut findings);
        }
        for warning in &findings.warnings {
            (here.report)(Progress::Output(format!("warning: {warning}")));
        }
        for problem in &findings.problems {
            (here.report)(Progress::Output(format!("smaller: {problem}")));
        }
        if !findings.problems.is_empty() {
            bail!(
                "target `{}` is smaller than source `{}`: {}",
                self.target,
                self.source,
                findings.problems.join("; ")
            );
        }
        Ok(serde_json::json!({
            "source": summary(source),
            "target": summary(target),
            "warnings": findings.warnings,
        }))
    }
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "rds.compare",
    RdsCompare,
    "preflight: fail where the target RDS instance is smaller than the source; warn on burstable classes"
);

#[async_trait(?Send)]
impl Action for RdsCompare {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn describe(&self) -> String {
        format!(
            "check that RDS instance `{}` is at least as big as `{}` (class, storage, IOPS, version, parameters)",
            self.target, self.source
        )
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let api = super::sdk::SdkRds::connect(&self.aws()).await?;
        let data = self.run(&api, &Here::of(cx)).await?;
        Ok(Applied {
            data,
            ..Applied::default()
        })
    }

    // Reads only.
    fn idempotent(&self) -> bool {
        true
    }

    // Reads only.
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}

fn summary(i: &Instance) -> serde_json::Value {
    let size = classes::size(&i.class);
    serde_json::json!({
        "instance": i.id,
        "class": i.class,
        "vcpu": size.map(|s| s.0),
        "memory_gib": size.map(|s| s.1),
        "engine": format!("{} {}", i.engine, i.engine_version),
        "storage": format!("{} {} GiB", i.storage_type, i.allocated_storage),
        "iops": effective_iops(i),
    })
}

async fn parameters<A: RdsApi>(
    api: &A,
    instance: &Instance,
    findings: &mut Findings,
) -> Option<BTreeMap<String, String>> {
    let group = instance.parameter_groups.first()?;
    match api.parameters(group).await {
        Ok(values) => Some(values),
        Err(error) => {
            findings.warnings.push(format!(
                "parameters of `{}` not compared: cannot read group `{group}`: {error}",
                instance.id
            ));
            None
        }
    }
}

/// The instance-level checks, without any call.
pub fn compare(source: &Instance, target: &Instance) -> Findings {
    let mut f = Findings::default();
    if source.engine != target.engine {
        f.problems.push(format!(
            "engine {} differs from the source's {}",
            target.engine, source.engine
        ));
    } else if version(&target.engine_version) < version(&source.engine_version) {
        f.problems.push(format!(
            "engine version {} is older than the source's {}",
            target.engine_version, source.engine_version
        ));
    }
    match (classes::size(&source.class), classes::size(&target.class)) {
        (Some((s_cpu, s_mem)), Some((t_cpu, t_mem))) => {
            if t_cpu < s_cpu {
                f.problems.push(format!(
                    "{} has {t_cpu} vCPU, the source's {} has {s_cpu}",
                    target.class, source.class
                ));
            }
            if t_mem < s_mem {
                f.problems.push(format!(
                    "{} has {t_mem} GiB of memory, the source's {} has {s_mem}",
                    target.class, source.class
                ));
            }
        }
        _ => {
            for class in [&source.class, &target.class] {
                if classes::size(class).is_none() {
                    f.warnings.push(format!(
                        "class {class} is not in cutover's table: vCPU and memory not compared"
                    ));
                }
            }
        }
    }
    if classes::burstable(&target.class) {
        f.warnings.push(format!(
            "{} is burstable: under a backlog its CPU credits can run out, and it then runs at its baseline",
            target.class
        ));
    }
    if target.storage_type == "standard" && source.storage_type != "standard" {
        f.problems.push(format!(
            "storage is magnetic (standard), the source's is {}",
            source.storage_type
        ));
    }
    if target.allocated_storage < source.allocated_storage {
        f.problems.push(format!(
            "{} GiB of storage, the source has {}",
            target.allocated_storage, source.allocated_storage
        ));
    }
    let (s_iops, t_iops) = (effective_iops(source), effective_iops(target));
    if t_iops < s_iops {
        f.problems.push(format!(
            "{t_iops} IOPS ({}), the source has {s_iops} ({})",
            target.storage_type, source.storage_type
        ));
    }
    f
}

/// Provisioned IOPS, or the baseline of the storage type.
fn effective_iops(i: &Instance) -> i32 {
    match (i.storage_type.as_str(), i.iops) {
        (_, Some(iops)) if iops > 0 => iops,
        ("gp2", _) => (3 * i.allocated_storage).clamp(100, 16_000),
        ("gp3", _) => 3_000,
        _ => 100,
    }
}

fn version(text: &str) -> Vec<u64> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Capacity parameters must not shrink; other differences are worth a look.
pub fn compare_parameters(
    source: &BTreeMap<String, String>,
    target: &BTreeMap<String, String>,
    f: &mut Findings,
) {
    for (name, from) in source {
        let Some(to) = target.get(name) else {
            continue;
        };
        if from == to {
            continue;
        }
        match (from.parse::<f64>(), to.parse::<f64>()) {
            (Ok(a), Ok(b)) if CAPACITY.contains(&name.as_str()) && b < a => f
                .problems
                .push(format!("parameter {name} is {to}, the source's is {from}")),
            _ => f.warnings.push(format!(
                "parameter {name} differs: source {from}, target {to}"
            )),
        }
    }
}
