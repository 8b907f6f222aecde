//! Text folding for grouping keys and search: case, diacritics and script differences
//! removed ("Björk" = "bjork", "Sigur Rós" = "sigur ros", "Ø" = "o", "ß" = "ss").

/// Lowercase ASCII transliteration with whitespace collapsed.
pub fn fold(s: &str) -> String {
    let t = deunicode::deunicode_with_tofu(s, "");
    let mut out = String::with_capacity(t.len());
    for w in t.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&w.to_lowercase());
    }
    out
}

/// The text indexed for a row: the original (so exact-script matches work) and the folded
/// form (so ASCII queries find accented names).
pub fn index_text(parts: &[&str]) -> String {
    let joined = parts.iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>().join(" ");
    let folded = fold(&joined);
    if folded == joined.to_lowercase() { joined } else { format!("{joined} {folded}") }
}

/// An FTS5 MATCH expression: every word of the folded query as a prefix term, ANDed.
/// Only letters and digits reach FTS, so no query can be an FTS syntax error.
/// `None` when the query has no searchable word.
pub fn fts_query(q: &str) -> Option<String> {
    let folded = fold(q);
    let terms: Vec<String> = folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(12)
        .map(|w| format!("\"{w}\"*"))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_names_as_people_type_them() {
        assert_eq!(fold("Björk"), "bjork");
        assert_eq!(fold("  Sigur   Rós "), "sigur ros");
        assert_eq!(fold("Mötley Crüe"), "motley crue");
        assert_eq!(fold("Røyksopp"), "royksopp");
        assert_eq!(fold("STRAßE"), "strasse");
    }

    #[test]
    fn queries_are_safe() {
        assert_eq!(fts_query("sigur rós").as_deref(), Some("\"sigur\"* \"ros\"*"));
        assert_eq!(fts_query("\"AND OR NEAR( *").as_deref(), Some("\"and\"* \"or\"* \"near\"*"));
        assert_eq!(fts_query("  -- ").as_deref(), None);
    }

    #[test]
    fn index_text_keeps_original_and_folded() {
        assert_eq!(index_text(&["Björk", "Homogenic"]), "Björk Homogenic bjork homogenic");
        assert_eq!(index_text(&["Abba", ""]), "Abba");
    }
}
