//! Sizes and rates: `ByteSize`, a size in a playbook (a number of bytes, or
//! text such as `64MB`) checked when the playbook is validated; rates such as
//! `50MB/s`; and bytes as an operator reads them (`1.5 GB`).

use std::fmt;

use anyhow::anyhow;
use schemars::gen::SchemaGenerator;
use schemars::schema::{InstanceType, Schema, SchemaObject, SingleOrVec};
use schemars::JsonSchema;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// Bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// `64MB`, `512kB`, `1GB`, `1000` (units of 1024).
    pub fn parse(text: &str) -> Result<ByteSize, String> {
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(trimmed.len());
        let number: f64 = trimmed[..split]
            .parse()
            .map_err(|_| format!("expected a size such as `64MB` or `512kB`, found `{text}`"))?;
        let factor: f64 = match trimmed[split..].trim() {
            "" | "B" => 1.0,
            "kB" | "KB" | "k" => 1024.0,
            "MB" | "M" => 1024.0 * 1024.0,
            "GB" | "G" => 1024.0 * 1024.0 * 1024.0,
            "TB" | "T" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
            other => {
                return Err(format!(
                    "unknown unit `{other}` in `{text}` (use B, kB, MB, GB or TB)"
                ))
            }
        };
        Ok(ByteSize((number * factor) as u64))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl Visitor<'_> for SizeVisitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size: a number of bytes or text such as `64MB`")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(SizeVisitor)
    }
}

impl JsonSchema for ByteSize {
    fn schema_name() -> String {
        "ByteSize".to_string()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let mut schema = SchemaObject {
            instance_type: Some(SingleOrVec::Vec(vec![
                InstanceType::Integer,
                InstanceType::String,
            ])),
            ..SchemaObject::default()
        };
        schema.metadata().description =
            Some("Bytes, or a size with a unit: `64MB`, `512kB`, `1GB`.".to_string());
        Schema::Object(schema)
    }
}

/// `50MB`, `512kB`, `1GB/s`, `1000000` → bytes per second.
pub fn parse_rate(text: &str) -> anyhow::Result<u64> {
    let trimmed = text.trim().trim_end_matches("/s");
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let number: f64 = trimmed[..split]
        .parse()
        .map_err(|_| anyhow!("`max_rate: {text}`: expected a size such as `50MB` or `512kB`"))?;
    let factor = match trimmed[split..].trim() {
        "" | "B" => 1.0,
        "kB" | "KB" | "k" => 1024.0,
        "MB" | "M" => 1024.0 * 1024.0,
        "GB" | "G" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(anyhow!(
                "`max_rate: {text}`: unknown unit `{other}` (use B, kB, MB or GB)"
            ))
        }
    };
    let rate = (number * factor) as u64;
    if rate == 0 {
        return Err(anyhow!("`max_rate: {text}` must be more than 0"));
    }
    Ok(rate)
}

pub fn human_bytes(bytes: u64) -> String {
    const UNITS: &[&str] = &["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(ByteSize::parse("64MB"), Ok(ByteSize(64 << 20)));
        assert_eq!(ByteSize::parse("512kB"), Ok(ByteSize(512 << 10)));
        assert_eq!(ByteSize::parse("1000"), Ok(ByteSize(1000)));
        assert!(ByteSize::parse("lots").is_err());
        assert!(ByteSize::parse("5 parsecs").is_err());
        let parsed: ByteSize = serde_json::from_value(serde_json::json!("1GB")).unwrap();
        assert_eq!(parsed, ByteSize(1 << 30));
        let parsed: ByteSize = serde_json::from_value(serde_json::json!(4096)).unwrap();
        assert_eq!(parsed, ByteSize(4096));
        assert!(serde_json::from_value::<ByteSize>(serde_json::json!(-1)).is_err());
    }

    #[test]
    fn rates_parse() {
        assert_eq!(parse_rate("50MB").unwrap(), 50 * 1024 * 1024);
        assert_eq!(parse_rate("512kB/s").unwrap(), 512 * 1024);
        assert_eq!(parse_rate("1000").unwrap(), 1000);
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("0MB").is_err());
    }
}
