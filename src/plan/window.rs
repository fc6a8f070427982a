//! `WindowSpec`: when a cutover may run. Weekly ranges (`Sat 22:00 - Sun 06:00`,
//! `Mon-Fri 01:00 - 05:00`) and absolute ones (`2026-12-05T22:00 - 2026-12-06T04:00`)
//! in an IANA time zone, allowed minus denied, turned into real instants with
//! jiff so a daylight-saving change lengthens or shortens a night correctly.

use std::time::Duration;

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// How far ahead `next_fit` looks for a window.
const HORIZON_DAYS: i64 = 35;

/// What to do when the run would not finish inside its window.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OnOverrun {
    /// Treat it as a failure: roll back to the last checkpoint.
    Rollback,
    /// Stop and wait for an operator (outcome `needs_operator`; `cutover resume` later).
    Pause,
    /// Journal a warning and go on.
    Continue,
}

/// One range as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Range {
    /// On each of `days`, from `start` to `end` (`end_days` days later; 0 or 1
    /// when the end time is earlier than the start time).
    Weekly {
        days: Vec<Weekday>,
        start: Time,
        end: Time,
        end_days: i64,
    },
    Absolute {
        start: DateTime,
        end: DateTime,
    },
}

/// A resolved window.
#[derive(Debug, Clone)]
pub struct WindowSpec {
    pub timezone: TimeZone,
    pub timezone_name: String,
    pub allow: Vec<(String, Range)>,
    pub deny: Vec<(String, Range)>,
    pub margin: Duration,
    pub on_overrun: OnOverrun,
}

/// An interval of real time, start inclusive, end exclusive.
pub type Interval = (Timestamp, Timestamp);

/// The verdict on starting (or going on) at a moment with some work left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fit {
    /// Inside an allowed range, and the work fits before it ends minus the margin.
    Fits { closes: Option<Timestamp> },
    /// Inside a denied range, or outside every allowed one.
    Outside { next: Option<Timestamp> },
    /// Inside, but the work would overrun the end (minus the margin).
    TooLong {
        closes: Timestamp,
        next: Option<Timestamp>,
    },
}

const DAYS: [(&str, &str, Weekday); 7] = [
    ("mon", "monday", Weekday::Monday),
    ("tue", "tuesday", Weekday::Tuesday),
    ("wed", "wednesday", Weekday::Wednesday),
    ("thu", "thursday", Weekday::Thursday),
    ("fri", "friday", Weekday::Friday),
    ("sat", "saturday", Weekday::Saturday),
    ("sun", "sunday", Weekday::Sunday),
];

fn parse_day(text: &str) -> Result<Weekday, String> {
    let lower = text.to_ascii_lowercase();
    DAYS.iter()
        .find(|(short, long, _)| lower == *short || lower == *long)
        .map(|(_, _, day)| *day)
        .ok_or_else(|| {
            format!("`{text}` is not a day: expected Mon, Tue, Wed, Thu, Fri, Sat or Sun")
        })
}

/// `Mon-Fri`, `Sat`, `Mon,Wed,Fri`, `daily`.
fn parse_days(text: &str) -> Result<Vec<Weekday>, String> {
    if text.eq_ignore_ascii_case("daily") {
        return Ok(DAYS.iter().map(|(_, _, d)| *d).collect());
    }
    let mut days = Vec::new();
    for part in text.split(',') {
        match part.split_once('-') {
            Some((from, to)) => {
                let (mut day, to) = (parse_day(from.trim())?, parse_day(to.trim())?);
                loop {
                    days.push(day);
                    if day == to {
                        break;
                    }
                    day = day.next();
                }
            }
            None => days.push(parse_day(part.trim())?),
        }
    }
    Ok(days)
}

fn parse_time(text: &str) -> Result<Time, String> {
    text.parse::<Time>()
        .map_err(|_| format!("`{text}` is not a time of day: expected HH:MM, such as `22:00`"))
}

