//! UPnP ContentDirectory search criteria (ContentDirectory:1 §2.5.5) read into the
//! library's protocol-neutral [`Match`]: `and` binds before `or`, parentheses group,
//! `=`/`!=`/`contains`/`doesNotContain`/`derivedfrom`/`exists` over `dc:title`,
//! `dc:creator`, `upnp:artist`, `upnp:album`, `upnp:genre` and `upnp:class`; a condition on
//! a property the library does not keep is left out (`exists true` of one: nothing).

use crate::service::lan::{Field, Kind, Match};

/// Conditions nested deeper than this are refused (a hostile criteria string).
const MAX_DEPTH: usize = 32;

/// The UPnP class of each kind of entry.
pub fn class(kind: Kind) -> &'static str {
    match kind {
        Kind::Track => "object.item.audioItem.musicTrack",
        Kind::Album => "object.container.album.musicAlbum",
        Kind::Artist => "object.container.person.musicArtist",
        Kind::Playlist => "object.container.playlistContainer",
        Kind::Plain => "object.container.storageFolder",
    }
}

const KINDS: [Kind; 5] = [Kind::Track, Kind::Album, Kind::Artist, Kind::Playlist, Kind::Plain];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    Word(String),
    Quoted(String),
}

fn lex(s: &str) -> Option<Vec<Tok>> {
    let mut out = Vec::new();
    let mut it = s.chars().peekable();
    while let Some(&c) = it.peek() {
        match c {
            c if c.is_whitespace() => {
                it.next();
            }
            '(' => {
                it.next();
                out.push(Tok::Open);
            }
            ')' => {
                it.next();
                out.push(Tok::Close);
            }
            '"' => {
                it.next();
                let mut v = String::new();
                loop {
                    match it.next()? {
                        '\\' => v.push(it.next()?),
                        '"' => break,
                        c => v.push(c),
                    }
                }
                out.push(Tok::Quoted(v));
            }
            _ => {
                let mut w = String::new();
                while let Some(&c) = it.peek() {
                    if c.is_whitespace() || c == '(' || c == ')' || c == '"' {
                        break;
                    }
                    w.push(c);
                    it.next();
                }
                out.push(Tok::Word(w));
            }
        }
    }
    Some(out)
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn peek_word(&self, w: &str) -> bool {
        matches!(self.toks.get(self.at), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
    }

    fn or(&mut self, depth: usize) -> Option<Match> {
        let mut v = vec![self.and(depth)?];
        while self.peek_word("or") {
            self.at += 1;
            v.push(self.and(depth)?);
        }
        Some(if v.len() == 1 { v.remove(0) } else { Match::Or(v) })
    }

    fn and(&mut self, depth: usize) -> Option<Match> {
        let mut v = vec![self.primary(depth)?];
        while self.peek_word("and") {
            self.at += 1;
            v.push(self.primary(depth)?);
        }
        Some(if v.len() == 1 { v.remove(0) } else { Match::And(v) })
    }

    fn primary(&mut self, depth: usize) -> Option<Match> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.next()? {
            Tok::Open => {
                let m = self.or(depth + 1)?;
                (self.next()? == Tok::Close).then_some(m)
            }
            Tok::Word(property) => {
                let Tok::Word(op) = self.next()? else { return None };
                let value = match self.next()? {
                    Tok::Quoted(v) => v,
                    Tok::Word(v) if op == "exists" => v,
                    _ => return None,
                };
                relation(&property, &op, value)
            }
            _ => None,
        }
    }
}

