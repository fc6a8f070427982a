//! `Human`: the live display on a terminal — an overall bar with elapsed time and
//! an ETA from the estimates, the current step with a spinner (or a bar when the
//! action reports amounts) and the last line of its output.

use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{describe_record, Observer};
use crate::actions::Progress;
use crate::journal::{Event, Record};
use crate::plan::Plan;
use crate::playbook::format_duration;

pub struct Human {
    multi: MultiProgress,
    overall: ProgressBar,
    step: ProgressBar,
    estimates: std::collections::BTreeMap<String, Duration>,
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
        let human = Self {
            multi,
            overall,
            step,
            estimates,
            remaining,
        };
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

    /// The live display, for prompts that must suspend it.
    pub fn multi(&self) -> &MultiProgress {
        &self.multi
    }
}

impl Observer for Human {
    fn record(&mut self, record: &Record) {
        if let Some(line) = describe_record(record) {
            let _ = self
                .multi
                .println(format!("{} {line}", super::clock(record)));
        }
        match &record.event {
            Event::StepStarted { step, describe, .. } => {
                self.step.set_style(
                    ProgressStyle::with_template("  {spinner} {prefix:.bold} {wide_msg}")
                        .expect("valid template"),
                );
                self.step.set_prefix(step.clone());
                self.step.set_message(describe.clone());
            }
            Event::StepFinished { step, .. } => {
                self.overall.inc(1);
                if let Some(estimate) = self.estimates.get(step) {
                    self.remaining = self.remaining.saturating_sub(*estimate);
                }
                self.show_eta();
                self.step.set_message("");
            }
            Event::CompensationStarted { step, describe, .. } => {
                self.step.set_prefix(format!("undo {step}"));
                self.step.set_message(describe.clone());
            }
            Event::RunFinished { .. } => {
                self.step.finish_and_clear();
                self.overall.abandon();
            }
            _ => {}
        }
    }

    fn progress(&mut self, _step: &str, progress: &Progress) {
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
        }
    }

    fn notice(&mut self, text: &str) {
        let _ = self.multi.println(format!("note: {text}"));
    }

    fn suspend(&mut self, f: &mut dyn FnMut()) {
        self.multi.suspend(f);
    }
}
