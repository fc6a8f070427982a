//! `TableFilter`: which tables an action works on, the same `include` /
//! `exclude` shape for every action and engine. A PostgreSQL pattern's
//! `schema.` part is a schema; a MySQL one's, the database.

use std::fmt;

use schemars::JsonSchema;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// `include` / `exclude` patterns: `schema.table` or `table` (any schema),
/// with `*` and `?` wildcards. No `include` means every table.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, remote = "Self")]
pub struct TableFilter {
    /// Only these tables (default: all).
    #[serde(default)]
    pub include: Vec<String>,
    /// Never these tables (wins over `include`).
    #[serde(default)]
    pub exclude: Vec<String>,
}

impl TableFilter {
    pub fn is_everything(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// Whether a table (`schema`, `name`) is chosen; `root` is the partition
    /// tree's top table, which may be named instead.
    pub fn matches(&self, schema: &str, name: &str, root: Option<(&str, &str)>) -> bool {
        let hit = |patterns: &[String]| {
            patterns.iter().any(|p| {
                pattern_matches(p, schema, name)
                    || root.is_some_and(|(s, n)| pattern_matches(p, s, n))
            })
        };
        (self.include.is_empty() || hit(&self.include)) && !hit(&self.exclude)
    }

    /// The `include` patterns that chose none of `chosen` (`schema`, `name`):
    /// a verify that silently compared nothing would prove nothing.
    pub fn unmatched<'a>(&'a self, chosen: &[(&str, &str)]) -> Vec<&'a str> {
        self.include
            .iter()
            .filter(|p| !chosen.iter().any(|(s, n)| pattern_matches(p, s, n)))
            .map(String::as_str)
            .collect()
    }

    /// Fails naming the `include` patterns that chose no table.
    pub fn require_matches(&self, chosen: &[(&str, &str)], of: &str) -> anyhow::Result<()> {
        let unmatched = self.unmatched(chosen);
        if unmatched.is_empty() {
            return Ok(());
        }
        anyhow::bail!(
            "`tables.include` chose no table of {of} for {}: check the names (patterns are `table` or `schema.table`, with `*` and `?`)",
            unmatched
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    /// `include: [a, b], exclude: [c]` for descriptions.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.include.is_empty() {
            parts.push(format!("only {}", self.include.join(", ")));
        }
        if !self.exclude.is_empty() {
            parts.push(format!("except {}", self.exclude.join(", ")));
        }
        parts.join(", ")
    }
}

fn pattern_matches(pattern: &str, schema: &str, name: &str) -> bool {
    match pattern.split_once('.') {
        Some((ps, pn)) => glob(ps, schema) && glob(pn, name),
        None => glob(pattern, name),
    }
}

/// `*` any run, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Reads `{ include, exclude }`; a bare list is the old `mysql.verify`
/// spelling, refused with the spelling to use instead.
impl<'de> Deserialize<'de> for TableFilter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FilterVisitor;
        impl<'de> Visitor<'de> for FilterVisitor {
            type Value = TableFilter;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`include` and `exclude` lists of table patterns")
            }

            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<TableFilter, M::Error> {
                // The derived decoder, on the same map: errors keep their path.
                TableFilter::deserialize(MapAccessDeserializer::new(map))
            }

            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<TableFilter, S::Error> {
                let mut names = Vec::new();
                while let Some(item) = seq.next_element::<serde_json::Value>()? {
                    names.push(match item {
                        serde_json::Value::String(name) => name,
                        other => other.to_string(),
                    });
                }
                Err(de::Error::custom(format!(
                    "`tables` takes `include` and `exclude` lists, not a list of names (hint: write `tables: {{ include: [{}] }}`)",
                    names.join(", ")
                )))
            }
        }
        deserializer.deserialize_any(FilterVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_pick_tables() {
        let filter = TableFilter {
            include: vec!["shop.*".into(), "wide".into()],
            exclude: vec!["shop.ev?nts".into()],
        };
        assert!(filter.matches("shop", "orders", None));
        assert!(!filter.matches("shop", "events", None));
        assert!(filter.matches("public", "wide", None));
        assert!(!filter.matches("public", "other", None));
        assert!(filter.matches("part", "m_2024", Some(("shop", "measurements"))));
        assert!(TableFilter::default().matches("x", "y", None));
        assert!(glob("a*b*c", "axxbyyc") && !glob("a*b", "axxbc"));
    }

    #[test]
    fn include_patterns_that_choose_nothing_are_named() {
        let filter: TableFilter = serde_json::from_value(serde_json::json!({
            "include": ["public.order*", "items"], "exclude": ["orders_archive"]
        }))
        .unwrap();
        assert!(!filter.matches("public", "orders_archive", None));
        assert_eq!(filter.unmatched(&[("public", "orders")]), vec!["items"]);
        assert!(filter
            .require_matches(&[("s", "items"), ("public", "orders")], "x")
            .is_ok());
        let error = filter
            .require_matches(&[], "the source")
            .unwrap_err()
            .to_string();
        assert!(error.contains("`public.order*`, `items`"), "{error}");
    }

    #[test]
    fn a_list_of_names_is_refused_with_the_spelling_to_use() {
        let error = serde_json::from_value::<TableFilter>(serde_json::json!(["a", "b"]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "`tables` takes `include` and `exclude` lists, not a list of names (hint: write `tables: { include: [a, b] }`)"
        );
        let error = serde_json::from_value::<TableFilter>(serde_json::json!({ "only": ["a"] }))
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("unknown field `only`"), "{error}");
    }
}
