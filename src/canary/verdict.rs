//! `Verdict`: what the write canary proved — acknowledged writes, the ones
//! missing at the end, and the longest time no write was acknowledged (the
//! measured write downtime) with the steps it overlapped. Pure: times are
//! milliseconds since the canary started. The `Verdict` itself is journal data.

pub use crate::journal::CanaryVerdict as Verdict;

/// How many missing ids the verdict names.
pub const FIRST_MISSING: usize = 10;

/// One step attempt or compensation, as the run's timeline saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepSpan {
    pub step: String,
    pub start_ms: u64,
    /// None while it runs (the run ended inside it).
    pub end_ms: Option<u64>,
}

/// The longest stretch without an acknowledgement: between two consecutive
/// acknowledgements, or from the last one to `stopped_ms` (writes that never
/// came back are downtime too). `(start, length)`.
pub fn longest_gap(acked_at_ms: &[u64], stopped_ms: u64) -> Option<(u64, u64)> {
    let last = *acked_at_ms.last()?;
    let tail = (last, stopped_ms.saturating_sub(last));
    let gaps = acked_at_ms
        .windows(2)
        .map(|pair| (pair[0], pair[1].saturating_sub(pair[0])));
    Some(
        gaps.chain(std::iter::once(tail))
            .fold((0, 0), |best, gap| if gap.1 > best.1 { gap } else { best }),
    )
}

/// The steps whose time overlaps `[from, to]`, each named once, in order.
pub fn overlapping(spans: &[StepSpan], from: u64, to: u64, now_ms: u64) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for span in spans {
        let end = span.end_ms.unwrap_or(now_ms);
        if span.start_ms <= to && end >= from && !names.contains(&span.step) {
            names.push(span.step.clone());
        }
    }
    names
}

/// Ascending ids as `[first, last]` runs of consecutive ids.
pub fn ranges(ids: &[u64]) -> Vec<(u64, u64)> {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for &id in ids {
        match runs.last_mut() {
            Some(run) if run.1 + 1 == id => run.1 = id,
            _ => runs.push((id, id)),
        }
    }
    runs
}

/// The ids of `ranges`, ascending.
pub fn expand(ranges: &[(u64, u64)]) -> Vec<u64> {
    let mut ids: Vec<u64> = ranges.iter().flat_map(|&(a, b)| a..=b).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The ids of `acked` that `present` lacks (both sorted ascending).
pub fn missing(acked: &[u64], present: &[u64]) -> Vec<u64> {
    let mut present = present.iter().peekable();
    acked
        .iter()
        .copied()
        .filter(|id| {
            while present.next_if(|p| *p < id).is_some() {}
            present.peek() != Some(&id)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(step: &str, start_ms: u64, end_ms: Option<u64>) -> StepSpan {
        StepSpan {
            step: step.into(),
            start_ms,
            end_ms,
        }
    }

    #[test]
    fn the_longest_gap_is_between_acknowledgements_or_after_the_last() {
        assert_eq!(longest_gap(&[0, 10, 20, 450, 460], 470), Some((20, 430)));
        assert_eq!(longest_gap(&[0, 10], 900), Some((10, 890)));
        assert_eq!(longest_gap(&[], 900), None);
    }

    #[test]
    fn the_gap_names_the_steps_it_overlapped() {
        let spans = [
            span("replicate", 0, Some(100)),
            span("freeze", 110, Some(120)),
            span("catch-up", 120, Some(300)),
            span("swap", 300, Some(350)),
            span("thaw", 360, None),
        ];
        assert_eq!(
            overlapping(&spans, 115, 340, 400),
            vec!["freeze", "catch-up", "swap"]
        );
        assert_eq!(overlapping(&spans, 380, 390, 400), vec!["thaw"]);
    }

    #[test]
    fn ids_round_trip_through_ranges() {
        let ids = vec![1, 2, 3, 5, 8, 9];
        assert_eq!(ranges(&ids), vec![(1, 3), (5, 5), (8, 9)]);
        assert_eq!(expand(&ranges(&ids)), ids);
        assert!(ranges(&[]).is_empty());
    }

    #[test]
    fn missing_ids_are_those_acknowledged_and_absent() {
        assert_eq!(missing(&[1, 2, 3, 5, 8], &[1, 3, 4, 5, 9]), vec![2, 8]);
        assert_eq!(missing(&[1, 2], &[1, 2]), Vec::<u64>::new());
        assert_eq!(missing(&[7], &[]), vec![7]);
    }

    #[test]
    fn the_line_reads_like_the_issue_says() {
        let verdict = Verdict {
            acknowledged: 812,
            longest_gap_ms: 410,
            gap_steps: vec!["freeze".into(), "catch-up".into(), "swap".into()],
            ..Verdict::default()
        };
        assert_eq!(
            verdict.line(),
            "write canary: 812 acknowledged, 0 missing, longest gap 0.41 s (freeze → swap)"
        );
        let lost = Verdict {
            acknowledged: 3,
            missing: 1,
            first_missing: vec![2],
            ..Verdict::default()
        };
        assert!(lost.line().contains("1 MISSING (ids 2)"), "{}", lost.line());
    }
}
