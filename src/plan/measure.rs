//! Scaling estimates to the data there is now: each data-moving step's
//! action measures what it would move (`Action::measure`, read-only), and
//! its estimate becomes a fixed part plus that size over the rate its
//! earlier runs moved at (`scale::fit`). `plan --measure` and `run` (before
//! its window check) do it; without it the estimates are unscaled.

use std::collections::BTreeMap;
use std::time::Duration;

use super::scale::{fit, Sample};
use super::{EstimateSource, Plan, PlanItem};
use crate::actions::shared::moved::Moved;
use crate::journal::{Mode, StepRun};

/// The longest one step's measurement may take (a connect has its own timeout).
const MEASURE_TIMEOUT: Duration = Duration::from_secs(30);

/// What each data-moving step would move now, by step id; an error as the
/// text to show (redacted). Steps whose action moves no data are absent.
pub type Measurements = BTreeMap<String, Result<Moved, String>>;

/// Measures every data-moving step at once; nothing is changed anywhere.
pub async fn measure_steps(plan: &Plan) -> Measurements {
    let asks = plan.steps().map(|step| async move {
        let answer = match tokio::time::timeout(MEASURE_TIMEOUT, step.call.action.measure()).await {
            Ok(answer) => answer,
            Err(_) => Some(Err(anyhow::anyhow!(
                "no answer within {}",
                crate::duration::format_duration(MEASURE_TIMEOUT)
            ))),
        };
        (step.id.clone(), answer)
    });
    futures_util::future::join_all(asks)
        .await
        .into_iter()
        .filter_map(|(id, answer)| {
            let answer = answer?.map_err(|e| plan.redactor.redact(&format!("{e:#}")));
            Some((id, answer))
        })
        .collect()
}

