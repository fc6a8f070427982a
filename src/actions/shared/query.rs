//! `take`: pulls cutover's own parameters (`sslmode`, `ssl-ca`, `auth`,
//! `region` …) out of a connection URL's query before the driver parses the
//! rest, since each driver rejects keys it does not know.

/// `url` without the query parameters named in `keys`, and those parameters
/// (percent-decoded) in the order they came; the other parameters are kept
/// as they were written.
pub fn take(url: &str, keys: &[&str]) -> (String, Vec<(String, String)>) {
    let (head, fragment) = match url.find('#') {
        Some(at) => url.split_at(at),
        None => (url, ""),
    };
    let Some((base, query)) = head.split_once('?') else {
        return (url.to_string(), Vec::new());
    };
    let mut kept = Vec::new();
    let mut taken = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key_text = decode(key);
        if keys.contains(&key_text.as_str()) {
            taken.push((key_text, decode(value)));
        } else {
            kept.push(pair);
        }
    }
    let mut rest = base.to_string();
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    rest.push_str(fragment);
    (rest, taken)
}

/// Percent-decoding (`+` stays a plus, as in a URL's query by RFC 3986).
pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(byte) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_only_the_named_keys_and_decodes_them() {
        let (rest, taken) = take(
            "postgres://a:b@h/db?connect_timeout=5&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x",
            &["sslmode", "sslrootcert"],
        );
        assert_eq!(
            rest,
            "postgres://a:b@h/db?connect_timeout=5&application_name=x"
        );
        assert_eq!(
            taken,
            vec![
                ("sslmode".to_string(), "verify-full".to_string()),
                ("sslrootcert".to_string(), "/etc/ca.pem".to_string())
            ]
        );
        let (rest, taken) = take("mysql://h/db?ssl-mode=REQUIRED", &["ssl-mode"]);
        assert_eq!(rest, "mysql://h/db");
        assert_eq!(taken.len(), 1);
        assert_eq!(take("mysql://h/db", &["x"]).0, "mysql://h/db");
        assert_eq!(decode("a%2"), "a%2");
    }
}
