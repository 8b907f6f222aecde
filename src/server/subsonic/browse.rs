//! Browsing and searching over Subsonic: `getArtists`, `getArtist`, `getAlbum`, `getSong`,
//! `getAlbumList2`, `search3`, all through the `Library` service and scoped to the signed-in
//! user; and the wire shapes of artists, albums and songs (`Child`).

use serde_json::{Value, json};

use super::envelope::{Code, Failure};
use super::ids;
use super::params::Params;
use crate::catalog::{Album, AlbumSort, Artist, CatalogError, Page, Track, User};
use crate::service::Library;
use crate::service::library::LibraryError;
use crate::service::playback::original_mime;

/// Articles `getArtists` indexes past ("The Beatles" under B).
const IGNORED_ARTICLES: &str = "The El La Los Las Le Les A An";

pub fn from_library(e: LibraryError) -> Failure {
    match e {
        LibraryError::NotFound(what) => Failure::new(Code::NotFound, format!("{what} not found")),
        // Someone else's or a missing id, as the catalog found while writing.
        LibraryError::Catalog(CatalogError::NotFound(what)) => Failure::new(Code::NotFound, format!("{what} not found")),
        LibraryError::Catalog(CatalogError::Conflict(_) | CatalogError::Invalid(_)) => Failure::new(Code::Generic, e.to_string()),
        LibraryError::Account(a) => super::envelope::from_account(a),
        LibraryError::BadTag(_)
        | LibraryError::BadPlaylistName
        | LibraryError::PlaylistTooLong(_)
        | LibraryError::BadTime
        | LibraryError::SearchTooLong
        | LibraryError::Cover(_)
        | LibraryError::Busy(_) => Failure::new(Code::Generic, e.to_string()),
        LibraryError::Catalog(CatalogError::Backend(_) | CatalogError::Open { .. } | CatalogError::TooNew { .. })
        | LibraryError::Ingest(_)
        | LibraryError::Store(_)
        | LibraryError::Internal(_) => {
            tracing::error!(error = %e, "subsonic call failed");
            Failure::new(Code::Generic, "internal server error")
        }
    }
}

/// Seconds since the epoch as ISO 8601 UTC (`2026-12-01T10:00:00Z`).
pub fn iso8601(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn suffix(t: &Track) -> String {
    std::path::Path::new(&t.file.file_name).extension().and_then(|e| e.to_str()).unwrap_or(&t.audio.container).to_ascii_lowercase()
}

/// A song (`Child`) as complete as the catalog allows.
pub fn song(t: &Track) -> Value {
    let mut v = json!({
        "id": ids::track(t.id),
        "parent": ids::album(t.album_id),
        "isDir": false,
        "title": t.tags.title,
        "album": t.tags.album,
        "artist": t.tags.artist,
        "coverArt": if t.file.cover.is_some() { ids::track(t.id) } else { ids::album(t.album_id) },
        "size": t.file.size,
        "contentType": original_mime(&t.audio.container, &t.audio.codec),
        "suffix": suffix(t),
        "duration": t.audio.duration.round() as u64,
        "bitRate": t.audio.bitrate.div_ceil(1000),
        "samplingRate": t.audio.sample_rate,
        "channelCount": t.audio.channels,
        "created": iso8601(t.added_at),
        "albumId": ids::album(t.album_id),
        "artistId": ids::artist(t.artist_id),
        "type": "music",
        "mediaType": "song",
        "isVideo": false,
    });
    let optional = [
        ("track", t.tags.track_number.map(|n| json!(n))),
        ("discNumber", t.tags.disc_number.map(|n| json!(n))),
        ("year", t.tags.year.map(|y| json!(y))),
        ("genre", t.tags.genre.as_ref().map(|g| json!(g))),
        ("genres", t.tags.genre.as_ref().map(|g| json!([{ "name": g }]))),
        ("bitDepth", t.audio.bits_per_sample.map(|b| json!(b))),
        ("musicBrainzId", t.tags.mb_track_id.as_ref().map(|m| json!(m))),
    ];
    if let Some(o) = v.as_object_mut() {
        o.extend(optional.into_iter().filter_map(|(k, x)| Some((k.to_string(), x?))));
    }
    v
}

pub fn album(a: &Album) -> Value {
    let mut v = json!({
        "id": ids::album(a.id),
        "name": a.title,
        "title": a.title,
        "album": a.title,
        "artist": a.artist,
        "artistId": ids::artist(a.artist_id),
        "isDir": true,
        "coverArt": ids::album(a.id),
        "songCount": a.track_count,
        "duration": a.duration.round() as u64,
        "created": iso8601(a.added_at),
        "isCompilation": a.compilation,
        "mediaType": "album",
    });
    if let Some(o) = v.as_object_mut() {
        if let Some(y) = a.year {
            o.insert("year".into(), json!(y));
        }
        if let Some(g) = &a.genre {
            o.insert("genre".into(), json!(g));
            o.insert("genres".into(), json!([{ "name": g }]));
        }
    }
    v
}

pub fn artist(a: &Artist) -> Value {
    json!({ "id": ids::artist(a.id), "name": a.name, "albumCount": a.album_count, "coverArt": ids::artist(a.id) })
}

/// The letter an artist is indexed under: past a leading article, folded, `#` for others.
fn index_letter(name: &str) -> String {
    let lower = name.to_lowercase();
    let rest = IGNORED_ARTICLES.split(' ').find_map(|art| lower.strip_prefix(&format!("{} ", art.to_lowercase()))).unwrap_or(&lower);
    let folded = crate::catalog::fold(rest);
    match folded.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => c.to_ascii_uppercase().to_string(),
        _ => "#".into(),
    }
}

