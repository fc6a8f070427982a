//! `fit`: a data-moving step's duration as a fixed part plus its bytes over a
//! rate, fitted to earlier runs — so a rehearsal on a quarter of the data
//! predicts the whole night, not a quarter of it. Pure: the journal gives the
//! samples, `plan --measure` the size to predict for.

use std::time::Duration;

/// One earlier run of a step: what it moved and how long it took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub bytes: u64,
    pub duration: Duration,
}

/// `duration = fixed + bytes / bytes_per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    pub fixed: Duration,
    pub bytes_per_second: f64,
}

/// Sizes closer than this ratio count as the same data (a rehearsal repeated
/// on one copy): no slope can be told from them.
const SAME_SIZE: f64 = 1.1;

impl Fit {
    /// The predicted duration for `bytes`.
    pub fn predict(&self, bytes: u64) -> Duration {
        self.fixed + Duration::from_secs_f64(bytes as f64 / self.bytes_per_second)
    }
}

/// Fits the samples; None when none of them moved anything (nothing to scale by).
///
/// Samples of one size (one rehearsal, or several on the same data): the
/// fixed part is the shortest run of a sample that moved nothing, else 0,
/// and the rate is the bytes over the rest of the median duration. Two or
/// more sizes: least squares over all samples, with the fixed part clamped at
/// 0 (then a line through the origin) and a slope that must be positive
/// (else the one-size rule on the largest samples).
pub fn fit(samples: &[Sample]) -> Option<Fit> {
    let moving: Vec<&Sample> = samples.iter().filter(|s| s.bytes > 0).collect();
    let largest = moving.iter().map(|s| s.bytes).max()?;
    let smallest = moving.iter().map(|s| s.bytes).min()?;
    if (largest as f64) < smallest as f64 * SAME_SIZE {
        return Some(one_size(samples, &moving));
    }
    let n = samples.len() as f64;
    let x: Vec<f64> = samples.iter().map(|s| s.bytes as f64).collect();
    let y: Vec<f64> = samples.iter().map(|s| s.duration.as_secs_f64()).collect();
    let (mean_x, mean_y) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxx: f64 = x.iter().map(|x| (x - mean_x).powi(2)).sum();
    let sxy: f64 = x
        .iter()
        .zip(&y)
        .map(|(x, y)| (x - mean_x) * (y - mean_y))
        .sum();
    let mut slope = sxy / sxx;
    let mut fixed = mean_y - slope * mean_x;
    if fixed < 0.0 {
        // The best line with no negative fixed part goes through the origin.
        fixed = 0.0;
        slope = x.iter().zip(&y).map(|(x, y)| x * y).sum::<f64>()
            / x.iter().map(|x| x * x).sum::<f64>();
    }
    if !(slope > 0.0 && slope.is_finite()) {
        // Bigger runs were not slower (noise swamped the data): no slope to trust.
        let big: Vec<&Sample> = moving
            .into_iter()
            .filter(|s| s.bytes as f64 * SAME_SIZE > largest as f64)
            .collect();
        return Some(one_size(samples, &big));
    }
    Some(Fit {
        fixed: Duration::from_secs_f64(fixed),
        bytes_per_second: 1.0 / slope,
    })
}

/// The one-size rule over `moving` (non-empty), with the floor from `samples`.
fn one_size(samples: &[Sample], moving: &[&Sample]) -> Fit {
    let mut durations: Vec<Duration> = moving.iter().map(|s| s.duration).collect();
    durations.sort();
    let median = durations[durations.len() / 2];
    let bytes = moving.iter().map(|s| s.bytes as f64).sum::<f64>() / moving.len() as f64;
    let floor = samples
        .iter()
        .filter(|s| s.bytes == 0)
        .map(|s| s.duration)
        .min()
        .unwrap_or_default();
    // A floor as long as the run itself leaves nothing to scale: ignore it.
    let fixed = if floor < median {
        floor
    } else {
        Duration::ZERO
    };
    let moving_time = (median - fixed).as_secs_f64().max(0.001);
    Fit {
        fixed,
        bytes_per_second: bytes / moving_time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(bytes: u64, seconds: f64) -> Sample {
        Sample {
            bytes,
            duration: Duration::from_secs_f64(seconds),
        }
    }

    fn close(a: Duration, b: f64) -> bool {
        (a.as_secs_f64() - b).abs() < 0.01
    }

    #[test]
    fn one_rehearsal_scales_its_whole_duration() {
        let fit = fit(&[sample(100_000_000, 4.0)]).unwrap();
        assert_eq!(fit.fixed, Duration::ZERO);
        assert!((fit.bytes_per_second - 25_000_000.0).abs() < 1.0);
        assert!(close(fit.predict(400_000_000), 16.0));
    }

    #[test]
    fn a_run_that_moved_nothing_gives_the_fixed_part() {
        let fit = fit(&[sample(0, 1.0), sample(100_000_000, 5.0)]).unwrap();
        assert!(close(fit.fixed, 1.0));
        assert!(close(fit.predict(400_000_000), 17.0));
    }

    #[test]
    fn runs_of_one_size_take_their_median() {
        let fit = fit(&[
            sample(100_000_000, 4.0),
            sample(101_000_000, 9.0),
            sample(100_000_000, 5.0),
        ])
        .unwrap();
        assert!(close(fit.predict(100_333_333), 5.0));
    }

    #[test]
    fn two_sizes_give_a_fixed_part_and_a_rate() {
        // 2 s fixed, 50 MB/s.
        let fit = fit(&[
            sample(100_000_000, 4.0),
            sample(400_000_000, 10.0),
            sample(200_000_000, 6.0),
        ])
        .unwrap();
        assert!(close(fit.fixed, 2.0), "{fit:?}");
        assert!((fit.bytes_per_second - 50_000_000.0).abs() < 1000.0);
        assert!(close(fit.predict(1_000_000_000), 22.0));
    }

    #[test]
    fn the_fixed_part_is_never_negative() {
        // A line through these would start at -2 s.
        let fit = fit(&[sample(100_000_000, 2.0), sample(200_000_000, 6.0)]).unwrap();
        assert_eq!(fit.fixed, Duration::ZERO);
        assert!(fit.bytes_per_second > 0.0);
        let predicted = fit.predict(200_000_000).as_secs_f64();
        assert!((4.0..6.0).contains(&predicted), "{predicted}");
    }

    #[test]
    fn a_bigger_run_that_was_faster_falls_back_to_the_largest() {
        let fit = fit(&[sample(100_000_000, 8.0), sample(400_000_000, 4.0)]).unwrap();
        assert!(fit.bytes_per_second > 0.0);
        assert!(close(fit.predict(400_000_000), 4.0), "{fit:?}");
    }

    #[test]
    fn nothing_moved_nothing_to_fit() {
        assert_eq!(fit(&[]), None);
        assert_eq!(fit(&[sample(0, 3.0)]), None);
    }
}
