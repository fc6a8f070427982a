//! Templates inside playbook strings: `${{ vars.NAME }}`, `${{ env.NAME }}` and
//! `${{ secrets.NAME }}`. Parsing is separate from rendering so `validate` can
//! check every reference without reading the environment.

/// Where a reference takes its value from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Vars,
    Env,
    Secrets,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Vars => "vars",
            Scope::Env => "env",
            Scope::Secrets => "secrets",
        }
    }
}

/// One `${{ scope.name }}` found in a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub scope: Scope,
    pub name: String,
    /// Char offset of `${{` inside the string, to point at it.
    pub offset: usize,
}

/// A piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Ref(Reference),
}

/// Splits a string into text and references, or says what is wrong with the
/// first malformed `${{ … }}`.
pub fn parse(text: &str) -> Result<Vec<Piece>, (usize, String)> {
    let mut pieces = Vec::new();
    let mut rest = text;
    let mut consumed_chars = 0;
    while let Some(start) = rest.find("${{") {
        if start > 0 {
            pieces.push(Piece::Text(rest[..start].to_string()));
        }
        let offset = consumed_chars + rest[..start].chars().count();
        let after = &rest[start + 3..];
        let Some(end) = after.find("}}") else {
            return Err((offset, "`${{` is never closed with `}}`".into()));
        };
        let expression = after[..end].trim();
        let (scope, name) = expression
            .split_once('.')
            .ok_or_else(|| (offset, format!("`{expression}` is not a reference: expected `vars.NAME`, `env.NAME` or `secrets.NAME`")))?;
        let scope = match scope.trim() {
            "vars" => Scope::Vars,
            "env" => Scope::Env,
            "secrets" => Scope::Secrets,
            other => {
                return Err((
                    offset,
                    format!("unknown scope `{other}`: expected `vars`, `env` or `secrets`"),
                ))
            }
        };
        let name = name.trim();
        let valid_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_name {
            return Err((
                offset,
                format!("`{name}` is not a valid name: use letters, digits, `_` and `-`"),
            ));
        }
        pieces.push(Piece::Ref(Reference {
            scope,
            name: name.to_string(),
            offset,
        }));
        let used = start + 3 + end + 2;
        consumed_chars += rest[..used].chars().count();
        rest = &rest[used..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    Ok(pieces)
}

/// Renders a string, asking `lookup` for each reference's value.
pub fn render<E>(
    text: &str,
    mut lookup: impl FnMut(&Reference) -> Result<String, E>,
) -> Result<String, RenderError<E>> {
    let pieces = parse(text).map_err(|(_, message)| RenderError::Syntax(message))?;
    let mut out = String::with_capacity(text.len());
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(&t),
            Piece::Ref(r) => out.push_str(&lookup(&r).map_err(RenderError::Lookup)?),
        }
    }
    Ok(out)
}

#[derive(Debug)]
pub enum RenderError<E> {
    Syntax(String),
    Lookup(E),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_references_and_text() {
        let pieces = parse("postgres://app:${{ secrets.PW }}@${{vars.host}}/db").unwrap();
        assert_eq!(pieces.len(), 5);
        assert_eq!(
            pieces[1],
            Piece::Ref(Reference {
                scope: Scope::Secrets,
                name: "PW".into(),
                offset: 15
            })
        );
    }

    #[test]
    fn malformed_references_are_errors() {
        assert!(parse("${{ vars.x").is_err());
        assert!(parse("${{ foo.x }}")
            .unwrap_err()
            .1
            .contains("unknown scope"));
        assert!(parse("${{ vars }}").is_err());
        assert!(parse("${{ vars.a b }}").is_err());
    }

    #[test]
    fn renders_with_lookup() {
        let out = render::<()>("a ${{ vars.x }} b", |r| Ok(r.name.to_uppercase())).unwrap();
        assert_eq!(out, "a X b");
    }
}
