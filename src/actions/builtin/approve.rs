//! `approve`: a manual gate. The run goes on only when an operator approves,
//! at the prompt (typing the step id) or ahead of time with `--approve STEP`
//! — or, with `approvers: N`, when N different operators have: the one at
//! the run's terminal (or its `--approve`) and others with `cutover approve
//! RUN STEP --operator NAME` from any shell. Each approval counted is
//! journaled with who, how and when; a name counts once.

use std::time::Duration;

use anyhow::anyhow;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::actions::{
    descriptor, Action, ActionFailure, Applied, Approval, Descriptor, Gate, Progress, StepContext,
};

/// Parameters of `approve`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approve {
    /// The question put to the operator.
    #[serde(default = "default_text")]
    pub text: String,
    /// How many different operators must approve (default 1).
    #[serde(default = "one", deserialize_with = "at_least_one")]
    pub approvers: u32,
    /// Only these operators' approvals count (default: anyone's).
    #[serde(default)]
    pub from: Vec<String>,
}

fn one() -> u32 {
    1
}

fn at_least_one<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let n = u32::deserialize(deserializer)?;
    if n == 0 {
        return Err(serde::de::Error::custom(
            "`approvers` must be at least 1 (to pass without anyone, remove the step)",
        ));
    }
    Ok(n)
}

/// How often approvals given from elsewhere are looked for.
const POLL: Duration = Duration::from_millis(250);

fn default_text() -> String {
    "Continue?".into()
}

pub static DESCRIPTOR: Descriptor = descriptor!(
    "approve",
    Approve,
    "a manual gate: an operator must approve before the run goes on"
);

impl Approve {
    /// Counts one approval, journaled, unless its operator was counted
    /// already or is not one of `from`.
    fn count(
        &self,
        cx: &StepContext<'_>,
        counted: &mut Vec<Approval>,
        approval: Approval,
    ) -> anyhow::Result<()> {
        if counted.iter().any(|a| a.operator == approval.operator) {
            return Ok(());
        }
        if !self.from.is_empty() && !self.from.contains(&approval.operator) {
            cx.report(Progress::Status(format!(
                "{} is not one of {}: that approval does not count",
                approval.operator,
                self.from.join(", ")
            )));
            return Ok(());
        }
        cx.note(serde_json::json!({
            "approval": { "operator": approval.operator, "how": approval.how, "count": counted.len() + 1 }
        }))?;
        cx.report(Progress::Status(format!(
            "approved by {} ({})",
            approval.operator, approval.how
        )));
        counted.push(approval);
        Ok(())
    }
}

fn names(approvals: &[Approval]) -> String {
    if approvals.is_empty() {
        String::new()
    } else {
        let names: Vec<&str> = approvals.iter().map(|a| a.operator.as_str()).collect();
        format!(" ({})", names.join(", "))
    }
}

#[async_trait(?Send)]
impl Action for Approve {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn describe(&self) -> String {
        let who = match (self.approvers, self.from.is_empty()) {
            (1, true) => String::new(),
            (n, true) => format!(" ({n} different operators)"),
            (n, false) => format!(" ({n} of {})", self.from.join(", ")),
        };
        format!("ask an operator{who}: {}", self.text)
    }

    fn gate(&self) -> Option<Gate> {
        Some(Gate {
            approvers: self.approvers,
            from: self.from.clone(),
        })
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        if self.approvers == 1 && self.from.is_empty() {
            let approval = cx
                .input
                .approve(cx.step, &self.text)
                .await
                .map_err(|why| anyhow!("not approved: {why}"))?;
            return Ok(Applied {
                data: serde_json::json!({ "operator": approval.operator, "how": approval.how }),
                ..Applied::default()
            });
        }
        let mut counted: Vec<Approval> = Vec::new();
        if cx.input.can_approve(cx.step) {
            let approval = cx
                .input
                .approve(cx.step, &self.text)
                .await
                .map_err(|why| anyhow!("not approved: {why}"))?;
            self.count(cx, &mut counted, approval)?;
        }
        let mut last_report = String::new();
        while (counted.len() as u32) < self.approvers {
            for approval in cx.input.approvals_given(cx.step) {
                self.count(cx, &mut counted, approval)?;
            }
            if counted.len() as u32 >= self.approvers {
                break;
            }
            let report = format!(
                "{} of {} approval(s){}; waiting: `cutover approve {} {} --operator NAME`{}",
                counted.len(),
                self.approvers,
                names(&counted),
                cx.run_id,
                cx.step,
                if self.from.is_empty() {
                    String::new()
                } else {
                    format!(" (from {})", self.from.join(", "))
                }
            );
            if report != last_report {
                cx.report(Progress::Status(report.clone()));
                last_report = report;
            }
            tokio::time::sleep(POLL).await;
        }
        Ok(Applied {
            data: serde_json::json!({
                "approvals": counted
                    .iter()
                    .map(|a| serde_json::json!({ "operator": a.operator, "how": a.how }))
                    .collect::<Vec<_>>(),
            }),
            ..Applied::default()
        })
    }

    // Asking again only asks.
    fn idempotent(&self) -> bool {
        true
    }

    // Asks and changes nothing: nothing to undo.
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}
