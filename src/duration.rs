//! Durations as playbooks write them: `90s`, `5m`, `1h30m`, `500ms`.

use std::time::Duration;

/// A duration with the text it was written as, for display and the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct DurationText(pub Duration);

const UNITS: &[(&str, u64)] = &[
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// Longest duration a playbook may write: a week. No cutover step, wait,
/// poll or window margin needs more, and a bound keeps a typo (`9999999h`)
/// or a value that would overflow from becoming "no limit" or a wrapped `0s`.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 86_400);

/// Parses `1h30m`-style text. The error says what was expected, in words an
/// operator can act on. No upper bound: `audit list --since 30d` may look far
/// back; playbook durations go through [`parse_bounded`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    match parse_millis(trimmed)? {
        Some(total) => Ok(Duration::from_millis(total)),
        None => Err(format!("`{trimmed}` is too long a duration")),
    }
}

/// A duration a playbook writes: at most [`MAX_DURATION`], named in the error.
pub fn parse_bounded(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    match parse_millis(trimmed)? {
        Some(total) if u128::from(total) <= MAX_DURATION.as_millis() => {
            Ok(Duration::from_millis(total))
        }
        _ => Err(format!(
            "`{}` is longer than the longest duration accepted, {} (7 days)",
            shorten(trimmed),
            format_duration(MAX_DURATION)
        )),
    }
}

/// A playbook duration that must be more than nothing: a timeout, a polling
/// interval. `0s` would end the wait before it starts (or poll in a busy loop).
pub fn parse_positive(text: &str) -> Result<Duration, String> {
    let duration = parse_bounded(text)?;
    if duration.is_zero() {
        return Err(format!(
            "`{}` is no time at all: expected a duration above zero, such as `30s`",
            text.trim()
        ));
    }
    Ok(duration)
}

/// The total in milliseconds; `None` when it does not fit in 64 bits.
fn parse_millis(trimmed: &str) -> Result<Option<u64>, String> {
    if trimmed.is_empty() {
        return Err("expected a duration such as `90s`, `5m` or `1h30m`, found nothing".into());
    }
    if trimmed.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "`{trimmed}` has no unit: write `{trimmed}s`, `{trimmed}m` or `{trimmed}ms`"
        ));
    }
    let mut total: Option<u64> = Some(0);
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad_duration(trimmed));
        }
        // Too many digits for 64 bits is an overflow, not a syntax error.
        let number: Option<u64> = rest[..digits].parse().ok();
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let (_, millis) = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .ok_or_else(|| bad_duration(trimmed))?;
        total = number
            .and_then(|n| n.checked_mul(*millis))
            .zip(total)
            .and_then(|(ms, sum)| sum.checked_add(ms));
        rest = &rest[unit_len..];
    }
    Ok(total)
}

fn shorten(text: &str) -> String {
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text.to_string()
    }
}

fn bad_duration(text: &str) -> String {
    format!("`{text}` is not a duration: expected a number and a unit (`ms`, `s`, `m`, `h`, `d`), such as `90s`, `5m` or `1h30m`")
}

/// Formats compactly the way playbooks write durations: `1h30m`, `45s`, `250ms`.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis() as u64;
    if millis == 0 {
        return "0s".into();
    }
    if millis < 1_000 {
        return format!("{millis}ms");
    }
    // Short steps read better with a tenth: `1.4s`, not a rounded `1s`.
    if millis < 10_000 && !millis.is_multiple_of(1_000) {
        return format!("{:.1}s", millis as f64 / 1_000.0);
    }
    let mut secs = (millis + 500) / 1_000;
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    if secs > 0 || out.is_empty() {
        out.push_str(&format!("{secs}s"));
    }
    out
}

impl schemars::JsonSchema for DurationText {
    fn schema_name() -> String {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        schemars::schema::SchemaObject {
            instance_type: Some(schemars::schema::InstanceType::String.into()),
            string: Some(Box::new(schemars::schema::StringValidation {
                pattern: Some("^([0-9]+(ms|s|m|h|d))+$".into()),
                ..Default::default()
            })),
            metadata: Some(Box::new(schemars::schema::Metadata {
                description: Some(
                    "A duration: a number and a unit (ms, s, m, h, d), e.g. `90s`, `5m`, `1h30m`."
                        .into(),
                ),
                ..Default::default()
            })),
            ..Default::default()
        }
        .into()
    }
}

impl serde::Serialize for DurationText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_duration(self.0))
    }
}

impl<'de> serde::Deserialize<'de> for DurationText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_bounded(&text)
            .map(DurationText)
            .map_err(serde::de::Error::custom)
    }
}

/// `#[serde(deserialize_with = "crate::duration::positive")]` for parameters
/// where `0s` makes no sense (timeouts, polling intervals).
pub fn positive<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<DurationText, D::Error> {
    let text = <String as serde::Deserialize>::deserialize(deserializer)?;
    parse_positive(&text)
        .map(DurationText)
        .map_err(serde::de::Error::custom)
}

/// The same for an optional parameter.
pub fn positive_option<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DurationText>, D::Error> {
    match <Option<String> as serde::Deserialize>::deserialize(deserializer)? {
        None => Ok(None),
        Some(text) => parse_positive(&text)
            .map(|d| Some(DurationText(d)))
            .map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_compound_durations() {
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
    }

    #[test]
    fn rejects_prose_and_bare_numbers_with_a_hint() {
        assert!(parse_duration("5 minutes")
            .unwrap_err()
            .contains("`90s`, `5m` or `1h30m`"));
        assert!(parse_duration("5").unwrap_err().contains("`5s`"));
        assert!(parse_duration("m5").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn playbook_durations_are_bounded_and_overflow_names_the_bound() {
        assert_eq!(parse_bounded("7d").unwrap(), MAX_DURATION);
        for text in [
            "7d1ms",
            "8d",
            "200h",
            "99999999999999999999d",
            "18446744073709551615ms",
            "213503982334601d",
        ] {
            let error = parse_bounded(text).unwrap_err();
            assert!(
                error.contains("longest duration accepted, 7d"),
                "{text}: {error}"
            );
        }
        assert!(parse_positive("0s").unwrap_err().contains("no time at all"));
        assert!(parse_positive("0ms0s").is_err());
        assert_eq!(parse_positive("1ms").unwrap(), Duration::from_millis(1));
        // `audit list --since` is not bounded.
        assert_eq!(
            parse_duration("30d").unwrap(),
            Duration::from_secs(30 * 86_400)
        );
    }

    #[test]
    fn formats_round_trip() {
        for text in ["1h30m", "45s", "250ms", "2d1h"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }
}
