//! `Applied` and `ActionFailure`: what an action's `apply` returns.

/// What a successful apply leaves behind: enough for the journal, a rollback and
/// a resume.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// Action-specific facts (a snapshot id, the servers swapped), journaled.
    pub data: serde_json::Value,
    pub exit_status: Option<i32>,
    /// The last lines of output, journaled with the step.
    pub output_tail: Option<String>,
}

/// Why an apply failed, with whatever output helps the operator.
#[derive(Debug)]
pub struct ActionFailure {
    pub error: anyhow::Error,
    pub exit_status: Option<i32>,
    pub output_tail: Option<String>,
}

impl ActionFailure {
    pub fn output(mut self, exit_status: Option<i32>, output_tail: Option<String>) -> Self {
        self.exit_status = exit_status;
        self.output_tail = output_tail;
        self
    }
}

impl From<anyhow::Error> for ActionFailure {
    fn from(error: anyhow::Error) -> Self {
        Self {
            error,
            exit_status: None,
            output_tail: None,
        }
    }
}
