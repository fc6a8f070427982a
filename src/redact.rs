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

    /// The length in bytes of the longest secret (0 with none).
    pub fn longest(&self) -> usize {
        self.secrets.first().map_or(0, |s| s.len())
    }

    /// Where secrets occur in raw bytes: sorted, non-overlapping ranges, the
    /// longest secret winning at each position.
    pub fn matches(&self, bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
        let mut ranges = Vec::new();
        if self.secrets.is_empty() {
            return ranges;
        }
        let mut at = 0;
        while at < bytes.len() {
            let rest = &bytes[at..];
            match self
                .secrets
                .iter()
                .find(|secret| rest.starts_with(secret.as_bytes()))
            {
                Some(secret) => {
                    ranges.push(at..at + secret.len());
                    at += secret.len();
                }
                None => at += 1,
            }
        }
        ranges
    }

    /// Redacts every string of a typed value (an event) and checks it still
    /// reads back as that type. A secret equal to a word the type itself uses
    /// (an event name, a field, `live`, `done`) would break it: such a word is
    /// left as the type wrote it — it is cutover's word, not the secret's
    /// occurrence — and every other string is still masked. Never returns the
    /// value unmasked: when it cannot be redacted, it is an error.
    pub fn redact_typed<T>(&self, value: &T) -> Result<T, RedactError>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        let original = serde_json::to_value(value).map_err(RedactError::from)?;
        let mut whole = original.clone();
        self.redact_json(&mut whole);
        if let Ok(typed) = serde_json::from_value(whole) {
            return Ok(typed);
        }
        // Position by position: keep each masking that leaves the value
        // readable. Values first, then keys deepest first (a key's path stays
        // valid while its parents keep their names).
        let mut positions = Vec::new();
        string_positions(&original, &mut Vec::new(), &mut positions);
        positions.sort_by_key(|(path, is_key)| (*is_key, std::cmp::Reverse(path.len())));
        let mut current = original;
        for (path, is_key) in positions {
            let mut candidate = current.clone();
            if !self.mask_at(&mut candidate, &path, is_key) {
                continue;
            }
            if serde_json::from_value::<T>(candidate.clone()).is_ok() {
                current = candidate;
            }
        }
        serde_json::from_value(current).map_err(RedactError::from)
    }

    /// Masks the string (or the key) at `path`; false when nothing changed.
    fn mask_at(&self, value: &mut serde_json::Value, path: &[Segment], is_key: bool) -> bool {
        use serde_json::Value;
        let Some((last, parents)) = path.split_last() else {
            if let Value::String(text) = value {
                let masked = self.redact(text);
                let changed = masked != *text;
                *text = masked;
                return changed;
            }
            return false;
        };
        let mut node = value;
        for segment in parents {
            node = match (segment, node) {
                (Segment::Key(key), Value::Object(map)) => match map.get_mut(key) {
                    Some(next) => next,
                    None => return false,
                },
                (Segment::Index(index), Value::Array(items)) => match items.get_mut(*index) {
                    Some(next) => next,
                    None => return false,
                },
                _ => return false,
            };
        }
        match (last, node) {
            (Segment::Key(key), Value::Object(map)) if is_key => {
                let masked = self.redact(key);
                if masked == *key {
                    return false;
                }
                match map.remove(key) {
                    Some(inner) => {
                        map.insert(masked, inner);
                        true
                    }
                    None => false,
                }
            }
            (Segment::Key(key), Value::Object(map)) => match map.get_mut(key) {
                Some(inner) => self.mask_at(inner, &[], false),
                None => false,
            },
            (Segment::Index(index), Value::Array(items)) => match items.get_mut(*index) {
                Some(inner) => self.mask_at(inner, &[], false),
                None => false,
            },
            _ => false,
        }
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

/// Why a value could not be redacted (it is then not shown at all).
#[derive(Debug)]
pub struct RedactError(String);

impl From<serde_json::Error> for RedactError {
    fn from(error: serde_json::Error) -> Self {
        RedactError(error.to_string())
    }
}

impl std::fmt::Display for RedactError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "secrets could not be masked ({}): refusing to show it in clear",
            self.0
        )
    }
}

impl std::error::Error for RedactError {}

#[derive(Debug, Clone)]
enum Segment {
    Key(String),
    Index(usize),
}

