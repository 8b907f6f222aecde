//! Lyrics: read from a file's tags (ID3v2 USLT with its language, Vorbis `LYRICS` and
//! `UNSYNCEDLYRICS`, MP4 `©lyr`, APE `Lyrics`) as the text the file carries, and that text
//! read as lines: LRC-timed (`[mm:ss.xx]`, several stamps per line, `[offset:]`, enhanced
//! word stamps dropped) or plain. Pure text work; knows lofty's tag model and nothing else.

use lofty::prelude::ItemKey;
use lofty::tag::Tag;

pub use crate::domain::Lyrics;

/// Longest lyrics text kept (characters beyond are cut at a line break).
const MAX_TEXT: usize = 256 << 10;
/// Most lyrics texts kept per file.
const MAX_TEXTS: usize = 8;

/// The lyrics in one tag block, each text once.
pub fn from_tag(tag: &Tag) -> Vec<Lyrics> {
    let mut out: Vec<Lyrics> = Vec::new();
    for item in tag.items() {
        if !matches!(item.key(), ItemKey::Lyrics | ItemKey::UnsyncLyrics) {
            continue;
        }
        let Some(text) = item.value().text().and_then(clean_text) else { continue };
        let lang = std::str::from_utf8(item.lang()).ok().and_then(language);
        if out.len() < MAX_TEXTS && !out.iter().any(|l| l.text == text) {
            out.push(Lyrics { lang, text });
        }
    }
    out
}

/// An ISO 639 code as tagged, lower case; `None` for "XXX", "und" and anything else.
fn language(code: &str) -> Option<String> {
    let c = code.trim_matches(char::from(0)).trim().to_ascii_lowercase();
    let ok = (2..=3).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_lowercase()) && c != "xxx" && c != "und";
    ok.then_some(c)
}

/// Line breaks as `\n`, no NULs or other control characters, trimmed, bounded; `None` when
/// nothing is left.
fn clean_text(raw: &str) -> Option<String> {
    let unified = raw.replace("\r\n", "\n").replace('\r', "\n");
    let mut t: String = unified.chars().filter(|&c| c == '\n' || c == '\t' || !c.is_control()).collect();
    if t.len() > MAX_TEXT {
        let mut cut = MAX_TEXT;
        while !t.is_char_boundary(cut) {
            cut -= 1;
        }
        let at = t[..cut].rfind('\n').unwrap_or(cut);
        t.truncate(at);
    }
    let t = t.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// Lyrics read as lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lines {
    /// Every line has a start time (the text was LRC).
    pub synced: bool,
    /// LRC `[offset:]` in milliseconds: positive shows the lines sooner.
    pub offset_ms: i64,
    /// LRC `[ar:]` and `[ti:]`, when given.
    pub artist: Option<String>,
    pub title: Option<String>,
    pub lines: Vec<Line>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Milliseconds from the start (synced lyrics only).
    pub start_ms: Option<u64>,
    pub text: String,
}

impl Lyrics {
    /// The text as lines: LRC when at least one line carries a time stamp (untimed lines
    /// other than metadata are then dropped, and the rest ordered by time), plain otherwise.
    pub fn lines(&self) -> Lines {
        let mut out = Lines { synced: false, offset_ms: 0, artist: None, title: None, lines: Vec::new() };
        let mut timed: Vec<Line> = Vec::new();
        let mut plain: Vec<Line> = Vec::new();
        for raw in self.text.lines() {
            let (stamps, rest) = stamps(raw);
            if !stamps.is_empty() {
                let text = strip_word_stamps(rest).trim().to_string();
                timed.extend(stamps.into_iter().map(|ms| Line { start_ms: Some(ms), text: text.clone() }));
            } else if let Some((key, value)) = metadata(raw) {
                match key.as_str() {
                    "offset" => out.offset_ms = value.trim().trim_start_matches('+').parse().unwrap_or(0),
                    "ar" => out.artist = Some(value).filter(|v| !v.is_empty()),
                    "ti" => out.title = Some(value).filter(|v| !v.is_empty()),
                    _ => {}
                }
            } else {
                plain.push(Line { start_ms: None, text: raw.trim_end().to_string() });
            }
        }
        if timed.is_empty() {
            out.lines = plain;
        } else {
            timed.sort_by_key(|l| l.start_ms);
            out.synced = true;
            out.lines = timed;
        }
        out
    }
}

/// The leading `[mm:ss(.xx)]` stamps of a line, in milliseconds, and what follows them.
fn stamps(line: &str) -> (Vec<u64>, &str) {
    let mut rest = line.trim_start();
    let mut out = Vec::new();
    while let Some(inner) = rest.strip_prefix('[') {
        let Some(end) = inner.find(']') else { break };
        let Some(ms) = stamp(&inner[..end]) else { break };
        out.push(ms);
        rest = &inner[end + 1..];
    }
    (out, rest)
}