impl Plan {
    /// Scales the estimates of the measured steps from their earlier runs
    /// (call after `apply_history`); a step that cannot be scaled keeps its
    /// estimate and gets a `scale_note` saying why.
    pub fn apply_measurements(
        &mut self,
        runs: &BTreeMap<String, Vec<StepRun>>,
        measured: &Measurements,
    ) {
        for item in &mut self.items {
            let PlanItem::Step(step) = item else {
                continue;
            };
            let Some(now) = measured.get(&step.id) else {
                continue;
            };
            let now = match now {
                Ok(now) => now,
                Err(error) => {
                    step.scale_note = Some(format!(
                        "could not measure its source ({error}): the estimate is not scaled"
                    ));
                    continue;
                }
            };
            let recorded: Vec<(&StepRun, Moved)> = runs
                .get(&step.id)
                .into_iter()
                .flatten()
                .filter_map(|run| Moved::from_data(&run.applied).map(|moved| (run, moved)))
                .collect();
            let samples: Vec<Sample> = recorded
                .iter()
                .map(|(run, moved)| Sample {
                    bytes: moved.bytes,
                    duration: run.duration,
                })
                .collect();
            let Some(rate) = fit(&samples) else {
                step.scale_note = Some(if samples.is_empty() {
                    "no earlier run recorded what it moved (rehearse it first): the estimate is not scaled".into()
                } else {
                    "its earlier runs moved nothing to scale by: the estimate is not scaled".into()
                });
                continue;
            };
            // The spread rehearsals showed stays in proportion.
            let spread = match (step.estimate, step.estimate_p90) {
                (Some(median), Some(p90)) if !median.is_zero() => {
                    (p90.as_secs_f64() / median.as_secs_f64()).max(1.0)
                }
                _ => 1.0,
            };
            let estimate = rate.predict(now.bytes);
            step.estimate = Some(estimate);
            step.estimate_p90 = Some(estimate.mul_f64(spread));
            let first = recorded.first().map(|(run, _)| run);
            let one_run = first.filter(|first| recorded.iter().all(|(r, _)| r.run == first.run));
            step.estimate_source = EstimateSource::Scaled {
                runs: samples.len(),
                bytes: now.bytes,
                rate: rate.bytes_per_second.round() as u64,
                fixed_ms: rate.fixed.as_millis() as u64,
                measured_in: one_run.map(|run| {
                    let kind = match run.mode {
                        Mode::Rehearsal => "rehearsal",
                        _ => "live run",
                    };
                    format!("{kind} {}", run.run)
                }),
            };
            step.scale_note = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{compile, EnvMode};
    use crate::playbook::Source;

    fn plan() -> Plan {
        let text = "name: t\nsteps:\n  - id: copy\n    action: postgres.copy\n    with: { source: \"postgres://a@h/db\", target: \"postgres://a@k/db\" }\n    estimate: 9s\n";
        compile(&Source::new("t.yaml", text), EnvMode::Lenient, &[]).unwrap()
    }

    fn run(id: &str, mode: Mode, seconds: u64, bytes: Option<u64>) -> StepRun {
        let applied = match bytes {
            Some(bytes) => Moved {
                bytes,
                ..Moved::default()
            }
            .into_data(serde_json::json!({})),
            None => serde_json::json!({ "already_done": "…" }),
        };
        StepRun {
            run: id.into(),
            mode,
            duration: Duration::from_secs(seconds),
            applied,
        }
    }

    fn measured(answer: Result<u64, &str>) -> Measurements {
        let answer = answer
            .map(|bytes| Moved {
                bytes,
                ..Moved::default()
            })
            .map_err(str::to_string);
        BTreeMap::from([("copy".to_string(), answer)])
    }

    fn scaled(runs: Vec<StepRun>, answer: Result<u64, &str>) -> Plan {
        let mut plan = plan();
        let runs = BTreeMap::from([("copy".to_string(), runs)]);
        plan.apply_history(&crate::journal::durations_of(&runs));
        plan.apply_measurements(&runs, &measured(answer));
        plan
    }

    #[test]
    fn a_rehearsal_on_a_quarter_predicts_four_times_its_duration() {
        let plan = scaled(
            vec![run("R", Mode::Rehearsal, 4, Some(100_000_000))],
            Ok(400_000_000),
        );
        let step = plan.step("copy").unwrap();
        assert_eq!(step.estimate, Some(Duration::from_secs(16)));
        assert_eq!(step.estimate_p90, Some(Duration::from_secs(16)));
        assert_eq!(
            step.estimate_source,
            EstimateSource::Scaled {
                runs: 1,
                bytes: 400_000_000,
                rate: 25_000_000,
                fixed_ms: 0,
                measured_in: Some("rehearsal R".into()),
            }
        );
        assert_eq!(step.scale_note, None);
        assert!(step.slow_after().is_some());
    }

    #[test]
    fn runs_that_recorded_nothing_moved_are_left_out_of_the_rate() {
        let plan = scaled(
            vec![
                run("A", Mode::Live, 1, None),
                run("B", Mode::Live, 10, Some(1_000)),
                run("C", Mode::Live, 20, Some(2_000)),
            ],
            Ok(4_000),
        );
        let step = plan.step("copy").unwrap();
        let estimate = step.estimate.unwrap().as_secs_f64();
        assert!((estimate - 40.0).abs() < 0.01, "{estimate}");
        assert!(matches!(
            &step.estimate_source,
            EstimateSource::Scaled {
                runs: 2,
                measured_in: None,
                ..
            }
        ));
    }

    #[test]
    fn an_unmeasured_source_keeps_the_unscaled_estimate_with_a_note() {
        let plan = scaled(
            vec![run("R", Mode::Rehearsal, 4, Some(100))],
            Err("failed to connect"),
        );
        let step = plan.step("copy").unwrap();
        assert_eq!(step.estimate, Some(Duration::from_secs(4)));
        assert_eq!(step.estimate_source, EstimateSource::History { runs: 1 });
        let note = step.scale_note.as_deref().unwrap();
        assert!(note.contains("failed to connect"), "{note}");
    }

    #[test]
    fn without_a_rehearsal_that_recorded_its_size_nothing_scales() {
        let plan = scaled(Vec::new(), Ok(4_000));
        let step = plan.step("copy").unwrap();
        assert_eq!(step.estimate, Some(Duration::from_secs(9)));
        assert_eq!(step.estimate_source, EstimateSource::Playbook);
        assert!(step
            .scale_note
            .as_deref()
            .unwrap()
            .contains("no earlier run recorded what it moved"));
    }
}
