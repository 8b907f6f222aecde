//! Tag reading with lofty: the fields a library is built from, cleaned up as libraries in the
//! wild need (blank and NUL-padded values, several tag blocks per file, multi-valued artists,
//! "3/12" track numbers, dates in any of the usual shapes), plus the embedded front cover
//! and the lyrics ([`super::lyrics`]).

use std::io::BufReader;

use lofty::config::{ParseOptions, ParsingMode};
use lofty::file::TaggedFileExt;
use lofty::picture::{MimeType, PictureType};
use lofty::prelude::{Accessor, ItemKey};
use lofty::probe::Probe;
use lofty::tag::Tag;

pub use crate::domain::Tags;

use super::Input;

/// An embedded picture, bytes as stored in the tag.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddedCover {
    pub data: Vec<u8>,
    pub mime: Option<String>,
}

/// Reads tags and the best embedded cover (front cover first) no larger than `max_cover`.
/// A file whose tags cannot be parsed yields empty tags, never an error: tags are optional.
pub fn read(input: &Input, max_cover: u64) -> (Tags, Option<EmbeddedCover>) {
    match read_inner(input, max_cover) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(?input, error = %e, "tags unreadable");
            (Tags::default(), None)
        }
    }
}

fn read_inner(input: &Input, max_cover: u64) -> Result<(Tags, Option<EmbeddedCover>), lofty::error::FileParseError> {
    // lofty recurses into nested chapter frames: a hostile tag is not read at all.
    if let Err(e) = super::guard::check(input) {
        tracing::debug!(?input, error = %e, "tags not read");
        return Ok((Tags::default(), None));
    }
    let file = input.reader()?;
    let opts = ParseOptions::new().parsing_mode(ParsingMode::Relaxed).read_properties(false);
    let tagged = Probe::new(BufReader::new(file)).options(opts).guess_file_type()?.read()?;
    // Primary tag first, then the others (e.g. ID3v1 behind ID3v2) to fill gaps.
    let mut ordered: Vec<&Tag> = Vec::new();
    if let Some(p) = tagged.primary_tag() {
        ordered.push(p);
    }
    for t in tagged.tags() {
        if !ordered.iter().any(|o| std::ptr::eq(*o, t)) {
            ordered.push(t);
        }
    }
    let mut tags = Tags::default();
    let mut cover = None;
    for t in &ordered {
        merge(&mut tags, t);
        if cover.is_none() {
            cover = best_picture(t, max_cover);
        }
    }
    Ok((tags, cover))
}