/// `mm:ss`, `mm:ss.x`, `mm:ss.xx`, `mm:ss.xxx` (also with `:` before the fraction, or
/// `hh:mm:ss.xx`) → milliseconds.
fn stamp(s: &str) -> Option<u64> {
    let (whole, frac) = match s.rfind(['.', ',']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let fields: Vec<&str> = whole.split(':').collect();
    let num = |f: &str| -> Option<u64> { (!f.is_empty() && f.len() <= 3 && f.bytes().all(|b| b.is_ascii_digit())).then(|| f.parse().ok()).flatten() };
    let (h, m, sec, frac) = match (fields.as_slice(), frac) {
        ([m, s], f) => (0, num(m)?, num(s)?, f),
        // `mm:ss:xx`, a common variant with a colon before the hundredths.
        ([m, s, x], None) if x.len() == 2 => (0, num(m)?, num(s)?, Some(*x)),
        ([h, m, s], f) => (num(h)?, num(m)?, num(s)?, f),
        _ => return None,
    };
    if sec >= 60 {
        return None;
    }
    let ms = match frac {
        None => 0,
        Some(f) if !f.is_empty() && f.len() <= 3 && f.bytes().all(|b| b.is_ascii_digit()) => f.parse::<u64>().ok()? * 10u64.pow(3 - f.len() as u32),
        Some(_) => return None,
    };
    Some(((h * 60 + m) * 60 + sec) * 1000 + ms)
}

/// LRC's own tags; anything else in brackets (`[Chorus: Beyoncé]`) is a lyrics line.
const LRC_TAGS: &[&str] = &["ar", "al", "ti", "au", "by", "offset", "length", "re", "ve", "tool", "la", "lang", "#"];

/// An LRC tag alone on its line (`[ar:Björk]`, `[offset:+250]`).
fn metadata(line: &str) -> Option<(String, String)> {
    let inner = line.trim().strip_prefix('[')?.strip_suffix(']')?;
    let (key, value) = inner.split_once(':')?;
    let key = key.trim().to_ascii_lowercase();
    LRC_TAGS.contains(&key.as_str()).then(|| (key, value.trim().to_string()))
}

/// Enhanced LRC's word stamps (`<00:12.34>`) removed from a line's text.
fn strip_word_stamps(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        match rest[open + 1..].find('>') {
            Some(close) if stamp(&rest[open + 1..open + 1 + close]).is_some() => {
                out.push_str(&rest[..open]);
                rest = &rest[open + close + 2..];
            }
            _ => {
                out.push_str(&rest[..=open]);
                rest = &rest[open + 1..];
            }
        }
    }
    out.push_str(rest);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lyr(text: &str) -> Lyrics {
        Lyrics { lang: None, text: text.into() }
    }

    #[test]
    fn lrc_stamps_in_every_shape() {
        assert_eq!(stamp("00:12.34"), Some(12_340));
        assert_eq!(stamp("01:02.5"), Some(62_500));
        assert_eq!(stamp("01:02.345"), Some(62_345));
        assert_eq!(stamp("1:02"), Some(62_000));
        assert_eq!(stamp("01:02:34"), Some(62_340));
        assert_eq!(stamp("1:01:02.00"), Some(3_662_000));
        assert_eq!(stamp("00:61.00"), None);
        assert_eq!(stamp("ar:Björk"), None);
        assert_eq!(stamp(""), None);
    }

    #[test]
    fn synced_text_becomes_ordered_lines() {
        let l = lyr(
            "[ar:Björk]\n[ti:Jóga]\n[offset:+250]\n[00:10.00][00:30.50]All that no one sees\n[00:20.00]<00:20.00>You <00:20.50>see\nuntimed\n[length: 3:05]",
        );
        let lines = l.lines();
        assert!(lines.synced);
        assert_eq!(lines.offset_ms, 250);
        assert_eq!(lines.artist.as_deref(), Some("Björk"));
        assert_eq!(lines.title.as_deref(), Some("Jóga"));
        let got: Vec<(Option<u64>, &str)> = lines.lines.iter().map(|l| (l.start_ms, l.text.as_str())).collect();
        assert_eq!(got, vec![(Some(10_000), "All that no one sees"), (Some(20_000), "You see"), (Some(30_500), "All that no one sees")]);
    }

    #[test]
    fn plain_text_keeps_its_lines() {
        let lines = lyr("[Chorus: Beyoncé]\nFirst line\n\nThird [not a stamp]\n[Hook:]").lines();
        assert!(!lines.synced);
        let got: Vec<&str> = lines.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(got, vec!["[Chorus: Beyoncé]", "First line", "", "Third [not a stamp]", "[Hook:]"], "section labels are lines, not LRC tags");
        assert!(lines.lines.iter().all(|l| l.start_ms.is_none()));
    }

    #[test]
    fn texts_are_cleaned_and_bounded() {
        assert_eq!(clean_text("a\r\nb\rc\0\u{7}").as_deref(), Some("a\nb\nc"));
        assert_eq!(clean_text(" \n\0 "), None);
        let long = "la la la\n".repeat(MAX_TEXT / 4);
        let t = clean_text(&long).unwrap_or_default();
        assert!(t.len() <= MAX_TEXT && t.ends_with("la la la"));
        assert_eq!(language("ENG").as_deref(), Some("eng"));
        assert_eq!(language("XXX"), None);
        assert_eq!(language("\0\0\0"), None);
    }

    #[test]
    fn tags_yield_each_text_once_with_its_language() {
        use lofty::tag::{ItemValue, TagItem, TagType};
        let mut tag = Tag::new(TagType::VorbisComments);
        tag.push(TagItem::new(ItemKey::Lyrics, ItemValue::Text("[00:01.00]Hello".into())));
        tag.push(TagItem::new(ItemKey::UnsyncLyrics, ItemValue::Text("[00:01.00]Hello".into())));
        tag.push(TagItem::new(ItemKey::Lyrics, ItemValue::Text("Bonjour".into())));
        tag.push(TagItem::new(ItemKey::Comment, ItemValue::Text("not lyrics".into())));
        let got = from_tag(&tag);
        assert_eq!(got, vec![Lyrics { lang: None, text: "[00:01.00]Hello".into() }, Lyrics { lang: None, text: "Bonjour".into() }]);
    }
}
