//! Browsing and searching over Subsonic: `getArtists`, `getArtist`, `getAlbum`, `getSong`,
//! `getAlbumList2`, `search3`, all through the `Library` service and scoped to the signed-in
//! user; and the wire shapes of artists, albums and songs (`Child`).

use serde_json::{Value, json};

use super::envelope::{Code, Failure};
use super::ids;
use super::params::Params;
use std::collections::HashMap;

use crate::catalog::{Album, AlbumPick, AlbumSort, Artist, CatalogError, Filter, GroupId, GroupMark, Page, Track, User};
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
        | LibraryError::BadRating
        | LibraryError::BadShare
        | LibraryError::BadComment
        | LibraryError::Cover(_)
        | LibraryError::Busy(_) => Failure::new(Code::Generic, e.to_string()),
        LibraryError::Catalog(CatalogError::Unavailable(_)) => {
            tracing::warn!(error = %e, "subsonic call failed: storage unavailable");
            Failure::new(Code::Generic, "the server cannot reach its storage now; retry shortly")
        }
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
        ("replayGain", replay_gain(t)),
        ("isrc", (!t.tags.isrc.is_empty()).then(|| json!(t.tags.isrc))),
    ];
    if let Some(o) = v.as_object_mut() {
        o.extend(optional.into_iter().filter_map(|(k, x)| Some((k.to_string(), x?))));
    }
    v
}

/// OpenSubsonic `replayGain`: gains to the ReplayGain reference (−18 LUFS) and linear
/// peaks, from the tags when the file has them, else from the measured EBU R128 loudness.
fn replay_gain(t: &Track) -> Option<Value> {
    use crate::catalog::rules::{RG_REFERENCE_LUFS, loudness};
    let l = loudness(t);
    let gain = |lufs: Option<f64>| lufs.map(|x| ((RG_REFERENCE_LUFS - x) * 100.0).round() / 100.0);
    let peak = |p: Option<f64>| p.map(|x| (x * 1e6).round() / 1e6);
    let fields = [("trackGain", gain(l.track_lufs)), ("albumGain", gain(l.album_lufs)), ("trackPeak", peak(l.track_peak)), ("albumPeak", peak(l.album_peak))];
    let present: serde_json::Map<String, Value> = fields.iter().filter_map(|(k, v)| Some((k.to_string(), json!(v.filter(|x| x.is_finite())?)))).collect();
    (!present.is_empty()).then_some(Value::Object(present))
}

/// Songs with what the user did with them (`played`, `playCount`, `starred`, `userRating`),
/// read in one query for the whole list.
pub fn songs(lib: &Library, user: &User, tracks: &[Track]) -> Result<Vec<Value>, Failure> {
    let ids: Vec<_> = tracks.iter().map(|t| t.id).collect();
    let marks = lib.marks(user.id, &ids).map_err(from_library)?;
    Ok(tracks
        .iter()
        .map(|t| {
            let mut v = song(t);
            let m = marks.get(&t.id).copied().unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("playCount".into(), json!(m.play_count));
                if let Some(at) = m.last_played {
                    o.insert("played".into(), json!(iso8601(at)));
                }
                if let Some(at) = m.starred_at {
                    o.insert("starred".into(), json!(iso8601(at)));
                }
                if let Some(r) = m.rating {
                    o.insert("userRating".into(), json!(r));
                }
            }
            v
        })
        .collect())
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

/// The user's stars and ratings of albums and artists, read once per answer, put on every
/// album and artist it shows (`starred`, `userRating`).
pub struct Groups(HashMap<GroupId, GroupMark>);

impl Groups {
    pub fn of(lib: &Library, user: &User) -> Result<Groups, Failure> {
        lib.group_marks(user.id).map(Groups).map_err(from_library)
    }

    fn mark(&self, mut v: Value, g: GroupId) -> Value {
        if let (Some(m), Some(o)) = (self.0.get(&g), v.as_object_mut()) {
            if let Some(at) = m.starred_at {
                o.insert("starred".into(), json!(iso8601(at)));
            }
            if let Some(r) = m.rating {
                o.insert("userRating".into(), json!(r));
            }
        }
        v
    }

    pub fn album(&self, a: &Album) -> Value {
        self.mark(album(a), GroupId::Album(a.id))
    }

