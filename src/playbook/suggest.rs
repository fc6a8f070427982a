//! Did-you-mean suggestions for unknown keys, actions and names.

/// The closest candidate to `word`, if one is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(word, candidate), candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let actions = ["shelf", "pause", "confirm", "db.catch_up"];
        assert_eq!(did_you_mean("db.catchup", actions), Some("db.catch_up"));
        assert_eq!(did_you_mean("shel", actions), Some("shelf"));
        assert_eq!(did_you_mean("kubernetes", actions), None);
    }
}
