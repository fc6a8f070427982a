//! One entry of the `[databases]` section of a PgBouncer configuration file
//! (`orders = host=10.0.0.5 port=5432 dbname=orders pool_size=20`), read and
//! rewritten in place: its other keys, every other line and every comment
//! stay as they were.

use anyhow::{anyhow, bail};

/// Where an entry points: the keys a switch changes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Target {
    pub host: Option<String>,
    pub port: Option<String>,
    pub dbname: Option<String>,
}

/// The line of `database`'s entry: (its byte range, the text after `=`).
fn entry(text: &str, database: &str) -> anyhow::Result<(usize, usize, String)> {
    let mut section = String::new();
    let mut found = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim();
        if trimmed.starts_with('[') && trimmed.ends_with(']') {
            section = trimmed[1..trimmed.len() - 1].trim().to_lowercase();
            continue;
        }
        if section != "databases" || trimmed.is_empty() || trimmed.starts_with([';', '#']) {
            continue;
        }
        let Some((name, value)) = trimmed.split_once('=') else {
            continue;
        };
        let name = name.trim().trim_matches('"');
        if name == database {
            let end = start + line.trim_end_matches(['\n', '\r']).len();
            found.push((start, end, value.trim().to_string()));
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(anyhow!(
            "the `[databases]` section has no entry `{database}`"
        )),
        n => bail!("`{database}` has {n} entries in `[databases]`"),
    }
}

/// `key=value` pairs of an entry, values unquoted (`'…'` with `''` inside).
fn pairs(value: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = value.trim_start();
    while !rest.is_empty() {
        let eq = rest
            .find('=')
            .ok_or_else(|| anyhow!("`{rest}` is not `key=value`"))?;
        let key = rest[..eq].trim().to_string();
        rest = rest[eq + 1..].trim_start();
        let value = if let Some(quoted) = rest.strip_prefix('\'') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if quoted[i + 1..].starts_with('\'') {
                        value.push('\'');
                        chars.next();
                    } else {
                        end = Some(i + 1);
                        break;
                    }
                } else {
                    value.push(c);
                }
            }
            let end = end.ok_or_else(|| anyhow!("an unterminated quote in `{key}`"))?;
            rest = quoted[end..].trim_start();
            value
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let value = rest[..end].to_string();
            rest = rest[end..].trim_start();
            value
        };
        out.push((key, value));
    }
    Ok(out)
}

fn render(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            if v.is_empty() || v.contains([' ', '\'', '\t']) {
                format!("{k}='{}'", v.replace('\'', "''"))
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where `database`'s entry points now.
pub fn target_of(text: &str, database: &str) -> anyhow::Result<Target> {
    let (_, _, value) = entry(text, database)?;
    let pairs = pairs(&value)?;
    let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    Ok(Target {
        host: get("host"),
        port: get("port"),
        dbname: get("dbname"),
    })
}

/// `text` with `database`'s entry pointing at `to`: its host, port and (when
/// given) dbname set, every other key kept in its place.
pub fn retarget(text: &str, database: &str, to: &Target) -> anyhow::Result<String> {
    let (start, end, value) = entry(text, database)?;
    let mut pairs = pairs(&value)?;
    for (key, new) in [
        ("host", &to.host),
        ("port", &to.port),
        ("dbname", &to.dbname),
    ] {
        let Some(new) = new else { continue };
        match pairs.iter_mut().find(|(k, _)| k == key) {
            Some(pair) => pair.1 = new.clone(),
            None => pairs.push((key.to_string(), new.clone())),
        }
    }
    // The name, its `=` and the blanks after it, as written.
    let line = &text[start..end];
    let eq = line.find('=').map(|i| i + 1).unwrap_or(line.len());
    let after = &line[eq..];
    let blanks = after.len() - after.trim_start().len();
    Ok(format!(
        "{}{}{}{}",
        &text[..start],
        &line[..eq + blanks],
        render(&pairs),
        &text[end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INI: &str = "; the pooler\n[databases]\n; orders moved in 2025\norders = host=10.0.0.5 port=5432 dbname=orders pool_size=20\nreports = host=10.0.0.6 dbname=rep\n\n[pgbouncer]\nlisten_port = 6432\n";

    #[test]
    fn one_entry_changes_and_nothing_else() {
        let to = Target {
            host: Some("10.0.0.9".into()),
            port: Some("6543".into()),
            dbname: None,
        };
        let out = retarget(INI, "orders", &to).unwrap();
        assert_eq!(
            out,
            INI.replace(
                "orders = host=10.0.0.5 port=5432 dbname=orders pool_size=20",
                "orders = host=10.0.0.9 port=6543 dbname=orders pool_size=20"
            )
        );
        assert_eq!(
            target_of(&out, "orders").unwrap(),
            Target {
                host: Some("10.0.0.9".into()),
                port: Some("6543".into()),
                dbname: Some("orders".into())
            }
        );
        // A key the entry lacked is added at its end.
        let reports = retarget(INI, "reports", &to).unwrap();
        assert!(
            reports.contains("reports = host=10.0.0.9 dbname=rep port=6543\n"),
            "{reports}"
        );
    }

    #[test]
    fn quoted_values_and_missing_entries() {
        let ini = "[databases]\napp = host=db port=5432 connect_query='SELECT ''x'''\n";
        let to = Target {
            host: Some("db2".into()),
            port: None,
            dbname: None,
        };
        let out = retarget(ini, "app", &to).unwrap();
        assert_eq!(
            out,
            "[databases]\napp = host=db2 port=5432 connect_query='SELECT ''x'''\n"
        );
        assert!(target_of(INI, "nope")
            .unwrap_err()
            .to_string()
            .contains("no entry `nope`"));
        assert!(target_of("[pgbouncer]\norders = host=x\n", "orders").is_err());
    }
}