    pub fn artist(&self, a: &Artist) -> Value {
        self.mark(artist(a), GroupId::Artist(a.id))
    }

    pub fn albums(&self, list: &[Album]) -> Vec<Value> {
        list.iter().map(|a| self.album(a)).collect()
    }
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
    let groups = Groups::of(lib, user)?;
    artists.sort_by_cached_key(|a| (index_letter(&a.name), crate::catalog::fold(&a.name)));
    for a in &artists {
        let letter = index_letter(&a.name);
        match index.last_mut() {
            Some((l, list)) if *l == letter => list.push(groups.artist(a)),
            _ => index.push((letter, vec![groups.artist(a)])),
        }
    }
    let index: Vec<Value> = index.into_iter().map(|(name, artist)| json!({ "name": name, "artist": artist })).collect();
    Ok(json!({ "artists": { "ignoredArticles": IGNORED_ARTICLES, "index": index } }))
}

/// `getIndexes`: the folder view's index (artists as directories). `lastModified` is when
/// the user's library last changed (ms); a client whose `ifModifiedSince` is not older gets
/// no index, only that time (nothing to reload).
pub fn get_indexes(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    let changed = lib.changed_at(user.id).map_err(from_library)?;
    let changed_ms = changed.unwrap_or(0);
    let since: Option<i64> = p
        .get("ifModifiedSince")
        .filter(|v| !v.is_empty())
        .map(|v| v.parse().map_err(|_| Failure::new(Code::Generic, "ifModifiedSince must be a whole number of milliseconds")))
        .transpose()?;
    // Nothing to reload only when the client's copy is at least as new as the last change
    // (a library never changed, or a copy of time 0, always gets the index).
    if changed.is_some() && since.is_some_and(|s| s > 0 && s >= changed_ms) {
        return Ok(json!({ "indexes": { "ignoredArticles": IGNORED_ARTICLES, "lastModified": changed_ms } }));
    }
    let artists = get_artists(lib, user)?;
    let mut idx = artists["artists"].clone();
    if let Some(list) = idx["index"].as_array_mut() {
        for group in list {
            if let Some(items) = group["artist"].as_array_mut() {
                for a in items {
                    if let Some(o) = a.as_object_mut() {
                        o.remove("albumCount");
                        o.remove("coverArt");
                    }
                }
            }
        }
    }
    idx["lastModified"] = json!(changed_ms);
    Ok(json!({ "indexes": idx }))
}

/// `getMusicDirectory`: an artist (`ar-…`) holds albums, an album (`al-…`) holds songs.
pub fn get_music_directory(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    let raw = p.require("id")?;
    if let Ok(id) = ids::parse_artist(raw) {
        let (a, albums) = lib.artist(user.id, id).map_err(from_library)?;
        let groups = Groups::of(lib, user)?;
        let child: Vec<Value> = albums
            .iter()
            .map(|al| {
                let mut v = groups.album(al);
                v["parent"] = json!(ids::artist(a.id));
                v
            })
            .collect();
        let mut dir = groups.artist(&a);
        dir["child"] = json!(child);
        return Ok(json!({ "directory": dir }));
    }
    let id = ids::parse_album(raw).map_err(|_| Failure::new(Code::NotFound, "directory not found"))?;
    let (a, tracks) = lib.album(user.id, id).map_err(from_library)?;
    let mut dir = Groups::of(lib, user)?.album(&a);
    dir["parent"] = json!(ids::artist(a.artist_id));
    dir["child"] = json!(songs(lib, user, &tracks)?);
    Ok(json!({ "directory": dir }))
}

/// `getArtistInfo` / `getArtistInfo2`: what the catalog knows (no internet lookups): no
/// biography, no similar artists; the picture is an album cover (`getCoverArt` of `ar-…`).
pub fn get_artist_info(lib: &Library, user: &User, p: &Params, id3: bool) -> Result<Value, Failure> {
    let id = ids::parse_artist(p.require("id")?)?;
    lib.artist(user.id, id).map_err(from_library)?;
    let info = json!({ "similarArtist": [] });
    Ok(if id3 { json!({ "artistInfo2": info }) } else { json!({ "artistInfo": info }) })
}

