//! The `server` lines of one `upstream NAME { … }` block in an nginx
//! configuration, read and replaced in place: every other byte of the file —
//! other upstreams, the block's own directives (`keepalive`, `least_conn`,
//! `zone`), comments, indentation — stays as it was. And what a `server`
//! value may be, so a value can never splice a block of its own into the file.

use anyhow::{anyhow, bail};

/// One directive: its name, its words, and where it stands in the text.
#[derive(Debug)]
struct Directive {
    name: String,
    args: Vec<String>,
    depth: usize,
    /// Offset of its first character.
    start: usize,
    /// Offset just past its `;` or `{`.
    end: usize,
    opens_block: bool,
    /// For a block: offset of its closing `}`.
    close: Option<usize>,
}

/// Reads the directives of a configuration (comments and quotes understood).
fn directives(text: &str) -> anyhow::Result<Vec<Directive>> {
    let bytes = text.as_bytes();
    let mut found: Vec<Directive> = Vec::new();
    let mut open: Vec<usize> = Vec::new(); // indexes of block directives
    let mut words: Vec<String> = Vec::new();
    let mut start = None;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b' ' | b'\t' | b'\r' | b'\n' => {}
            b';' | b'{' => {
                let (Some(at), Some(name)) = (start, words.first()) else {
                    bail!(
                        "line {}: `{}` without a directive",
                        line_of(text, i),
                        c as char
                    );
                };
                found.push(Directive {
                    name: name.clone(),
                    args: words[1..].to_vec(),
                    depth: open.len(),
                    start: at,
                    end: i + 1,
                    opens_block: c == b'{',
                    close: None,
                });
                if c == b'{' {
                    open.push(found.len() - 1);
                }
                words.clear();
                start = None;
            }
            b'}' => {
                if !words.is_empty() {
                    bail!(
                        "line {}: a directive without `;` before `}}`",
                        line_of(text, i)
                    );
                }
                let Some(block) = open.pop() else {
                    bail!("line {}: `}}` closes nothing", line_of(text, i));
                };
                found[block].close = Some(i);
            }
            b'"' | b'\'' => {
                let quote = c;
                let from = i;
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= bytes.len() {
                    bail!("line {}: an unterminated quote", line_of(text, from));
                }
                start.get_or_insert(from);
                words.push(text[from + 1..i].to_string());
            }
            _ => {
                let from = i;
                while i < bytes.len()
                    && !matches!(
                        bytes[i],
                        b' ' | b'\t' | b'\r' | b'\n' | b';' | b'{' | b'}' | b'#'
                    )
                {
                    i += 1;
                }
                start.get_or_insert(from);
                words.push(text[from..i].to_string());
                continue;
            }
        }
        i += 1;
    }
    if !words.is_empty() {
        bail!("the file ends inside a directive (a `;` is missing)");
    }
    if let Some(block) = open.pop() {
        bail!(
            "line {}: `{}` is never closed",
            line_of(text, found[block].start),
            found[block].name
        );
    }
    Ok(found)
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The `upstream NAME` block and its direct `server` children.
fn locate<'a>(
    found: &'a [Directive],
    name: &str,
) -> anyhow::Result<(&'a Directive, Vec<&'a Directive>)> {
    let blocks: Vec<&Directive> = found
        .iter()
        .filter(|d| {
            d.opens_block
                && d.name == "upstream"
                && d.args.first().map(String::as_str) == Some(name)
        })
        .collect();
    let block = match blocks.as_slice() {
        [one] => *one,
        [] => {
            let names: Vec<String> = found
                .iter()
                .filter(|d| d.opens_block && d.name == "upstream")
                .filter_map(|d| d.args.first().map(|n| format!("`{n}`")))
                .collect();
            return Err(anyhow!(
                "no `upstream {name}` block in the file ({})",
                if names.is_empty() {
                    "it holds no upstream".to_string()
                } else {
                    format!("upstreams there: {}", names.join(", "))
                }
            ));
        }
        _ => bail!(
            "`upstream {name}` is defined {} times in the file",
            blocks.len()
        ),
    };
    let close = block.close.unwrap_or(block.end);
    let servers = found
        .iter()
        .filter(|d| d.depth == block.depth + 1 && d.start > block.end && d.end <= close)
        .filter(|d| d.name == "server" && !d.opens_block)
        .collect();
    Ok((block, servers))
}