/// Parses one range. Errors say what was expected.
pub fn parse_range(text: &str) -> Result<Range, String> {
    let expected = "expected `Sat 22:00 - Sun 06:00`, `Mon-Fri 01:00 - 05:00` or `2026-12-05T22:00 - 2026-12-06T04:00`";
    let (left, right) = text
        .split_once(" - ")
        .ok_or_else(|| format!("`{text}` is not a range: {expected}"))?;
    let (left, right) = (left.trim(), right.trim());
    if left.contains('T') && left.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        let parse = |s: &str| {
            s.parse::<DateTime>()
                .map_err(|_| format!("`{s}` is not a date and time: expected 2026-12-05T22:00"))
        };
        let (start, end) = (parse(left)?, parse(right)?);
        if end <= start {
            return Err(format!("`{text}` ends before it starts"));
        }
        return Ok(Range::Absolute { start, end });
    }
    let (days, start) = left
        .split_once(' ')
        .ok_or_else(|| format!("`{text}`: {expected}"))?;
    let days = parse_days(days)?;
    let start = parse_time(start.trim())?;
    let (end_day, end) = match right.split_once(' ') {
        Some((day, time)) => (Some(parse_day(day)?), parse_time(time.trim())?),
        None => (None, parse_time(right)?),
    };
    let end_days = match end_day {
        Some(_) if days.len() > 1 => {
            return Err(format!("`{text}`: a range that ends on another day starts on one day; write one range per start day"))
        }
        Some(end_day) => {
            let mut offset = i64::from(end_day.to_monday_zero_offset() - days[0].to_monday_zero_offset()).rem_euclid(7);
            if offset == 0 && end <= start {
                offset = 7;
            }
            offset
        }
        None if end <= start => 1,
        None => 0,
    };
    Ok(Range::Weekly {
        days,
        start,
        end,
        end_days,
    })
}

impl Range {
    /// The real intervals of this range that touch `[from, to)`.
    fn intervals(&self, tz: &TimeZone, from: Timestamp, to: Timestamp) -> Vec<Interval> {
        let instant = |dt: DateTime| tz.to_ambiguous_timestamp(dt).compatible().ok();
        match self {
            Range::Absolute { start, end } => match (instant(*start), instant(*end)) {
                (Some(s), Some(e)) if s < to && e > from => vec![(s, e)],
                _ => vec![],
            },
            Range::Weekly {
                days,
                start,
                end,
                end_days,
            } => {
                let first: Date = from.to_zoned(tz.clone()).date().saturating_sub(8.days());
                let last: Date = to.to_zoned(tz.clone()).date().saturating_add(1.days());
                let mut out = Vec::new();
                let mut date = first;
                while date <= last {
                    if days.contains(&date.weekday()) {
                        let end_date = date.saturating_add(end_days.days());
                        if let (Some(s), Some(e)) = (
                            instant(date.to_datetime(*start)),
                            instant(end_date.to_datetime(*end)),
                        ) {
                            if s < to && e > from && s < e {
                                out.push((s, e));
                            }
                        }
                    }
                    date = date.saturating_add(1.days());
                }
                out
            }
        }
    }
}