/// Every string of a JSON value, and every key: its path, and whether it is a key.
fn string_positions(
    value: &serde_json::Value,
    path: &mut Vec<Segment>,
    out: &mut Vec<(Vec<Segment>, bool)>,
) {
    use serde_json::Value;
    match value {
        Value::String(_) => out.push((path.clone(), false)),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                path.push(Segment::Index(index));
                string_positions(item, path, out);
                path.pop();
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                path.push(Segment::Key(key.clone()));
                out.push((path.clone(), true));
                string_positions(item, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Turns a stream of output into lines, masked *before* they are split or cut:
/// a secret spanning lines (a PEM key) or longer than the cut is masked
/// whole. Holds back only as many bytes as the longest secret, so memory stays
/// bounded whatever the stream.
pub struct LineMasker<'a> {
    redactor: &'a Redactor,
    /// Raw bytes not emitted yet.
    buf: Vec<u8>,
    /// How many bytes at the front of `buf` belong to a line already emitted
    /// cut short: kept only so a secret starting there is still recognised.
    hidden: usize,
    /// The current line was emitted cut short: drop it up to its newline.
    cutting: bool,
    /// Longest line shown, in characters.
    max_line: usize,
}

impl<'a> LineMasker<'a> {
    pub fn new(redactor: &'a Redactor, max_line: usize) -> Self {
        Self {
            redactor,
            buf: Vec::new(),
            hidden: 0,
            cutting: false,
            max_line,
        }
    }

    /// Adds bytes; returns the lines now complete, masked and cut.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buf.extend_from_slice(bytes);
        self.drain(false)
    }

    /// The stream ended: everything left, masked.
    pub fn finish(mut self) -> Vec<String> {
        self.drain(true)
    }

    fn drain(&mut self, ended: bool) -> Vec<String> {
        let mut lines = Vec::new();
        let reach = self.redactor.longest().max(1);
        loop {
            let ranges = self.redactor.matches(&self.buf);
            let inside = |i: usize| ranges.iter().any(|r| r.start <= i && i < r.end);
            // A newline among the hidden bytes still ends the line being cut.
            let newline = (0..self.buf.len()).find(|&i| self.buf[i] == b'\n' && !inside(i));
            match newline {
                // Every secret that could start on this line is whole in the buffer.
                Some(i) if ended || self.buf.len() >= i + reach => {
                    if !self.cutting {
                        lines.push(self.render(self.hidden.min(i), i, &ranges));
                    }
                    self.cutting = false;
                    self.buf.drain(..=i);
                    self.hidden = 0;
                }
                _ if ended => {
                    if !self.cutting && self.buf.len() > self.hidden {
                        lines.push(self.render(self.hidden, self.buf.len(), &ranges));
                    }
                    self.buf.clear();
                    return lines;
                }
                _ => {
                    let visible = self.buf.len() - self.hidden;
                    if !self.cutting && visible > self.max_line * 4 + reach {
                        let mut end = self.hidden + self.max_line * 4;
                        if let Some(r) = ranges.iter().find(|r| r.start < end && end < r.end) {
                            end = r.end;
                        }
                        let mut line = self.render(self.hidden, end, &ranges);
                        if !line.ends_with(" …") {
                            line.push_str(" …");
                        }
                        lines.push(line);
                        self.cutting = true;
                    }
                    if self.cutting && self.buf.len() > reach {
                        // Keep the last `reach` bytes (never from inside a
                        // secret) so one starting there is still found.
                        let mut cut = self.buf.len() - reach;
                        if let Some(r) = ranges.iter().find(|r| r.start < cut && cut < r.end) {
                            cut = r.start;
                        }
                        self.buf.drain(..cut);
                        self.hidden = self.buf.len();
                    }
                    return lines;
                }
            }
        }
    }

    /// Bytes `from..to`, every secret (even one starting before `from`) as
    /// `***`, as text cut to `max_line` characters.
    fn render(&self, from: usize, to: usize, ranges: &[std::ops::Range<usize>]) -> String {
        let mut out: Vec<u8> = Vec::with_capacity(to - from);
        let mut at = from;
        for range in ranges.iter().filter(|r| r.end > from && r.start < to) {
            if range.start > at {
                out.extend_from_slice(&self.buf[at..range.start]);
            }
            out.extend_from_slice(MASK.as_bytes());
            at = range.end.max(at);
        }
        if at < to {
            out.extend_from_slice(&self.buf[at..to]);
        }
        let text = String::from_utf8_lossy(&out);
        let text = redact_urls(text.trim_end_matches('\r'));
        if text.chars().count() > self.max_line {
            let cut: String = text.chars().take(self.max_line).collect();
            format!("{cut} …")
        } else {
            text
        }
    }
}

/// Masks the password of every `scheme://user:password@host` in a text
/// (whatever characters the password holds: the userinfo ends at the last
/// `@` before the host), every `password=…` (query parameter or libpq
/// `key=value`, quoted or not), so a connection string written straight into
/// a playbook never reaches the output.
pub fn redact_urls(text: &str) -> String {
    redact_password_keys(&redact_userinfo(text))
}

/// The keys whose value is a password, in URLs' queries and libpq strings.
const PASSWORD_KEYS: &[&str] = &["password", "passwd", "pwd", "sslpassword"];

fn redact_password_keys(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    if !PASSWORD_KEYS.iter().any(|k| lower.contains(k)) {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    let mut copied = 0;
    while at < bytes.len() {
        let boundary = at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_');
        let key = boundary
            .then(|| {
                PASSWORD_KEYS
                    .iter()
                    .find(|k| lower.as_bytes()[at..].starts_with(k.as_bytes()))
            })
            .flatten();
        let Some(key) = key else {
            at += 1;
            continue;
        };
        let mut i = at + key.len();
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] != b'=' {
            at += key.len();
            continue;
        }
        i += 1;
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        let value_start = i;
        if i < bytes.len() && bytes[i] == b'\'' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'\'' {
                if bytes[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i = (i + 1).min(bytes.len());
        } else {
            while i < bytes.len()
                && !matches!(
                    bytes[i],
                    b'&' | b'#' | b' ' | b'\t' | b'\n' | b'\r' | b'"' | b'\'' | b',' | b';'
                )
            {
                i += 1;
            }
        }
        if i == value_start {
            at = i;
            continue;
        }
        out.push_str(&text[copied..value_start]);
        out.push_str(MASK);
        copied = i;
        at = i;
    }
    out.push_str(&text[copied..]);
    out
}

fn redact_userinfo(text: &str) -> String {
    if !text.contains("://") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let authority_start = at + 3;
        out.push_str(&rest[..authority_start]);
        let after = &rest[authority_start..];
        // The URL ends at a space or a quote; its userinfo at the last `@`
        // before that (a password may hold `/`, `?`, `#`, `@` written raw).
        let url_end = after
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '`')
            .unwrap_or(after.len());
        let host_start = after[..url_end].rfind('@').map(|at| at + 1).unwrap_or(0);
        let authority_end = host_start
            + after[host_start..url_end]
                .find(['/', '?', '#'])
                .unwrap_or(url_end - host_start);
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

/// Control characters (ESC and the rest of C0 but tab and newline, DEL, C1)
/// shown escaped (`\x1b`, `\u{9b}`), so text from a step or an operator
/// cannot move the cursor, rewrite a line or retitle the terminal.
pub fn escape_controls(text: &str) -> String {
    if !text.chars().any(is_control) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_control(c) {
            if (c as u32) < 0x80 {
                out.push_str(&format!("\\x{:02x}", c as u32));
            } else {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn is_control(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
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

#[cfg(test)]
mod attack_tests {
    use super::*;

    #[test]
    fn url_passwords_in_every_form() {
        for (text, shown) in [
            (
                "postgres://app:p@ss/w#rd?x@db:5432/orders",
                "postgres://app:***@db:5432/orders",
            ),
            (
                "postgres://app@db/orders?sslmode=require&password=qu3ry&x=1",
                "postgres://app@db/orders?sslmode=require&password=***&x=1",
            ),
            (
                "host=db password='kv pw' dbname=orders",
                "host=db password=*** dbname=orders",
            ),
            (
                "host=db PASSWORD = bare dbname=o",
                "host=db PASSWORD = *** dbname=o",
            ),
            (
                "no secret here: password is a word",
                "no secret here: password is a word",
            ),
        ] {
            assert_eq!(redact_urls(text), shown, "{text}");
        }
    }

    #[test]
    fn a_secret_across_lines_or_chunks_or_beyond_the_cut_is_masked_whole() {
        let pem = "-----BEGIN KEY-----\nAAAA\nBBBB\n-----END KEY-----".to_string();
        let long: String = "z".repeat(10_000);
        let redactor = Redactor::new([pem.clone(), long.clone()]);
        let stream = format!("before\n{pem}\nafter {long} tail\nlast");
        // Fed a byte at a time and all at once: the same lines.
        for size in [1, 7, stream.len()] {
            let mut masker = LineMasker::new(&redactor, 100);
            let mut lines = Vec::new();
            for chunk in stream.as_bytes().chunks(size) {
                lines.extend(masker.push(chunk));
            }
            lines.extend(masker.finish());
            assert_eq!(lines, ["before", "***", "after *** tail", "last"], "{size}");
        }
        // A line far beyond the cut is cut after masking, then skipped.
        let mut masker = LineMasker::new(&redactor, 10);
        let mut lines = masker.push(format!("{}{long}\nnext\n", "y".repeat(50)).as_bytes());
        lines.extend(masker.finish());
        assert_eq!(lines, ["yyyyyyyyyy …", "next"]);
        let mut masker = LineMasker::new(&redactor, 10);
        let mut lines = masker.push(format!("{}{long}\nnext\n", "y".repeat(5)).as_bytes());
        lines.extend(masker.finish());
        assert_eq!(lines, ["yyyyy***", "next"]);
    }

    #[test]
    fn a_secret_equal_to_a_word_of_the_type_masks_everything_else() {
        #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
        #[serde(tag = "event", content = "data", rename_all = "snake_case")]
        enum Ev {
            StepDone { step: String, text: String },
        }
        let redactor = Redactor::new(["step".to_string()]);
        let masked = redactor
            .redact_typed(&Ev::StepDone {
                step: "a".into(),
                text: "the step secret".into(),
            })
            .unwrap();
        assert_eq!(
            masked,
            Ev::StepDone {
                step: "a".into(),
                text: "the *** secret".into()
            }
        );
    }
}
