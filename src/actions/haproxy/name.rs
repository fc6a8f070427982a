//! Backend and server names as HAProxy accepts them. They are spliced into
//! runtime API commands (`set server BACKEND/SERVER state ready`), where `;`
//! separates commands and a newline ends one, and into `server` lines of the
//! configuration file: anything but HAProxy's own name characters could run
//! another command or edit another line, so it is refused when the playbook
//! is checked.

use serde::{Deserialize, Deserializer};

/// HAProxy's rule for proxy and server names (`invalid_char()` in its
/// sources): letters, digits, `.`, `:`, `-` and `_`.
pub fn check(what: &str, name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '_'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "expected a {what} name of letters, digits, `.`, `:`, `-` and `_` (as HAProxy accepts), found `{}`",
            name.escape_debug()
        ))
    }
}

pub fn backend<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let name = String::deserialize(deserializer)?;
    check("backend", &name).map_err(serde::de::Error::custom)?;
    Ok(name)
}

pub fn servers<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let names = Vec::<String>::deserialize(deserializer)?;
    for name in &names {
        check("server", name).map_err(serde::de::Error::custom)?;
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn only_haproxy_name_characters_pass() {
        assert!(check("server", "pg-new_1.a:b").is_ok());
        for bad in [
            "",
            "a;b",
            "a\nset server x/y state maint",
            "a b",
            "a/b",
            "a#",
        ] {
            assert!(check("server", bad).is_err(), "{bad:?}");
        }
    }
}