/// The servers the upstream lists now, as `server` takes them.
pub fn servers_of(text: &str, upstream: &str) -> anyhow::Result<Vec<String>> {
    let found = directives(text)?;
    let (_, servers) = locate(&found, upstream)?;
    Ok(servers.iter().map(|d| d.args.join(" ")).collect())
}

/// `text` with the upstream's `server` lines replaced by `servers`, written
/// where the first of the old ones stood, indented like it; nothing else moves.
pub fn set_servers(text: &str, upstream: &str, servers: &[String]) -> anyhow::Result<String> {
    let found = directives(text)?;
    let (block, old) = locate(&found, upstream)?;
    let line_start = |at: usize| text[..at].rfind('\n').map(|n| n + 1).unwrap_or(0);
    let only_blanks =
        |from: usize, to: usize| text[from..to].bytes().all(|b| b == b' ' || b == b'\t');
    // Each old server's span: whole lines when it stands alone on its line
    // (with a comment after it on that line, which spoke of it).
    let spans: Vec<(usize, usize, bool)> = old
        .iter()
        .map(|d| {
            let first = line_start(d.start);
            let alone_before = only_blanks(first, d.start);
            let rest_end = text[d.end..]
                .find('\n')
                .map(|n| d.end + n)
                .unwrap_or(text.len());
            let rest = text[d.end..rest_end].trim_start_matches([' ', '\t']);
            let alone_after = rest.is_empty() || rest.starts_with('#');
            if alone_before && alone_after {
                (first, (rest_end + 1).min(text.len()), true)
            } else {
                let mut end = d.end;
                while end < text.len() && matches!(text.as_bytes()[end], b' ' | b'\t') {
                    end += 1;
                }
                (d.start, end, false)
            }
        })
        .collect();
    let block_indent = {
        let first = line_start(block.start);
        text[first..block.start].to_string()
    };
    let (insert_at, whole_lines, indent) = match spans.first() {
        Some(&(from, _, true)) => {
            let directive = old[0].start;
            (from, true, text[from..directive].to_string())
        }
        Some(&(from, _, false)) => (from, false, String::new()),
        None => {
            // No server yet: before the closing brace, on a line of its own
            // when the brace has one.
            let close = block.close.unwrap_or(block.end);
            let first = line_start(close);
            if only_blanks(first, close) {
                (first, true, format!("{block_indent}    "))
            } else {
                (close, false, String::new())
            }
        }
    };
    let new: String = if whole_lines {
        servers
            .iter()
            .map(|s| format!("{indent}server {s};\n"))
            .collect()
    } else {
        servers.iter().map(|s| format!("server {s}; ")).collect()
    };
    let mut out = String::with_capacity(text.len() + new.len());
    let mut at = 0;
    let mut inserted = false;
    for &(from, to, _) in &spans {
        out.push_str(&text[at..from]);
        if !inserted && from == insert_at {
            out.push_str(&new);
            inserted = true;
        }
        at = to;
    }
    if !inserted {
        out.push_str(&text[at..insert_at]);
        out.push_str(&new);
        at = insert_at;
    }
    out.push_str(&text[at..]);
    Ok(out)
}

/// Parameters nginx's `server` takes inside an `upstream` block.
const FLAGS: &[&str] = &["backup", "down", "resolve", "drain"];
const VALUED: &[&str] = &[
    "weight",
    "max_conns",
    "max_fails",
    "fail_timeout",
    "slow_start",
    "route",
    "service",
];