fn relation(property: &str, op: &str, value: String) -> Option<Match> {
    if property == "upnp:class" {
        let kinds: Vec<Kind> = match op {
            "=" => KINDS.into_iter().filter(|k| class(*k) == value).collect(),
            "!=" => KINDS.into_iter().filter(|k| class(*k) != value).collect(),
            "derivedfrom" => KINDS.into_iter().filter(|k| class(*k) == value || class(*k).starts_with(&format!("{value}."))).collect(),
            "exists" => return exists(&value, true),
            "contains" => KINDS.into_iter().filter(|k| class(*k).contains(&value)).collect(),
            "doesNotContain" => KINDS.into_iter().filter(|k| !class(*k).contains(&value)).collect(),
            _ => return None,
        };
        return Some(Match::KindIn(kinds));
    }
    let field = match property {
        "dc:title" => Some(Field::Title),
        "dc:creator" | "upnp:artist" | "upnp:albumArtist" | "upnp:author" => Some(Field::Artist),
        "upnp:album" => Some(Field::Album),
        "upnp:genre" => Some(Field::Genre),
        _ => None,
    };
    let Some(field) = field else {
        // A property this library does not keep: only "exists" can be judged.
        return match op {
            "exists" => exists(&value, false),
            "=" | "!=" | "<" | "<=" | ">" | ">=" | "contains" | "doesNotContain" | "derivedfrom" => Some(Match::All),
            _ => None,
        };
    };
    Some(match op {
        "=" => Match::Is(field, value),
        "!=" => Match::Not(Box::new(Match::Is(field, value))),
        "contains" => Match::Contains(field, value),
        "doesNotContain" => Match::Not(Box::new(Match::Contains(field, value))),
        "exists" => match value.as_str() {
            "true" => Match::Exists(field, true),
            "false" => Match::Exists(field, false),
            _ => return None,
        },
        "<" | "<=" | ">" | ">=" | "derivedfrom" => Match::All,
        _ => return None,
    })
}

/// `exists` of a property every entry has (`kept`) or none has.
fn exists(value: &str, kept: bool) -> Option<Match> {
    match (value, kept) {
        ("true", true) | ("false", false) => Some(Match::All),
        ("true", false) | ("false", true) => Some(Match::Nothing),
        _ => None,
    }
}

/// Reads a search criteria string; `None` when it is not one.
pub fn parse(s: &str) -> Option<Match> {
    if s.trim() == "*" || s.trim().is_empty() {
        return Some(Match::All);
    }
    let mut p = Parser { toks: lex(s)?, at: 0 };
    let m = p.or(0)?;
    (p.at == p.toks.len()).then_some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_control_points_send() {
        assert_eq!(parse("*"), Some(Match::All));
        assert_eq!(
            parse(r#"upnp:class derivedfrom "object.item.audioItem" and dc:title contains "Jóga""#),
            Some(Match::And(vec![Match::KindIn(vec![Kind::Track]), Match::Contains(Field::Title, "Jóga".into())]))
        );
        // Windows Media Player.
        assert_eq!(
            parse(r#"(upnp:class derivedfrom "object.item.audioItem" and @refID exists false)"#),
            Some(Match::And(vec![Match::KindIn(vec![Kind::Track]), Match::All]))
        );
        // and binds before or.
        assert_eq!(
            parse(r#"upnp:artist contains "a" or upnp:album contains "b" and upnp:genre = "c""#),
            Some(Match::Or(vec![
                Match::Contains(Field::Artist, "a".into()),
                Match::And(vec![Match::Contains(Field::Album, "b".into()), Match::Is(Field::Genre, "c".into())])
            ]))
        );
        assert_eq!(parse(r#"upnp:class = "object.container.album.musicAlbum""#), Some(Match::KindIn(vec![Kind::Album])));
        assert_eq!(parse(r#"dc:title contains "say \"hi\"""#), Some(Match::Contains(Field::Title, "say \"hi\"".into())));
    }

    #[test]
    fn refuses_what_is_not_criteria() {
        for bad in ["dc:title", "dc:title contains", "dc:title contains \"x", "(dc:title = \"x\"", "dc:title like \"x\"", "dc:title = \"x\" and", ")"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        let deep = format!("{}dc:title = \"x\"{}", "(".repeat(100), ")".repeat(100));
        assert_eq!(parse(&deep), None);
    }
}
