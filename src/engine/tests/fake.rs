//! `Fake`: an action that does what its script says, one entry per call
//! (succeed, fail, sleep, hang), and writes each call into a shared `Log`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::actions::{
    Action, ActionFailure, ActionRef, Applied, Descriptor, ParamsError, StepContext,
};

/// What one call of a fake does.
#[derive(Debug, Clone, Copy)]
pub enum Call {
    Succeed,
    Fail,
    /// Sleeps this long (tokio time), then succeeds.
    Sleep(Duration),
    /// Never returns: a process killed mid-step, or a timeout.
    Hang,
    /// Notes `{"made": NAME}` (journaled before going on), then fails.
    NoteThenFail(&'static str),
}

/// Every call of every fake of a test, in order: `label #attempt @ms`, the
/// time read from tokio's clock since the log was made.
#[derive(Debug, Clone)]
pub struct Log {
    start: tokio::time::Instant,
    calls: Arc<Mutex<Vec<String>>>,
}

impl Log {
    /// A log whose times count from now.
    pub fn start() -> Self {
        Self {
            start: tokio::time::Instant::now(),
            calls: Arc::default(),
        }
    }

    /// The calls as `label #attempt`.
    pub fn calls(&self) -> Vec<String> {
        self.timed()
            .into_iter()
            .map(|call| call.split(" @").next().unwrap_or_default().to_string())
            .collect()
    }

    /// The calls as `label #attempt @ms`.
    pub fn timed(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn push(&self, label: &str, attempt: u32) {
        let ms = self.start.elapsed().as_millis();
        self.calls
            .lock()
            .unwrap()
            .push(format!("{label} #{attempt} @{ms}ms"));
    }
}

#[derive(Debug)]
pub struct Fake {
    label: String,
    /// What the next calls do; once empty, every call succeeds.
    script: Mutex<VecDeque<Call>>,
    log: Log,
}

impl Fake {
    pub fn action(label: &str, script: &[Call], log: &Log) -> ActionRef {
        Arc::new(Self {
            label: label.to_string(),
            script: Mutex::new(script.iter().copied().collect()),
            log: log.clone(),
        })
    }
}

static DESCRIPTOR: Descriptor = Descriptor {
    name: "test.fake",
    summary: "Does what the test's script says.",
    module: module_path!(),
    decode,
    schema,
};

fn decode(_: serde_json::Value) -> Result<ActionRef, ParamsError> {
    Err(ParamsError {
        path: Vec::new(),
        message: "`test.fake` is built by the engine's tests, not decoded".into(),
    })
}

fn schema(generator: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
    generator.subschema_for::<()>()
}

#[async_trait::async_trait(?Send)]
impl Action for Fake {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn describe(&self) -> String {
        format!("fake {}", self.label)
    }

    async fn apply(&self, cx: &StepContext<'_>) -> Result<Applied, ActionFailure> {
        let call = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Call::Succeed);
        self.log.push(&self.label, cx.attempt);
        // What an undo finds of the step it undoes.
        if let Some(made) = cx.recall("made") {
            self.log
                .push(&format!("{} recalls {made}", self.label), cx.attempt);
        }
        match call {
            Call::Succeed => {}
            Call::Fail => return Err(anyhow::anyhow!("{} broke", self.label).into()),
            Call::Sleep(duration) => tokio::time::sleep(duration).await,
            Call::Hang => std::future::pending::<()>().await,
            Call::NoteThenFail(name) => {
                cx.note(serde_json::json!({ "made": name }))?;
                return Err(anyhow::anyhow!("{} broke after making {name}", self.label).into());
            }
        }
        Ok(Applied::default())
    }

    /// What `compile` would copy into the plan; the engine reads the plan's
    /// flag, which the tests set per step.
    fn idempotent(&self) -> bool {
        true
    }

    // The engine's own tests of partial undo use the real rule in `plan::compensations`.
    fn undoes_partial_failure(&self) -> bool {
        false
    }
}