/// Every artist of `user`, in the catalog's order (pages of the largest size).
fn all_artists(lib: &Library, user: &User) -> Result<Vec<Artist>, Failure> {
    let mut out = Vec::new();
    loop {
        let (page, total) = lib.artists(user.id, Page::new(Some(Page::MAX_LIMIT), Some(out.len() as u32))).map_err(from_library)?;
        let n = page.len();
        out.extend(page);
        if n == 0 || out.len() as u64 >= total {
            return Ok(out);
        }
    }
}

/// `getArtists`: every artist, indexed by letter.
pub fn get_artists(lib: &Library, user: &User) -> Result<Value, Failure> {
    let mut index: Vec<(String, Vec<Value>)> = Vec::new();
    let mut artists = all_artists(lib, user)?;
    artists.sort_by_cached_key(|a| (index_letter(&a.name), crate::catalog::fold(&a.name)));
    for a in &artists {
        let letter = index_letter(&a.name);
        match index.last_mut() {
            Some((l, list)) if *l == letter => list.push(artist(a)),
            _ => index.push((letter, vec![artist(a)])),
        }
    }
    let index: Vec<Value> = index.into_iter().map(|(name, artist)| json!({ "name": name, "artist": artist })).collect();
    Ok(json!({ "artists": { "ignoredArticles": IGNORED_ARTICLES, "index": index } }))
}

/// `getArtist`: the artist with their albums.
pub fn get_artist(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    let id = ids::parse_artist(p.require("id")?)?;
    let (a, albums) = lib.artist(user.id, id).map_err(from_library)?;
    let mut v = artist(&a);
    v["album"] = json!(albums.iter().map(album).collect::<Vec<_>>());
    Ok(json!({ "artist": v }))
}

/// `getAlbum`: the album with its songs.
pub fn get_album(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    let id = ids::parse_album(p.require("id")?)?;
    let (a, tracks) = lib.album(user.id, id).map_err(from_library)?;
    let mut v = album(&a);
    v["song"] = json!(tracks.iter().map(song).collect::<Vec<_>>());
    Ok(json!({ "album": v }))
}

/// `getSong`.
pub fn get_song(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    let id = ids::parse_track(p.require("id")?)?;
    let t = lib.track(user.id, id).map_err(from_library)?;
    Ok(json!({ "song": song(&t) }))
}

