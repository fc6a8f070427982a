//! The `server` lines of one backend in an HAProxy configuration file, made
//! to say what the runtime API was told: a server taken out of service gets
//! `disabled`, a server put in service loses it. Every other byte stays, so a
//! reload — which reads the file and forgets the runtime state — keeps the
//! routing the swap made.

use anyhow::bail;

/// Section keywords of the configuration: a line starting with one of them
/// begins a new section.
const SECTIONS: &[&str] = &[
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "peers",
    "resolvers",
    "userlist",
    "mailers",
    "program",
    "http-errors",
    "ring",
    "cache",
    "crt-store",
    "traces",
];

/// `text` with `enable` servers of `backend` without `disabled` and `disable`
/// servers with it. Fails naming the backend or a server it lacks.
pub fn set_disabled(
    text: &str,
    backend: &str,
    enable: &[String],
    disable: &[String],
) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len() + 16 * disable.len());
    let mut in_backend = false;
    let mut sections_named = 0;
    let mut seen: Vec<String> = Vec::new();
    for line in text.split_inclusive('\n') {
        let (code, comment) = split_comment(line);
        let words: Vec<&str> = code.split_whitespace().collect();
        if let Some(first) = words.first() {
            if SECTIONS.contains(first) && !line.starts_with([' ', '\t']) {
                in_backend =
                    matches!(*first, "backend" | "listen") && words.get(1) == Some(&backend);
                if in_backend {
                    sections_named += 1;
                }
            }
        }
        if in_backend && words.first() == Some(&"server") && words.len() >= 3 {
            let name = words[1];
            seen.push(name.to_string());
            let want_disabled = if disable.iter().any(|s| s == name) {
                Some(true)
            } else if enable.iter().any(|s| s == name) {
                Some(false)
            } else {
                None
            };
            if let Some(disabled) = want_disabled {
                out.push_str(&with_disabled(code, disabled));
                out.push_str(comment);
                continue;
            }
        }
        out.push_str(line);
    }
    match sections_named {
        0 => bail!("the configuration has no `backend {backend}` (nor `listen {backend}`) section"),
        1 => {}
        n => bail!("`{backend}` is defined {n} times in the configuration"),
    }
    let missing: Vec<&String> = enable
        .iter()
        .chain(disable)
        .filter(|s| !seen.contains(s))
        .collect();
    if !missing.is_empty() {
        bail!(
            "backend `{backend}` in the configuration has no server line for {} (it has: {}): the file and the running HAProxy disagree",
            missing.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", "),
            seen.join(", ")
        );
    }
    Ok(out)
}

/// A line's code and its comment (from an unquoted, unescaped `#`, with the
/// line's end).
fn split_comment(line: &str) -> (&str, &str) {
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' | '\'' if quote.is_none() => quote = Some(c),
            c if Some(c) == quote => quote = None,
            '#' if quote.is_none() => return (&line[..i], &line[i..]),
            '\n' => return (&line[..i], &line[i..]),
            _ => {}
        }
    }
    (line, "")
}

/// The `server` line's code with its `disabled` keyword added or removed;
/// trailing blanks before a comment are kept as they were.
fn with_disabled(code: &str, disabled: bool) -> String {
    let body = code.trim_end();
    let trailing = &code[body.len()..];
    let has = body.split_whitespace().skip(3).any(|w| w == "disabled");
    match (disabled, has) {
        (true, false) => format!("{body} disabled{trailing}"),
        (false, true) => {
            // Remove the word with the blank before it.
            let mut result = String::with_capacity(body.len());
            let mut rest = body;
            let mut index = 0;
            while !rest.is_empty() {
                let start = rest.len() - rest.trim_start().len();
                let word_len = rest[start..]
                    .find([' ', '\t'])
                    .unwrap_or(rest.len() - start);
                let word = &rest[start..start + word_len];
                if !(index >= 3 && word == "disabled") {
                    result.push_str(&rest[..start + word_len]);
                }
                rest = &rest[start + word_len..];
                index += 1;
            }
            format!("{result}{trailing}")
        }
        _ => code.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = "global\n  stats socket /run/h.sock level admin\n\nbackend db   # the database\n  balance first\n  server old 10.0.0.1:5432 check inter 2s # primary\n  server new 10.0.0.2:5432 check disabled\n\nbackend other\n  server old 10.0.0.9:80 disabled\n";

    #[test]
    fn the_swapped_servers_change_and_nothing_else() {
        let out = set_disabled(CFG, "db", &["new".into()], &["old".into()]).unwrap();
        assert_eq!(
            out,
            "global\n  stats socket /run/h.sock level admin\n\nbackend db   # the database\n  balance first\n  server old 10.0.0.1:5432 check inter 2s disabled # primary\n  server new 10.0.0.2:5432 check\n\nbackend other\n  server old 10.0.0.9:80 disabled\n"
        );
        // Back again: the file as it was.
        assert_eq!(
            set_disabled(&out, "db", &["old".into()], &["new".into()]).unwrap(),
            CFG
        );
        // Already so: unchanged.
        assert_eq!(
            set_disabled(CFG, "db", &["old".into()], &["new".into()]).unwrap(),
            CFG
        );
    }

    #[test]
    fn a_missing_backend_or_server_is_named() {
        let error = set_disabled(CFG, "web", &[], &[]).unwrap_err().to_string();
        assert!(error.contains("no `backend web`"), "{error}");
        let error = set_disabled(CFG, "db", &["spare".into()], &[])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("no server line for `spare` (it has: old, new)"),
            "{error}"
        );
    }
}
