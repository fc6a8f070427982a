//! `FakeRds`: an `RdsApi` that plays scripted status sequences, for the unit
//! tests of the waiting and state logic (moto reports everything `available`
//! at once, so those paths need a fake).

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};

use super::api::{
    Instance, ModifyRequest, Pending, RdsApi, RdsResult, ReplicaRequest, RestoreRequest, Snapshot,
};
use super::blue_green_api::{BlueGreenApi, CreateRequest, Deployment};
use crate::actions::shared::aws::AwsError;

/// Each id has a queue of states: a describe returns the front and moves on
/// while more remain; `None` is "not found".
#[derive(Default)]
pub struct FakeRds {
    pub instances: RefCell<BTreeMap<String, VecDeque<Option<Instance>>>>,
    pub snapshots: RefCell<BTreeMap<String, VecDeque<Option<Snapshot>>>>,
    pub parameters: RefCell<BTreeMap<String, BTreeMap<String, String>>>,
    /// Calls that change something, as `create_snapshot s1`.
    pub calls: RefCell<Vec<String>>,
    /// What a call does to the instance: the states it goes through.
    pub after_promote: RefCell<Option<Vec<Instance>>>,
    /// Blue/Green deployments by name, as queues of states.
    pub deployments: RefCell<BTreeMap<String, VecDeque<Option<Deployment>>>>,
    /// What a switchover leads to.
    pub after_switchover: RefCell<Vec<Deployment>>,
}

pub fn instance(id: &str, status: &str) -> Instance {
    Instance {
        id: id.into(),
        status: status.into(),
        class: "db.m5.large".into(),
        engine: "postgres".into(),
        engine_version: "16.3".into(),
        storage_type: "gp3".into(),
        allocated_storage: 100,
        parameter_groups: vec!["default.postgres16".into()],
        ..Instance::default()
    }
}

pub fn snapshot(id: &str, instance: &str, status: &str, percent: i32) -> Snapshot {
    Snapshot {
        id: id.into(),
        instance: instance.into(),
        status: status.into(),
        percent_progress: percent,
        ..Snapshot::default()
    }
}

impl FakeRds {
    pub fn with_instance(self, states: Vec<Instance>) -> Self {
        let id = states[0].id.clone();
        self.set_instance(&id, states.into_iter().map(Some).collect());
        self
    }

    pub fn set_instance(&self, id: &str, states: Vec<Option<Instance>>) {
        self.instances.borrow_mut().insert(id.into(), states.into());
    }

    pub fn set_snapshot(&self, id: &str, states: Vec<Option<Snapshot>>) {
        self.snapshots.borrow_mut().insert(id.into(), states.into());
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }

    fn call(&self, text: String) {
        self.calls.borrow_mut().push(text);
    }

    fn current_instance(&self, id: &str) -> Option<Instance> {
        self.instances
            .borrow()
            .get(id)
            .and_then(|q| q.back().cloned().flatten())
    }
}

fn next<T: Clone>(queue: Option<&mut VecDeque<Option<T>>>) -> Option<T> {
    let queue = queue?;
    let front = queue.front().cloned().flatten();
    if queue.len() > 1 {
        queue.pop_front();
    }
    front
}

fn not_found(kind: &str, id: &str) -> AwsError {
    AwsError::new(format!("{kind}NotFound"), format!("{kind} {id} not found."))
}

impl RdsApi for FakeRds {
    async fn instance(&self, id: &str) -> RdsResult<Option<Instance>> {
        Ok(next(self.instances.borrow_mut().get_mut(id)))
    }

    async fn snapshot(&self, id: &str) -> RdsResult<Option<Snapshot>> {
        Ok(next(self.snapshots.borrow_mut().get_mut(id)))
    }

    async fn create_snapshot(
        &self,
        instance: &str,
        id: &str,
        tags: &BTreeMap<String, String>,
    ) -> RdsResult<Snapshot> {
        self.call(format!("create_snapshot {id}"));
        if self.current_instance(instance).is_none() {
            return Err(not_found("DBInstance", instance));
        }
        let states: Vec<Option<Snapshot>> = [("creating", 0), ("creating", 40), ("available", 100)]
            .iter()
            .map(|(status, pct)| {
                Some(Snapshot {
                    tags: tags.clone(),
                    ..snapshot(id, instance, status, *pct)
                })
            })
            .collect();
        let first = states[0].clone().unwrap_or_default();
        self.set_snapshot(id, states);
        Ok(first)
    }

    async fn delete_snapshot(&self, id: &str) -> RdsResult<()> {
        self.call(format!("delete_snapshot {id}"));
        self.set_snapshot(id, vec![None]);
        Ok(())
    }

    async fn restore(&self, request: &RestoreRequest) -> RdsResult<Instance> {
        self.call(format!("restore {} {}", request.snapshot, request.instance));
        let mut states = Vec::new();
        for status in ["creating", "backing-up", "available"] {
            states.push(Some(Instance {
                tags: request.tags.clone(),
                class: request.class.clone().unwrap_or("db.m5.large".into()),
                ..instance(&request.instance, status)
            }));
        }
        self.set_instance(&request.instance, states.clone());
        Ok(states[0].clone().unwrap_or_default())
    }

