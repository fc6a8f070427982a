//! `split`: a PostgreSQL connection string (URL or libpq's `key=value`
//! form) without the keys cutover handles itself (`sslmode`, `sslrootcert`,
//! `sslcert`, `sslkey`, `auth`, `region`), which tokio-postgres rejects or
//! reads differently; and `quote`, a value for a libpq connection string.

use anyhow::anyhow;

use crate::actions::shared::query;

/// The keys cutover takes out of a connection string.
pub const OWN_KEYS: &[&str] = &[
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "auth",
    "region",
];

/// The string without `OWN_KEYS`, and their values. Errors never repeat the
/// text: it may hold a password.
pub fn split(text: &str) -> anyhow::Result<(String, Vec<(String, String)>)> {
    let trimmed = text.trim_start();
    if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
        return Ok(query::take(trimmed, OWN_KEYS));
    }
    let mut kept = Vec::new();
    let mut taken = Vec::new();
    for (key, value) in keywords(text)? {
        if OWN_KEYS.contains(&key.as_str()) {
            taken.push((key, value));
        } else {
            kept.push(format!("{key}={}", quote(&value)));
        }
    }
    Ok((kept.join(" "), taken))
}

/// `'value'` with `\` and `'` escaped, as libpq (and tokio-postgres) read it.
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The `key = value` pairs of libpq's keyword form.
fn keywords(text: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=') {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(anyhow!(
                "invalid PostgreSQL connection string: `{key}` has no `=` and value"
            ));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                    None => {
                        return Err(anyhow!(
                            "invalid PostgreSQL connection string: the value of `{key}` has no closing quote"
                        ))
                    }
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_keys_leave_urls_and_keyword_strings_alike() {
        let (rest, taken) =
            split("postgres://app@db/orders?sslmode=verify-full&sslrootcert=ca.pem&auth=iam")
                .unwrap();
        assert_eq!(rest, "postgres://app@db/orders");
        assert_eq!(taken[0], ("sslmode".into(), "verify-full".into()));
        assert_eq!(taken[2], ("auth".into(), "iam".into()));
        let (rest, taken) =
            split("host=db port = 5433 password='p w' sslmode=require sslkey='/k ey'").unwrap();
        assert_eq!(rest, "host='db' port='5433' password='p w'");
        assert_eq!(
            taken,
            vec![
                ("sslmode".into(), "require".into()),
                ("sslkey".into(), "/k ey".into())
            ]
        );
        let (rest, _) = split(r"host=db password='a\'b c'").unwrap();
        assert_eq!(rest, r"host='db' password='a\'b c'");
        let error = split("host=db password='secret").unwrap_err().to_string();
        assert!(!error.contains("secret"), "{error}");
    }
}