/// A `server` value: an address (`host:port`, `host`, `[v6]:port`,
/// `unix:/path`) and nginx's known parameters, nothing that could end the
/// directive or open a block.
pub fn check_server(value: &str) -> Result<(), String> {
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() || matches!(c, ';' | '{' | '}' | '#' | '"' | '\'' | '\\' | '$'))
    {
        return Err(format!(
            "server `{}` contains {:?}, which nginx would read as configuration",
            value.escape_debug(),
            c
        ));
    }
    let mut words = value.split(' ').filter(|w| !w.is_empty());
    let address = words
        .next()
        .ok_or_else(|| "a server needs an address (`host:port`)".to_string())?;
    check_address(address).map_err(|why| format!("server `{value}`: {why}"))?;
    for word in words {
        let known = match word.split_once('=') {
            Some((key, v)) => VALUED.contains(&key) && !v.is_empty(),
            None => FLAGS.contains(&word),
        };
        if !known {
            return Err(format!(
                "server `{value}`: `{word}` is not a parameter of nginx's `server` (known: {}, {})",
                FLAGS.join(", "),
                VALUED
                    .iter()
                    .map(|k| format!("{k}=…"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(())
}

fn check_address(address: &str) -> Result<(), String> {
    if let Some(path) = address.strip_prefix("unix:") {
        return if path.starts_with('/') {
            Ok(())
        } else {
            Err("a unix socket address is `unix:/absolute/path`".into())
        };
    }
    let (host, port) = match address.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| "an IPv6 address is `[addr]:port`".to_string())?;
            (host, after.strip_prefix(':'))
        }
        None => match address.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (address, None),
        },
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    if !host_ok {
        return Err(format!("`{host}` is not a host name or address"));
    }
    if let Some(port) = port {
        if !port.parse::<u16>().is_ok_and(|p| p > 0) {
            return Err(format!("`{port}` is not a port"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# edge upstreams\nupstream app {\n    zone app 64k;\n    least_conn;\n    server 10.0.0.1:8080 max_fails=3; # the old primary\n    server 10.0.0.2:8080;\n    keepalive 32;\n}\n\nupstream admin { server 10.0.0.9:9000; }\n";

    #[test]
    fn only_the_server_lines_of_the_named_upstream_change() {
        let servers = vec![
            "10.0.1.1:8080 weight=2".to_string(),
            "10.0.1.2:8080".to_string(),
        ];
        let out = set_servers(FILE, "app", &servers).unwrap();
        assert_eq!(
            out,
            "# edge upstreams\nupstream app {\n    zone app 64k;\n    least_conn;\n    server 10.0.1.1:8080 weight=2;\n    server 10.0.1.2:8080;\n    keepalive 32;\n}\n\nupstream admin { server 10.0.0.9:9000; }\n"
        );
        assert_eq!(servers_of(&out, "app").unwrap(), servers);
        assert_eq!(servers_of(&out, "admin").unwrap(), ["10.0.0.9:9000"]);
        let inline = set_servers(FILE, "admin", &["10.0.0.8:9000".to_string()]).unwrap();
        assert!(
            inline.ends_with("upstream admin { server 10.0.0.8:9000; }\n"),
            "{inline}"
        );
        assert!(inline.starts_with(&FILE[..FILE.find("upstream admin").unwrap()]));
    }

    #[test]
    fn an_empty_upstream_gets_its_servers_before_the_brace() {
        let text = "upstream app {\n    keepalive 8;\n}\n";
        let out = set_servers(text, "app", &["a:1".to_string()]).unwrap();
        assert_eq!(
            out,
            "upstream app {\n    keepalive 8;\n    server a:1;\n}\n"
        );
    }

    #[test]
    fn a_missing_or_repeated_upstream_is_named() {
        let error = set_servers(FILE, "orders", &[]).unwrap_err().to_string();
        assert_eq!(
            error,
            "no `upstream orders` block in the file (upstreams there: `app`, `admin`)"
        );
        let twice = format!("{FILE}upstream app {{ server x:1; }}\n");
        assert!(servers_of(&twice, "app")
            .unwrap_err()
            .to_string()
            .contains("2 times"));
        assert!(directives("upstream app { server a:1 }").is_err());
    }

    #[test]
    fn a_server_value_cannot_splice_configuration() {
        assert!(check_server("10.0.0.1:8080 max_fails=3 fail_timeout=10s").is_ok());
        assert!(check_server("[::1]:5432 backup").is_ok());
        assert!(check_server("unix:/run/app.sock").is_ok());
        assert!(check_server("db.internal").is_ok());
        for bad in [
            "10.0.0.1:8080; } server { listen 80",
            "10.0.0.1:8080\nserver evil:1",
            "a:1 # comment",
            "a:99999",
            "a:1 bogus=1",
            "",
        ] {
            assert!(check_server(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