    async fn create_replica(&self, request: &ReplicaRequest) -> RdsResult<Instance> {
        self.call(format!(
            "create_replica {} {}",
            request.source, request.instance
        ));
        if self.current_instance(&request.source).is_none() {
            return Err(not_found("DBInstance", &request.source));
        }
        let states: Vec<Option<Instance>> = ["creating", "available"]
            .iter()
            .map(|status| {
                Some(Instance {
                    tags: request.tags.clone(),
                    replica_source: Some(request.source.clone()),
                    ..instance(&request.instance, status)
                })
            })
            .collect();
        self.set_instance(&request.instance, states.clone());
        Ok(states[0].clone().unwrap_or_default())
    }

    async fn promote(&self, id: &str) -> RdsResult<Instance> {
        self.call(format!("promote {id}"));
        let now = self
            .current_instance(id)
            .ok_or_else(|| not_found("DBInstance", id))?;
        let states = self.after_promote.borrow().clone().unwrap_or_else(|| {
            vec![
                Instance {
                    status: "modifying".into(),
                    ..now.clone()
                },
                Instance {
                    status: "backing-up".into(),
                    replica_source: None,
                    ..now.clone()
                },
                Instance {
                    status: "available".into(),
                    replica_source: None,
                    ..now.clone()
                },
            ]
        });
        self.set_instance(id, states.into_iter().map(Some).collect());
        Ok(now)
    }

    async fn modify(&self, request: &ModifyRequest) -> RdsResult<Instance> {
        self.call(format!("modify {}", request.instance));
        let now = self
            .current_instance(&request.instance)
            .ok_or_else(|| not_found("DBInstance", &request.instance))?;
        let pending = Instance {
            pending: Pending {
                class: request.class.clone(),
                allocated_storage: request.allocated_storage,
                iops: request.iops,
            },
            ..now.clone()
        };
        let mut states = vec![Some(pending.clone())];
        if request.apply_immediately {
            states.push(Some(Instance {
                status: "modifying".into(),
                ..pending
            }));
            states.push(Some(Instance {
                class: request.class.clone().unwrap_or(now.class.clone()),
                allocated_storage: request.allocated_storage.unwrap_or(now.allocated_storage),
                iops: request.iops.or(now.iops),
                ..now.clone()
            }));
        }
        self.set_instance(&request.instance, states);
        Ok(now)
    }

    async fn delete_instance(&self, id: &str, final_snapshot: Option<&str>) -> RdsResult<()> {
        self.call(format!("delete_instance {id} {final_snapshot:?}"));
        let now = self
            .current_instance(id)
            .ok_or_else(|| not_found("DBInstance", id))?;
        self.set_instance(
            id,
            vec![
                Some(Instance {
                    status: "deleting".into(),
                    ..now
                }),
                None,
            ],
        );
        Ok(())
    }

    async fn parameters(&self, group: &str) -> RdsResult<BTreeMap<String, String>> {
        self.parameters
            .borrow()
            .get(group)
            .cloned()
            .ok_or_else(|| not_found("DBParameterGroup", group))
    }
}

impl BlueGreenApi for FakeRds {
    async fn deployment(&self, name: &str) -> RdsResult<Option<Deployment>> {
        Ok(next(self.deployments.borrow_mut().get_mut(name)))
    }

    async fn create_deployment(&self, request: &CreateRequest) -> RdsResult<Deployment> {
        self.call(format!("create_deployment {}", request.name));
        let base = Deployment {
            id: "bgd-1".into(),
            name: request.name.clone(),
            source: request.source_arn.clone(),
            tags: request.tags.clone(),
            ..Deployment::default()
        };
        let states: Vec<Option<Deployment>> = [
            ("PROVISIONING", None, "IN_PROGRESS"),
            (
                "PROVISIONING",
                Some("arn:aws:rds:us-east-1:1:db:blue-green-abc"),
                "IN_PROGRESS",
            ),
            (
                "AVAILABLE",
                Some("arn:aws:rds:us-east-1:1:db:blue-green-abc"),
                "COMPLETED",
            ),
        ]
        .iter()
        .map(|(status, target, task)| {
            Some(Deployment {
                status: status.to_string(),
                target: target.map(str::to_string),
                tasks: vec![("CREATING_READ_REPLICA_OF_SOURCE".into(), task.to_string())],
                ..base.clone()
            })
        })
        .collect();
        self.deployments
            .borrow_mut()
            .insert(request.name.clone(), states.into());
        Ok(base)
    }

    async fn switchover(&self, id: &str, _timeout: std::time::Duration) -> RdsResult<()> {
        self.call(format!("switchover {id}"));
        let after = self.after_switchover.borrow().clone();
        if let Some(name) = after.first().map(|d| d.name.clone()) {
            self.deployments
                .borrow_mut()
                .insert(name, after.into_iter().map(Some).collect());
        }
        Ok(())
    }

    async fn delete_deployment(&self, id: &str, delete_target: bool) -> RdsResult<()> {
        self.call(format!(
            "delete_deployment {id} delete_target={delete_target}"
        ));
        Ok(())
    }

    async fn tag(&self, arn: &str, _tags: &BTreeMap<String, String>) -> RdsResult<()> {
        self.call(format!("tag {arn}"));
        Ok(())
    }
}