fn merge(mut intervals: Vec<Interval>) -> Vec<Interval> {
    intervals.sort();
    let mut merged: Vec<Interval> = Vec::new();
    for (s, e) in intervals {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

fn subtract(allowed: Vec<Interval>, denied: &[Interval]) -> Vec<Interval> {
    let mut out = Vec::new();
    for (mut s, e) in allowed {
        for &(ds, de) in denied {
            if de <= s || ds >= e {
                continue;
            }
            if ds > s {
                out.push((s, ds));
            }
            s = s.max(de);
        }
        if s < e {
            out.push((s, e));
        }
    }
    out
}

impl WindowSpec {
    /// Allowed time in `[from, to)`: allow ranges (or all time when there are
    /// none) minus deny ranges, merged.
    pub fn free(&self, from: Timestamp, to: Timestamp) -> Vec<Interval> {
        let collect = |ranges: &[(String, Range)]| {
            merge(
                ranges
                    .iter()
                    .flat_map(|(_, r)| r.intervals(&self.timezone, from, to))
                    .collect(),
            )
        };
        let allowed = if self.allow.is_empty() {
            vec![(from, to)]
        } else {
            collect(&self.allow)
        };
        subtract(allowed, &collect(&self.deny))
    }

    fn horizon(now: Timestamp) -> (Timestamp, Timestamp) {
        let span = jiff::SignedDuration::from_hours(24 * HORIZON_DAYS);
        (
            now.saturating_sub(span).unwrap_or(now),
            now.saturating_add(span).unwrap_or(now),
        )
    }

    /// Whether `work` can start at `now` and finish before the window closes
    /// minus the margin; if not, the next start that fits.
    pub fn fit(&self, now: Timestamp, work: Duration) -> Fit {
        let (from, to) = Self::horizon(now);
        let free = self.free(from, to);
        let current = free.iter().find(|(s, e)| *s <= now && now < *e).copied();
        match current {
            None => Fit::Outside {
                next: self.next_fit(&free, now, work, to),
            },
            Some((_, end)) => {
                // An interval that runs to the horizon has no end in sight.
                let closes = (end < to).then_some(end);
                match closes {
                    Some(closes) if !self.fits_before(now, work, closes) => Fit::TooLong {
                        closes,
                        next: self.next_fit(&free, closes, work, to),
                    },
                    _ => Fit::Fits { closes },
                }
            }
        }
    }

    fn fits_before(&self, start: Timestamp, work: Duration, end: Timestamp) -> bool {
        let needed =
            jiff::SignedDuration::try_from(work + self.margin).unwrap_or(jiff::SignedDuration::MAX);
        start
            .saturating_add(needed)
            .map(|finish| finish <= end)
            .unwrap_or(false)
    }

    fn next_fit(
        &self,
        free: &[Interval],
        after: Timestamp,
        work: Duration,
        horizon: Timestamp,
    ) -> Option<Timestamp> {
        free.iter()
            .filter(|(_, e)| *e > after)
            .map(|(s, e)| ((*s).max(after), *e))
            .find(|(s, e)| *e >= horizon || self.fits_before(*s, work, *e))
            .map(|(s, _)| s)
    }

    /// The next `count` allowed intervals from `now`, for `plan`.
    pub fn upcoming(&self, now: Timestamp, count: usize) -> Vec<Interval> {
        let (_, to) = Self::horizon(now);
        self.free(now, to).into_iter().take(count).collect()
    }

    /// A moment in the playbook's zone, as operators read it: `Sat 2026-12-05 22:00 CET`.
    pub fn show(&self, at: Timestamp) -> String {
        at.to_zoned(self.timezone.clone())
            .strftime("%a %Y-%m-%d %H:%M %Z")
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(allow: &[&str], deny: &[&str], margin: u64) -> WindowSpec {
        let ranges = |list: &[&str]| {
            list.iter()
                .map(|r| (r.to_string(), parse_range(r).unwrap()))
                .collect()
        };
        WindowSpec {
            timezone: TimeZone::get("Europe/Zurich").unwrap(),
            timezone_name: "Europe/Zurich".into(),
            allow: ranges(allow),
            deny: ranges(deny),
            margin: Duration::from_secs(margin * 60),
            on_overrun: OnOverrun::Rollback,
        }
    }

    fn at(text: &str) -> Timestamp {
        text.parse::<DateTime>()
            .unwrap()
            .to_zoned(TimeZone::get("Europe/Zurich").unwrap())
            .unwrap()
            .timestamp()
    }

    fn hours(h: f64) -> Duration {
        Duration::from_secs_f64(h * 3600.0)
    }

    #[test]
    fn parses_the_three_shapes_and_rejects_prose() {
        assert!(matches!(
            parse_range("Sat 22:00 - Sun 06:00").unwrap(),
            Range::Weekly { end_days: 1, .. }
        ));
        assert!(
            matches!(parse_range("Mon-Fri 01:00 - 05:00").unwrap(), Range::Weekly { ref days, end_days: 0, .. } if days.len() == 5)
        );
        assert!(matches!(
            parse_range("Fri 22:00 - Mon 06:00").unwrap(),
            Range::Weekly { end_days: 3, .. }
        ));
        assert!(matches!(
            parse_range("2026-12-05T22:00 - 2026-12-06T04:00").unwrap(),
            Range::Absolute { .. }
        ));
        assert!(parse_range("weekends at night").is_err());
        assert!(parse_range("Satx 22:00 - Sun 06:00").is_err());
        assert!(parse_range("Saturday 22:00 - Sunday 06:00").is_ok());
        assert!(parse_range("Sat 25:00 - Sun 06:00").is_err());
        assert!(parse_range("Mon-Fri 22:00 - Sat 02:00").is_err());
        assert!(parse_range("2026-12-06T04:00 - 2026-12-05T22:00").is_err());
    }

    #[test]
    fn a_night_across_midnight_fits_and_ends_in_the_morning() {
        let window = spec(&["Sat 22:00 - Sun 06:00"], &[], 30);
        // Saturday 2026-12-05, 23:00: 7 hours left, 6h30 usable with the margin.
        assert_eq!(
            window.fit(at("2026-12-05T23:00"), hours(6.0)),
            Fit::Fits {
                closes: Some(at("2026-12-06T06:00"))
            }
        );
        match window.fit(at("2026-12-05T23:00"), hours(7.0)) {
            Fit::TooLong { closes, next } => {
                assert_eq!(closes, at("2026-12-06T06:00"));
                assert_eq!(
                    next,
                    None.or(Some(at("2026-12-12T22:00"))),
                    "a week later: 8 hours minus the margin fit"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn outside_the_window_names_the_next_start_across_the_end_of_the_week() {
        let window = spec(&["Sat 22:00 - Sun 06:00"], &[], 0);
        // Sunday 12:00 is outside; the next window opens next Saturday.
        assert_eq!(
            window.fit(at("2026-12-06T12:00"), hours(2.0)),
            Fit::Outside {
                next: Some(at("2026-12-12T22:00"))
            }
        );
    }

    #[test]
    fn deny_wins_over_allow() {
        let window = spec(&["daily 00:00 - 23:59"], &["Mon-Fri 07:00 - 19:00"], 0);
        // Monday 2026-12-07 08:00 is peak: denied, next free moment is 19:00.
        assert_eq!(
            window.fit(at("2026-12-07T08:00"), hours(1.0)),
            Fit::Outside {
                next: Some(at("2026-12-07T19:00"))
            }
        );
        // 06:00 with 2 hours of work runs into the peak at 07:00.
        assert!(matches!(
            window.fit(at("2026-12-07T06:00"), hours(2.0)),
            Fit::TooLong { .. }
        ));
    }

    #[test]
    fn without_allow_ranges_only_deny_restricts() {
        let window = spec(&[], &["Mon-Fri 07:00 - 19:00"], 0);
        assert_eq!(
            window.fit(at("2026-12-05T12:00"), hours(3.0)),
            Fit::Fits {
                closes: Some(at("2026-12-07T07:00"))
            }
        );
    }

    #[test]
    fn the_night_clocks_go_back_is_an_hour_longer() {
        // 2026-10-25 03:00 CEST → 02:00 CET: Sat 22:00 → Sun 06:00 lasts 9 hours.
        let window = spec(&["Sat 22:00 - Sun 06:00"], &[], 0);
        assert!(matches!(
            window.fit(at("2026-10-24T22:00"), hours(8.5)),
            Fit::Fits { .. }
        ));
        assert!(matches!(
            window.fit(at("2026-10-31T22:00"), hours(8.5)),
            Fit::TooLong { .. }
        ));
        // And the night clocks go forward (2026-03-29) is an hour shorter.
        assert!(matches!(
            window.fit(at("2026-03-28T22:00"), hours(7.5)),
            Fit::TooLong { .. }
        ));
    }

    #[test]
    fn absolute_ranges_are_one_off() {
        let window = spec(&["2026-12-05T22:00 - 2026-12-06T04:00"], &[], 0);
        assert!(matches!(
            window.fit(at("2026-12-05T22:30"), hours(5.0)),
            Fit::Fits { .. }
        ));
        assert_eq!(
            window.fit(at("2026-12-06T05:00"), hours(1.0)),
            Fit::Outside { next: None }
        );
        assert_eq!(
            window.fit(at("2026-12-01T05:00"), hours(1.0)),
            Fit::Outside {
                next: Some(at("2026-12-05T22:00"))
            }
        );
    }
}
