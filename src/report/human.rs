//! `Human`: the live display on a terminal — an overall bar with elapsed time and
//! an ETA from the estimates, the current step with a spinner (or a bar when the
//! action reports amounts) and the last line of its output; under it, while a
//! step transfers bytes, a bar of them with the rate and the ETA.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{describe_record, Observer};
use crate::actions::Progress;
use crate::duration::format_duration;
use crate::journal::{Event, Record};
use crate::plan::Plan;

pub struct Human {
    multi: MultiProgress,
    overall: ProgressBar,
    step: ProgressBar,
    /// The running step's bytes bar, while it reports a transfer.
    transfer: Option<ProgressBar>,
    estimates: std::collections::BTreeMap<String, Duration>,
    /// Per step, the time after which it counts as slow: p90 of earlier runs,
    /// else its estimate.
    limits: std::collections::BTreeMap<String, (Duration, &'static str)>,
    /// The running step and when it started, to flag it once past its limit;
    /// shared with a watcher thread, since a silent step reports nothing.
    current: Arc<Mutex<Option<(String, std::time::Instant, bool)>>>,
    remaining: Duration,
}

impl Human {
    pub fn new(plan: &Plan) -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = multi.add(ProgressBar::new(plan.step_count() as u64));
        overall.set_style(
            ProgressStyle::with_template(
                "{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} steps  {elapsed_precise}  {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        overall.set_prefix(plan.name.clone());
        overall.enable_steady_tick(Duration::from_millis(500));
        let step = multi.add(ProgressBar::new_spinner());
        step.set_style(
            ProgressStyle::with_template("  {spinner} {prefix:.bold} {wide_msg}")
                .expect("valid template"),
        );
        step.enable_steady_tick(Duration::from_millis(120));
        let estimates: std::collections::BTreeMap<String, Duration> = plan
            .steps()
            .filter_map(|s| s.estimate.map(|e| (s.id.clone(), e)))
            .collect();
        let remaining = estimates.values().sum();
        let limits = plan
            .steps()
            .filter_map(|s| match (s.estimate_p90, s.estimate) {
                (Some(p90), _) => Some((s.id.clone(), (p90, "p90"))),
                (None, Some(estimate)) => Some((s.id.clone(), (estimate, "estimate"))),
                _ => None,
            })
            .collect();
        let human = Self {
            multi,
            overall,
            step,
            transfer: None,
            estimates,
            limits,
            current: Arc::new(Mutex::new(None)),
            remaining,
        };
        human.watch_slow_steps();
        human.show_eta();
        human
    }

    fn show_eta(&self) {
        if self.remaining > Duration::ZERO {
            self.overall
                .set_message(format!("eta ~{}", format_duration(self.remaining)));
        } else {
            self.overall.set_message(String::new());
        }
    }

    /// Notes, once, when the running step passes its p90 (or estimate): the
    /// moment an operator should start looking.
    fn flag_if_slow(&mut self) {
        flag_if_slow(&self.current, &self.limits, &self.step, &self.multi);
    }

    /// Checks the running step every second, even when it prints nothing.
    fn watch_slow_steps(&self) {
        let (current, limits, step, multi) = (
            self.current.clone(),
            self.limits.clone(),
            self.step.clone(),
            self.multi.clone(),
        );
        std::thread::spawn(move || {
            while !step.is_finished() {
                std::thread::sleep(Duration::from_secs(1));
                flag_if_slow(&current, &limits, &step, &multi);
            }
        });
    }

    /// Shows a transfer on its own bar under the step's line (which keeps
    /// the step's status), created at the first report.
    fn show_transfer(&mut self, done: u64, total: u64, text: String) {
        let bar = self.transfer.get_or_insert_with(|| {
            let bar = self.multi.insert_after(&self.step, ProgressBar::new(total));
            bar.set_style(
                ProgressStyle::with_template("      [{bar:30.green/blue}] {msg}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar
        });
        bar.set_length(total.max(1));
        bar.set_position(done.min(total));
        bar.set_message(text);
    }

    fn end_transfer(&mut self) {
        if let Some(bar) = self.transfer.take() {
            bar.finish_and_clear();
        }
    }

    /// The live display, for prompts that must suspend it.
    pub fn multi(&self) -> &MultiProgress {
        &self.multi
    }
}

impl Observer for Human {
    fn record(&mut self, record: &Record) {
        self.flag_if_slow();
        if let Some(line) = describe_record(record) {
            let _ = self
                .multi
                .println(format!("{} {line}", super::clock(record)));
        }
        match &record.event {
            Event::StepStarted { step, describe, .. } => {
                self.end_transfer();
                // Elapsed time against what earlier runs took, live.
                let against = match self.limits.get(step) {
                    Some((limit, label)) => format!(" / {label} {}", format_duration(*limit)),
                    None => String::new(),
                };
                let template =
                    format!("  {{spinner}} {{prefix:.bold}} [{{elapsed}}{against}] {{wide_msg}}");
                self.step.set_style(
                    ProgressStyle::with_template(&template)
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                self.step.reset_elapsed();
                self.step.set_prefix(step.clone());
                self.step.set_message(describe.clone());
                *self.current.lock().expect("not poisoned") =
                    Some((step.clone(), std::time::Instant::now(), false));
            }
            Event::StepFinished { step, .. } => {
                self.end_transfer();
                self.overall.inc(1);
                if let Some(estimate) = self.estimates.get(step) {
                    self.remaining = self.remaining.saturating_sub(*estimate);
                }
                self.show_eta();
                self.step.set_message("");
            }
            Event::StepFailed { .. } => self.end_transfer(),
            Event::CompensationStarted { step, describe, .. } => {
                self.step.set_prefix(format!("undo {step}"));
                self.step.set_message(describe.clone());
            }
            Event::RunFinished { .. } => {
                self.end_transfer();
                self.step.finish_and_clear();
                self.overall.abandon();
            }
            _ => {}
        }
    }

    fn progress(&mut self, _step: &str, progress: &Progress) {
        self.flag_if_slow();
        match progress {
            Progress::Output(line) | Progress::Status(line) => self.step.set_message(line.clone()),
            Progress::Amount { done, total, unit } => {
                let text = match total {
                    Some(total) if *total > 0 => {
                        format!("{:>3}%  {done}/{total} {unit}", done * 100 / total)
                    }
                    _ => format!("{done} {unit}"),
                };
                self.step.set_message(text);
            }
            Progress::Transfer {
                done,
                total,
                rate,
                eta,
            } => {
                let text = super::transfer::figures(*done, *total, *rate, *eta);
                self.show_transfer(*done, *total, text);
            }
        }
    }

    fn notice(&mut self, text: &str) {
        let _ = self.multi.println(format!("note: {text}"));
    }

    fn suspend(&mut self, f: &mut dyn FnMut()) {
        self.multi.suspend(f);
    }
}

fn flag_if_slow(
    current: &Mutex<Option<(String, std::time::Instant, bool)>>,
    limits: &std::collections::BTreeMap<String, (Duration, &'static str)>,
    bar: &ProgressBar,
    multi: &MultiProgress,
) {
    let mut current = current.lock().expect("not poisoned");
    let Some((step, started, flagged)) = current.as_mut() else {
        return;
    };
    let Some((limit, label)) = limits.get(step.as_str()) else {
        return;
    };
    if !*flagged && started.elapsed() > *limit {
        *flagged = true;
        bar.set_prefix(format!("{step} (past its {label})"));
        let _ = multi.println(format!(
            "note: step `{step}` is taking longer than its {label} ({})",
            format_duration(*limit)
        ));
    }
}
