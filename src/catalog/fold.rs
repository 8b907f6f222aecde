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
}
