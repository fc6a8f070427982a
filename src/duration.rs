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

/// Parses `1h30m`-style text. The error says what was expected, in words an
/// operator can act on.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("expected a duration such as `90s`, `5m` or `1h30m`, found nothing".into());
    }
    if trimmed.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "`{trimmed}` has no unit: write `{trimmed}s`, `{trimmed}m` or `{trimmed}ms`"
        ));
    }
    let mut total: u64 = 0;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad_duration(trimmed));
        }
        let number: u64 = rest[..digits].parse().map_err(|_| bad_duration(trimmed))?;
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
            .checked_mul(*millis)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| format!("`{trimmed}` is too long a duration"))?;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_millis(total))
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
        parse_duration(&text)
            .map(DurationText)
            .map_err(serde::de::Error::custom)
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
    fn formats_round_trip() {
        for text in ["1h30m", "45s", "250ms", "2d1h"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }
}