fn number(p: &Params, name: &str, default: u32) -> Result<u32, Failure> {
    match p.get(name) {
        None | Some("") => Ok(default),
        Some(v) => v.parse().map_err(|_| Failure::new(Code::Generic, format!("{name} must be a whole number"))),
    }
}

/// `getAlbumList2`: albums by the orders the catalog keeps.
pub fn get_album_list2(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    let kind = p.require("type")?;
    let sort = match kind {
        "newest" => AlbumSort::Recent,
        "alphabeticalByName" => AlbumSort::Title,
        "alphabeticalByArtist" => AlbumSort::Artist,
        "byYear" => AlbumSort::Year,
        other => return Err(Failure::new(Code::Generic, format!("getAlbumList2 type {other:?} is not implemented yet"))),
    };
    let size = number(p, "size", 10)?.min(500);
    let offset = number(p, "offset", 0)?;
    let (albums, _) = lib.albums(user.id, sort, Page::new(Some(size), Some(offset))).map_err(from_library)?;
    Ok(json!({ "albumList2": { "album": albums.iter().map(album).collect::<Vec<_>>() } }))
}

/// `search3`: the same folded search as the JSON API; an empty query (also sent as `""`)
/// pages through everything, which is how apps sync for offline use.
pub fn search3(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    let raw = p.get("query").unwrap_or("");
    let query = raw.trim().trim_matches('"').trim();
    let (ac, ao) = (number(p, "artistCount", 20)?.min(Page::MAX_LIMIT), number(p, "artistOffset", 0)?);
    let (lc, lo) = (number(p, "albumCount", 20)?.min(Page::MAX_LIMIT), number(p, "albumOffset", 0)?);
    let (sc, so) = (number(p, "songCount", 20)?.min(Page::MAX_LIMIT), number(p, "songOffset", 0)?);
    let (artists, albums, songs) = if query.is_empty() {
        let (artists, _) = if ac == 0 { (Vec::new(), 0) } else { lib.artists(user.id, Page::new(Some(ac), Some(ao))).map_err(from_library)? };
        let (albums, _) =
            if lc == 0 { (Vec::new(), 0) } else { lib.albums(user.id, AlbumSort::Artist, Page::new(Some(lc), Some(lo))).map_err(from_library)? };
        let (songs, _) = if sc == 0 { (Vec::new(), 0) } else { lib.tracks(user.id, Page::new(Some(sc), Some(so))).map_err(from_library)? };
        (artists, albums, songs)
    } else {
        let most = [ac + ao, lc + lo, sc + so].into_iter().max().unwrap_or(20).min(Page::MAX_LIMIT * 2);
        let r = lib.search(user.id, query, Some(most)).map_err(from_library)?;
        let take = |n: u32, off: u32| move |i: &usize| *i >= off as usize && *i < (off + n) as usize;
        let pick = |len: usize, n: u32, off: u32| (0..len).filter(take(n, off)).collect::<Vec<_>>();
        (
            pick(r.artists.len(), ac, ao).into_iter().map(|i| r.artists[i].clone()).collect(),
            pick(r.albums.len(), lc, lo).into_iter().map(|i| r.albums[i].clone()).collect(),
            pick(r.tracks.len(), sc, so).into_iter().map(|i| r.tracks[i].clone()).collect(),
        )
    };
    Ok(json!({ "searchResult3": {
        "artist": artists.iter().map(artist).collect::<Vec<_>>(),
        "album": albums.iter().map(album).collect::<Vec<_>>(),
        "song": songs.iter().map(song).collect::<Vec<_>>(),
    } }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_iso_8601_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_796_126_399), "2026-12-01T11:59:59Z");
        assert_eq!(iso8601(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn artists_index_past_articles_and_accents() {
        assert_eq!(index_letter("The Beatles"), "B");
        assert_eq!(index_letter("Björk"), "B");
        assert_eq!(index_letter("Émilie Simon"), "E");
        assert_eq!(index_letter("2Pac"), "#");
        assert_eq!(index_letter("Theatre of Tragedy"), "T");
    }
}
