//! `Redactor`: replaces secret values, and passwords inside URLs, with `***`
//! wherever text leaves the process (output, journal, errors, reports).

/// What a secret is shown as.
pub const MASK: &str = "***";

#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret containing another is masked whole.
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| !s.is_empty()).collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self { secrets }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        redact_urls(&out)
    }

    /// Redacts every string inside a JSON value, keys included.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::String(s) => *s = self.redact(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (key, mut v) in entries {
                    self.redact_json(&mut v);
                    map.insert(self.redact(&key), v);
                }
            }
            _ => {}
        }
    }
}

/// Masks the password of every `scheme://user:password@host` in a text, so a
/// connection string written straight into a playbook never reaches the output.
pub fn redact_urls(text: &str) -> String {
    if !text.contains("://") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let authority_start = at + 3;
        out.push_str(&rest[..authority_start]);
        let after = &rest[authority_start..];
        let authority_end = after
            .find(|c: char| {
                c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == '"' || c == '\''
            })
            .unwrap_or(after.len());
        let authority = &after[..authority_end];
        match authority.rfind('@') {
            Some(at_sign) => {
                let userinfo = &authority[..at_sign];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..colon + 1]);
                        out.push_str(MASK);
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at_sign..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[authority_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secrets_and_url_passwords() {
        let redactor = Redactor::new(["hunter2".to_string(), "hunter2-long".to_string()]);
        assert_eq!(
            redactor.redact("pw=hunter2-long and hunter2"),
            "pw=*** and ***"
        );
        assert_eq!(
            redact_urls("postgres://app:s3cr%40t@db:5432/orders?x=1 mysql://root@h/"),
            "postgres://app:***@db:5432/orders?x=1 mysql://root@h/"
        );
        assert_eq!(
            redact_urls("see https://example.com/a@b"),
            "see https://example.com/a@b"
        );
    }

    #[test]
    fn masks_inside_json() {
        let redactor = Redactor::new(["tok".to_string()]);
        let mut value = serde_json::json!({ "a": ["x tok y"], "tok": 1 });
        redactor.redact_json(&mut value);
        assert_eq!(value, serde_json::json!({ "a": ["x *** y"], "***": 1 }));
    }
}
