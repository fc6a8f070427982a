//! The terminal side of a run: operator input (approvals), Ctrl-C handling and
//! the choice of reporter.

use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::args::Output;
use crate::actions::{Approval, ApprovalFuture, Input};
use crate::plan::Plan;
use crate::report::{Human, Json, Observer, Plain};

/// True when an operator can be asked: stdin and stderr are terminals.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Approvals from `--approve`, else a prompt on the terminal.
pub struct TerminalInput {
    pub approvals: Vec<String>,
    pub operator: String,
    pub interactive: bool,
    pub display: Option<indicatif::MultiProgress>,
    /// The run's directory, where `cutover approve` leaves approvals.
    pub run_dir: Option<crate::journal::RunDir>,
    /// The shared store, where `cutover approve` from any host leaves them.
    pub store: Option<crate::store::Store>,
}

impl TerminalInput {
    /// Prints a question and reads one line, on a thread of its own: the runtime
    /// keeps serving timeouts and Ctrl-C while the operator thinks.
    async fn ask(&self, question: String) -> String {
        let _hidden = self.display.as_ref().map(HiddenDisplay::new);
        eprint!("{question}");
        let _ = std::io::stderr().flush();
        let (sender, receiver) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut answer = String::new();
            let _ = std::io::stdin().lock().read_line(&mut answer);
            let _ = sender.send(answer);
        });
        receiver.await.unwrap_or_default()
    }

    fn approval(&self, how: &str) -> Approval {
        Approval {
            operator: self.operator.clone(),
            how: how.into(),
        }
    }
}

impl Input for TerminalInput {
    fn approve<'a>(&'a self, step: &'a str, text: &'a str) -> ApprovalFuture<'a> {
        Box::pin(async move {
            if self.approvals.iter().any(|s| s == step) {
                return Ok(self.approval("--approve"));
            }
            if !self.interactive {
                return Err(format!("no terminal to ask on; pass `--approve {step}`"));
            }
            let answer = self
                .ask(format!(
                    "\n{text}\nType `{step}` to approve, anything else declines: "
                ))
                .await;
            if answer.trim() == step {
                Ok(self.approval("prompt"))
            } else {
                Err(format!("declined by {} at the prompt", self.operator))
            }
        })
    }

    fn can_approve(&self, step: &str) -> bool {
        self.interactive || self.approvals.iter().any(|s| s == step)
    }

    fn approvals_given(&self, step: &str) -> Vec<Approval> {
        let Some(run_dir) = &self.run_dir else {
            return Vec::new();
        };
        // A store that does not answer counts nobody: the gate waits (and
        // its timeout ends it), it never passes on a guess.
        super::state::given(self.store.as_ref(), run_dir, step)
            .unwrap_or_default()
            .into_iter()
            .map(|given| Approval {
                operator: given.operator,
                how: format!("`cutover approve` on {} at {}", given.host, given.at),
            })
            .collect()
    }

    fn confirm<'a>(&'a self, item: &'a str, text: &'a str) -> ApprovalFuture<'a> {
        Box::pin(async move {
            if !self.interactive {
                return Err(format!("no terminal to ask on; pass `--confirm {item}`"));
            }
            let answer = self
                .ask(format!("checklist `{item}`: {text}\nConfirm? [y/N] "))
                .await;
            if matches!(answer.trim(), "y" | "Y" | "yes") {
                Ok(self.approval("prompt"))
            } else {
                Err("not confirmed".into())
            }
        })
    }
}

/// Hides the live display while a prompt waits, and shows it again however the
/// wait ends (answered, timed out, interrupted).
struct HiddenDisplay(indicatif::MultiProgress);

impl HiddenDisplay {
    fn new(display: &indicatif::MultiProgress) -> Self {
        display.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        Self(display.clone())
    }
}

impl Drop for HiddenDisplay {
    fn drop(&mut self) {
        self.0
            .set_draw_target(indicatif::ProgressDrawTarget::stderr());
    }
}

/// Watches SIGINT and SIGTERM. SIGTERM, and SIGINT without a terminal, stop the
/// run at once (rolled back to the last checkpoint like a failure). On a
/// terminal, a first Ctrl-C asks for a second one within 10 s, so a stray key
/// does not undo an hour of copying.
pub fn watch_interrupts(interactive: bool) -> watch::Receiver<Option<String>> {
    let (sender, receiver) = watch::channel(None);
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        let mut first_int: Option<Instant> = None;
        loop {
            let name = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
            if name == "SIGINT" && interactive {
                match first_int {
                    Some(at) if at.elapsed() < Duration::from_secs(10) => {}
                    _ => {
                        first_int = Some(Instant::now());
                        eprintln!("\nInterrupt: press Ctrl-C again within 10 s to stop and roll back to the last checkpoint.");
                        continue;
                    }
                }
            }
            let _ = sender.send(Some(name.to_string()));
        }
    });
    receiver
}

/// The reporter for `--output`, and the live display prompts must suspend.
pub fn observer(
    output: Output,
    plan: &Plan,
) -> (Box<dyn Observer>, Option<indicatif::MultiProgress>) {
    match output {
        Output::Json => (Box::new(Json::new(std::io::stdout())), None),
        Output::Text => (Box::new(Plain::new(std::io::stdout())), None),
        Output::Auto if std::io::stderr().is_terminal() => {
            let human = Human::new(plan);
            let display = human.multi().clone();
            (Box::new(human), Some(display))
        }
        Output::Auto => (Box::new(Plain::new(std::io::stdout())), None),
    }
}