/// Trims, drops NULs and control characters; `None` when nothing is left.
pub fn clean(s: &str) -> Option<String> {
    let t: String = s.chars().filter(|c| !c.is_control()).collect();
    let t = t.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn first(tag: &Tag, key: ItemKey) -> Option<String> {
    tag.get_strings(key).find_map(clean)
}

fn merge(out: &mut Tags, tag: &Tag) {
    fill(&mut out.title, || tag.title().and_then(|s| clean(&s)));
    fill(&mut out.artist, || tag.artist().and_then(|s| clean(&s)));
    fill(&mut out.album, || tag.album().and_then(|s| clean(&s)));
    fill(&mut out.album_artist, || first(tag, ItemKey::AlbumArtist));
    fill(&mut out.genre, || tag.genre().and_then(|s| clean(&s)).map(|g| id3v1_genre(&g)));
    fill(&mut out.track_number, || tag.track().filter(|&n| n > 0));
    fill(&mut out.track_total, || tag.track_total().filter(|&n| n > 0));
    fill(&mut out.disc_number, || tag.disk().filter(|&n| n > 0));
    fill(&mut out.disc_total, || tag.disk_total().filter(|&n| n > 0));
    fill(&mut out.year, || {
        tag.date().map(|d| d.year as i32).filter(|&y| y > 0).or_else(|| {
            [ItemKey::Year, ItemKey::RecordingDate, ItemKey::ReleaseDate, ItemKey::OriginalReleaseDate]
                .into_iter()
                .find_map(|k| first(tag, k).and_then(|s| parse_year(&s)))
        })
    });
    if out.artists.is_empty() {
        let mut list: Vec<String> = tag.get_strings(ItemKey::TrackArtists).filter_map(clean).collect();
        if list.is_empty() {
            list = tag.get_strings(ItemKey::TrackArtist).filter_map(clean).collect();
        }
        if list.len() == 1 && list[0].contains("; ") {
            list = list[0].split("; ").filter_map(clean).collect();
        }
        let mut seen = std::collections::HashSet::new();
        list.retain(|a| seen.insert(a.to_lowercase()));
        out.artists = list;
    }
    if !out.compilation {
        out.compilation = first(tag, ItemKey::FlagCompilation).is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    }
    fill(&mut out.replaygain_track_gain, || first(tag, ItemKey::ReplayGainTrackGain).and_then(|s| parse_db(&s)));
    fill(&mut out.replaygain_track_peak, || first(tag, ItemKey::ReplayGainTrackPeak).and_then(|s| parse_db(&s)));
    fill(&mut out.replaygain_album_gain, || first(tag, ItemKey::ReplayGainAlbumGain).and_then(|s| parse_db(&s)));
    fill(&mut out.replaygain_album_peak, || first(tag, ItemKey::ReplayGainAlbumPeak).and_then(|s| parse_db(&s)));
    fill(&mut out.mb_track_id, || first(tag, ItemKey::MusicBrainzRecordingId));
    fill(&mut out.mb_album_id, || first(tag, ItemKey::MusicBrainzReleaseId));
    fill(&mut out.mb_artist_id, || first(tag, ItemKey::MusicBrainzArtistId));
    fill(&mut out.mb_album_artist_id, || first(tag, ItemKey::MusicBrainzReleaseArtistId));
    if out.lyrics.is_empty() {
        out.lyrics = super::lyrics::from_tag(tag);
    }
    if out.isrc.is_empty() {
        for code in tag.get_strings(ItemKey::Isrc).flat_map(|v| v.split([';', ',', '/']).map(str::to_string).collect::<Vec<_>>()) {
            if let Some(c) = isrc(&code)
                && !out.isrc.contains(&c)
            {
                out.isrc.push(c);
            }
        }
    }
}

fn fill<T>(slot: &mut Option<T>, f: impl FnOnce() -> Option<T>) {
    if slot.is_none() {
        *slot = f();
    }
}

/// An ISRC as written anywhere ("US-SM1-83-00073", "ussm18300073") → "USSM18300073";
/// `None` for anything that is not one (2 letters, 3 alphanumerics, 7 digits).
pub fn isrc(s: &str) -> Option<String> {
    let c: String = s.chars().filter(|c| !matches!(c, '-' | ' ' | '\0')).collect::<String>().to_ascii_uppercase();
    let b = c.as_bytes();
    let ok =
        b.len() == 12 && b[..2].iter().all(u8::is_ascii_uppercase) && b[2..5].iter().all(u8::is_ascii_alphanumeric) && b[5..].iter().all(u8::is_ascii_digit);
    ok.then_some(c)
}

/// "2001", "2001-05-12", "2001/05", "May 2001" → 2001.
pub fn parse_year(s: &str) -> Option<i32> {
    let digits: Vec<&str> = s.split(|c: char| !c.is_ascii_digit()).filter(|p| p.len() == 4).collect();
    digits.first().and_then(|d| d.parse().ok()).filter(|&y| (1000..=2999).contains(&y))
}

/// "-6.54 dB" → -6.54; "0.988" → 0.988.
fn parse_db(s: &str) -> Option<f64> {
    let t = s.trim().trim_end_matches(|c: char| c.is_alphabetic() || c.is_whitespace());
    t.trim().replace(',', ".").parse().ok().filter(|v: &f64| v.is_finite())
}

/// "(17)" or "(17)Rock" (ID3v1 genre references) → "Rock".
fn id3v1_genre(g: &str) -> String {
    const GENRES: [&str; 32] = [
        "Blues",
        "Classic Rock",
        "Country",
        "Dance",
        "Disco",
        "Funk",
        "Grunge",
        "Hip-Hop",
        "Jazz",
        "Metal",
        "New Age",
        "Oldies",
        "Other",
        "Pop",
        "R&B",
        "Rap",
        "Reggae",
        "Rock",
        "Techno",
        "Industrial",
        "Alternative",
        "Ska",
        "Death Metal",
        "Pranks",
        "Soundtrack",
        "Euro-Techno",
        "Ambient",
        "Trip-Hop",
        "Vocal",
        "Jazz+Funk",
        "Fusion",
        "Trance",
    ];
    if let Some(rest) = g.strip_prefix('(')
        && let Some((num, tail)) = rest.split_once(')')
    {
        if let Some(t) = clean(tail) {
            return t;
        }
        if let Some(name) = num.parse::<usize>().ok().and_then(|n| GENRES.get(n)) {
            return name.to_string();
        }
    }
    g.to_string()
}

fn best_picture(tag: &Tag, max: u64) -> Option<EmbeddedCover> {
    let pics = tag.pictures();
    let pick = pics
        .iter()
        .find(|p| p.pic_type() == PictureType::CoverFront)
        .or_else(|| pics.iter().find(|p| !matches!(p.pic_type(), PictureType::Icon | PictureType::OtherIcon)))?;
    let data = pick.data();
    if data.is_empty() || data.len() as u64 > max {
        return None;
    }
    let mime = pick.mime_type().and_then(|m| match m {
        MimeType::Unknown(_) => None,
        other => Some(other.as_str().to_string()),
    });
    Some(EmbeddedCover { data: data.to_vec(), mime })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_and_gains_and_genres() {
        assert_eq!(parse_year("2001-05-12"), Some(2001));
        assert_eq!(parse_year("May 1999"), Some(1999));
        assert_eq!(parse_year("12"), None);
        assert_eq!(parse_db("-6.54 dB"), Some(-6.54));
        assert_eq!(parse_db("0,988"), Some(0.988));
        assert_eq!(parse_db("nan"), None);
        assert_eq!(id3v1_genre("(17)"), "Rock");
        assert_eq!(id3v1_genre("(17)Rock & Roll"), "Rock & Roll");
        assert_eq!(id3v1_genre("Shoegaze"), "Shoegaze");
        assert_eq!(clean(" \0 Björk\0 "), Some("Björk".into()));
        assert_eq!(clean("\0\0"), None);
        assert_eq!(isrc("US-SM1-83-00073").as_deref(), Some("USSM18300073"));
        assert_eq!(isrc("ussm18300073").as_deref(), Some("USSM18300073"));
        assert_eq!(isrc("USSM1830007"), None);
        assert_eq!(isrc("12SM18300073"), None);
        assert_eq!(isrc("not an isrc!"), None);
    }
}