/// `getAlbumInfo` / `getAlbumInfo2`: the album's MusicBrainz id where its tracks carry one.
pub fn get_album_info(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    let id = ids::parse_album(p.require("id")?)?;
    let (_, tracks) = lib.album(user.id, id).map_err(from_library)?;
    let mut info = json!({});
    if let Some(mb) = tracks.iter().find_map(|t| t.tags.mb_album_id.clone()) {
        info["musicBrainzId"] = json!(mb);
    }
    Ok(json!({ "albumInfo": info }))
}

/// `getArtist`: the artist with their albums.
pub fn get_artist(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    let id = ids::parse_artist(p.require("id")?)?;
    let (a, albums) = lib.artist(user.id, id).map_err(from_library)?;
    let groups = Groups::of(lib, user)?;
    let mut v = groups.artist(&a);
    v["album"] = json!(groups.albums(&albums));
    Ok(json!({ "artist": v }))
}

/// `getAlbum`: the album with its songs.
pub fn get_album(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    let id = ids::parse_album(p.require("id")?)?;
    let (a, tracks) = lib.album(user.id, id).map_err(from_library)?;
    let mut v = Groups::of(lib, user)?.album(&a);
    v["song"] = json!(songs(lib, user, &tracks)?);
    Ok(json!({ "album": v }))
}

/// `getSong`.
pub fn get_song(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    let id = ids::parse_track(p.require("id")?)?;
    let t = lib.track(user.id, id).map_err(from_library)?;
    let mut one = songs(lib, user, std::slice::from_ref(&t))?;
    Ok(json!({ "song": one.pop() }))
}

fn number(p: &Params, name: &str, default: u32) -> Result<u32, Failure> {
    match p.get(name) {
        None | Some("") => Ok(default),
        Some(v) => v.parse().map_err(|_| Failure::new(Code::Generic, format!("{name} must be a whole number"))),
    }
}

fn year(p: &Params, name: &str) -> Result<i32, Failure> {
    p.require(name)?.parse().map_err(|_| Failure::new(Code::Generic, format!("{name} must be a year")))
}

/// `getAlbumList` / `getAlbumList2` (`id3`): albums by every type clients ask for.
pub fn get_album_list(lib: &Library, user: &User, p: &Params, id3: bool) -> Result<Value, Failure> {
    let mut filter = Filter::default();
    let pick = match p.require("type")? {
        "random" => AlbumPick::Random,
        "newest" => AlbumPick::Sorted(AlbumSort::Recent),
        "frequent" => AlbumPick::MostPlayed,
        "recent" => AlbumPick::RecentlyPlayed,
        "starred" => AlbumPick::Starred,
        "alphabeticalByName" => AlbumPick::Sorted(AlbumSort::Title),
        "alphabeticalByArtist" => AlbumPick::Sorted(AlbumSort::Artist),
        "byYear" => {
            filter.years = Some((year(p, "fromYear")?, year(p, "toYear")?));
            AlbumPick::Sorted(AlbumSort::Year)
        }
        "byGenre" => {
            filter.genre = Some(p.require("genre")?.to_string());
            AlbumPick::Sorted(AlbumSort::Title)
        }
        "highest" => AlbumPick::HighestRated,
        other => return Err(Failure::new(Code::Generic, format!("unknown album list type {other:?}"))),
    };
    let size = number(p, "size", 10)?.clamp(1, 500);
    let offset = number(p, "offset", 0)?;
    let albums = lib.pick_albums(user.id, pick, &filter, Page::new(Some(size), Some(offset))).map_err(from_library)?;
    let list = json!({ "album": Groups::of(lib, user)?.albums(&albums) });
    Ok(if id3 { json!({ "albumList2": list }) } else { json!({ "albumList": list }) })
}

/// `getRandomSongs`: `size` (10, at most 500) songs, optionally of a genre and years.
pub fn get_random_songs(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    let size = number(p, "size", 10)?.clamp(1, 500);
    let from = p.get("fromYear").map(|_| year(p, "fromYear")).transpose()?;
    let to = p.get("toYear").map(|_| year(p, "toYear")).transpose()?;
    let years = match (from, to) {
        (None, None) => None,
        (a, b) => Some((a.unwrap_or(i32::MIN), b.unwrap_or(i32::MAX))),
    };
    let filter = Filter { genre: p.get("genre").filter(|g| !g.is_empty()).map(str::to_string), years };
    let picked = lib.pick_tracks(user.id, &filter, true, Page::new(Some(size), None)).map_err(from_library)?;
    Ok(json!({ "randomSongs": { "song": songs(lib, user, &picked)? } }))
}

