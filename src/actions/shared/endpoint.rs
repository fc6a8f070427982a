//! What a step drives, as a lock key (`Action::endpoints`): two runs that
//! name the same database, socket or file — through another spelling of its
//! URL, a copy of the playbook, another state directory — get the same key,
//! and the second is refused. Keys never hold a password.
//!
//! - `db:HOST:PORT/NAME` — a database, from a URL (`postgres://`, `mysql://`,
//!   any scheme) or libpq's `key=value` form; the host lowercased, the port
//!   defaulted by scheme. Names are not resolved: `localhost` and
//!   `127.0.0.1` are two keys.
//! - `file:PATH` — a file or a unix socket; a relative path is resolved by
//!   the engine against the playbook's directory, then canonicalized.
//! - `tcp:HOST:PORT` — a network admin endpoint (HAProxy's runtime API).
//! - `aws:KIND:ID` — an AWS resource by identifier.

use std::path::Path;

/// The key of a database named by a connection string.
pub fn database(url: &str) -> String {
    let text = url.trim();
    match text.split_once("://") {
        Some((scheme, rest)) => from_url(&scheme.to_ascii_lowercase(), rest),
        None => from_keywords(text),
    }
}

fn default_port(scheme: &str) -> &'static str {
    match scheme {
        "mysql" | "mariadb" => "3306",
        _ => "5432",
    }
}

fn from_url(scheme: &str, rest: &str) -> String {
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let hosts = match authority.rfind('@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    let path = &rest[end..];
    let name = path
        .strip_prefix('/')
        .map(|p| p.split(['?', '#', '/']).next().unwrap_or(""))
        .unwrap_or("");
    let query_host = query_value(path, "host");
    let hosts = if hosts.is_empty() {
        query_host.unwrap_or_else(|| "localhost".into())
    } else {
        hosts.to_string()
    };
    let port = query_value(path, "port");
    let hosts: Vec<String> = hosts
        .split(',')
        .map(|host| with_port(host, port.as_deref().unwrap_or(default_port(scheme))))
        .collect();
    format!("db:{}/{}", hosts.join(","), percent_decode(name))
}

/// `host:port` (a bracketed IPv6 address kept whole), lowercased, with the
/// default port when none is written.
fn with_port(host: &str, default: &str) -> String {
    let host = percent_decode(host).to_ascii_lowercase();
    let has_port = match host.rfind(']') {
        Some(close) => host[close..].contains(':'),
        None => host.contains(':'),
    };
    if has_port {
        host
    } else {
        format!("{host}:{default}")
    }
}

fn query_value(path: &str, key: &str) -> Option<String> {
    let query = path.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| percent_decode(v))
    })
}

fn from_keywords(text: &str) -> String {
    let mut host = "localhost".to_string();
    let mut port = "5432".to_string();
    let mut name = String::new();
    let mut user = String::new();
    for pair in text.split_whitespace() {
        let Some((key, value)) = pair.split_once('=') else {
            continue;
        };
        let value = value.trim_matches('\'').to_string();
        match key {
            "host" | "hostaddr" => host = value,
            "port" => port = value,
            "dbname" => name = value,
            "user" => user = value,
            _ => {}
        }
    }
    if name.is_empty() {
        name = user;
    }
    format!("db:{}/{name}", with_port(&host, &port))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
        {
            if let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
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

/// The key of a file (or unix socket) the step writes or talks to.
pub fn file(path: &Path) -> String {
    format!("file:{}", path.display())
}

/// The key of an admin endpoint given as a unix socket path or `host:port`
/// (HAProxy's runtime API reads it the same way).
pub fn socket(address: &str) -> String {
    if address.starts_with('/') || address.starts_with('.') || !address.contains(':') {
        file(Path::new(address))
    } else {
        format!("tcp:{}", address.to_ascii_lowercase())
    }
}

/// The key of an AWS resource (`aws:rds-instance:orders-db`).
pub fn aws(kind: &str, id: &str) -> String {
    format!("aws:{kind}:{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_database_one_key_whatever_the_spelling() {
        let key = "db:db.internal:5432/orders";
        for url in [
            "postgres://app:secret@db.internal:5432/orders",
            "postgresql://other@DB.internal/orders?sslmode=require",
            "postgres://db.internal/orders",
            "host=db.internal port=5432 dbname=orders user=app password=x",
            "host=db.internal dbname='orders'",
            "postgres:///orders?host=db.internal",
        ] {
            assert_eq!(database(url), key, "{url}");
        }
        assert_eq!(
            database("mysql://root:p%40ss@Shop.DB/shop"),
            "db:shop.db:3306/shop"
        );
        assert_eq!(
            database("postgres://[::1]:6432/pgbouncer"),
            "db:[::1]:6432/pgbouncer"
        );
        assert!(!database("postgres://u:hunter2@h/d").contains("hunter2"));
        assert_eq!(socket("/run/haproxy.sock"), "file:/run/haproxy.sock");
        assert_eq!(socket("127.0.0.1:9999"), "tcp:127.0.0.1:9999");
    }
}