/// `getSongsByGenre`: `count` (10, at most 500) songs of `genre` from `offset`.
pub fn get_songs_by_genre(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    let filter = Filter { genre: Some(p.require("genre")?.to_string()), years: None };
    let (count, offset) = (number(p, "count", 10)?.clamp(1, 500), number(p, "offset", 0)?);
    let picked = lib.pick_tracks(user.id, &filter, false, Page::new(Some(count), Some(offset))).map_err(from_library)?;
    Ok(json!({ "songsByGenre": { "song": songs(lib, user, &picked)? } }))
}

/// `getGenres`: the genres of the user's songs, with counts; the name is the element text.
pub fn get_genres(lib: &Library, user: &User) -> Result<Value, Failure> {
    let genres = lib.genres(user.id).map_err(from_library)?;
    let list: Vec<Value> = genres.iter().map(|g| json!({ "value": g.name, "songCount": g.songs, "albumCount": g.albums })).collect();
    Ok(json!({ "genres": { "genre": list } }))
}

/// `search2`: `search3`'s answer in the folder-view shape.
pub fn search2(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    let r = search3(lib, user, p)?;
    Ok(json!({ "searchResult2": r["searchResult3"] }))
}

/// `getStarred` / `getStarred2`: starred artists, albums and songs, most recent first.
pub fn get_starred(lib: &Library, user: &User, id3: bool) -> Result<Value, Failure> {
    let starred = lib.favourites(user.id).map_err(from_library)?;
    let artists = lib.starred_artists(user.id).map_err(from_library)?;
    let albums = lib.pick_albums(user.id, AlbumPick::Starred, &Filter::default(), Page::new(Some(Page::MAX_LIMIT), None)).map_err(from_library)?;
    let groups = Groups::of(lib, user)?;
    let body = json!({
        "artist": artists.iter().map(|a| groups.artist(a)).collect::<Vec<_>>(),
        "album": groups.albums(&albums),
        "song": songs(lib, user, &starred)?,
    });
    Ok(if id3 { json!({ "starred2": body }) } else { json!({ "starred": body }) })
}

/// `search3`: the same folded search as the JSON API; an empty query (also sent as `""`)
/// pages through everything, which is how apps sync for offline use.
pub fn search3(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    let raw = p.get("query").unwrap_or("");
    let query = raw.trim().trim_matches('"').trim();
    let (ac, ao) = (number(p, "artistCount", 20)?.min(Page::MAX_LIMIT), number(p, "artistOffset", 0)?);
    let (lc, lo) = (number(p, "albumCount", 20)?.min(Page::MAX_LIMIT), number(p, "albumOffset", 0)?);
    let (sc, so) = (number(p, "songCount", 20)?.min(Page::MAX_LIMIT), number(p, "songOffset", 0)?);
    let (artists, albums, found) = if query.is_empty() {
        let (artists, _) = if ac == 0 { (Vec::new(), 0) } else { lib.artists(user.id, Page::new(Some(ac), Some(ao))).map_err(from_library)? };
        let (albums, _) =
            if lc == 0 { (Vec::new(), 0) } else { lib.albums(user.id, AlbumSort::Artist, Page::new(Some(lc), Some(lo))).map_err(from_library)? };
        let (songs, _) = if sc == 0 { (Vec::new(), 0) } else { lib.tracks(user.id, Page::new(Some(sc), Some(so))).map_err(from_library)? };
        (artists, albums, songs)
    } else {
        let most = [ac + ao, lc + lo, sc + so].into_iter().max().unwrap_or(20).min(Page::MAX_LIMIT * 2);
        let r = lib.search(user.id, query, Some(most)).map_err(from_library)?;
        fn page<T>(all: Vec<T>, n: u32, off: u32) -> Vec<T> {
            all.into_iter().skip(off as usize).take(n as usize).collect()
        }
        (page(r.artists, ac, ao), page(r.albums, lc, lo), page(r.tracks, sc, so))
    };
    let groups = Groups::of(lib, user)?;
    Ok(json!({ "searchResult3": {
        "artist": artists.iter().map(|a| groups.artist(a)).collect::<Vec<_>>(),
        "album": groups.albums(&albums),
        "song": songs(lib, user, &found)?,
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
