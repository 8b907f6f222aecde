//! A user's own lists over Subsonic, through the `Library` service: playlists
//! (`getPlaylists`, `getPlaylist`, `createPlaylist`, `updatePlaylist`, `deletePlaylist`),
//! stars and ratings of songs, albums and artists (`star`, `unstar`, `setRating`), play
//! queues, bookmarks, now playing and listens (`scrobble`).

use serde_json::{Value, json};

use super::browse::{from_library, songs};
use super::envelope::{Code, Failure};
use super::ids;
use super::params::Params;
use crate::catalog::{GroupId, Playlist, Track, User};
use crate::domain::TrackId;
use crate::service::Library;

fn track_ids(p: &Params, name: &str) -> Result<Vec<TrackId>, Failure> {
    p.all(name).map(ids::parse_track).collect()
}

/// A playlist's head; `changed` and `created` are required by the schema (clients refuse
/// playlists without them).
fn playlist(pl: &Playlist, owner: &User) -> Value {
    json!({
        "id": ids::playlist(pl.id),
        "name": pl.name,
        "owner": owner.username,
        "public": false,
        "songCount": pl.track_count,
        "duration": pl.duration.round() as u64,
        "created": super::browse::iso8601(pl.created_at),
        "changed": super::browse::iso8601(pl.updated_at),
    })
}

fn with_entries(lib: &Library, pl: &Playlist, owner: &User, tracks: &[Track]) -> Result<Value, Failure> {
    let mut v = playlist(pl, owner);
    v["entry"] = json!(songs(lib, owner, tracks)?);
    Ok(v)
}

pub fn get_playlists(lib: &Library, user: &User) -> Result<Value, Failure> {
    let all = lib.playlists(user.id).map_err(from_library)?;
    Ok(json!({ "playlists": { "playlist": all.iter().map(|p| playlist(p, user)).collect::<Vec<_>>() } }))
}

pub fn get_playlist(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    let id = ids::parse_playlist(p.require("id")?)?;
    let (pl, tracks) = lib.playlist(user.id, id, 0, None).map_err(from_library)?;
    Ok(json!({ "playlist": with_entries(lib, &pl, user, &tracks)? }))
}

/// `createPlaylist`: a new playlist (`name`, `songId`…), or, with `playlistId`, that
/// playlist's songs replaced. Answers the playlist.
pub fn create_playlist(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    let songs = track_ids(p, "songId")?;
    let id = match p.get("playlistId") {
        Some(raw) => {
            let id = ids::parse_playlist(raw)?;
            lib.update_playlist(user.id, id, p.get("name"), Some(&songs)).map_err(from_library)?;
            id
        }
        None => lib.create_playlist(user.id, p.require("name")?, &songs).map_err(from_library)?.id,
    };
    let (pl, tracks) = lib.playlist(user.id, id, 0, None).map_err(from_library)?;
    Ok(json!({ "playlist": with_entries(lib, &pl, user, &tracks)? }))
}

/// `updatePlaylist`: rename, append `songIdToAdd`…, remove the entries at
/// `songIndexToRemove`… (indexes into the playlist as it was).
pub fn update_playlist(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    let id = ids::parse_playlist(p.require("playlistId")?)?;
    let add = track_ids(p, "songIdToAdd")?;
    let remove: Vec<usize> = p
        .all("songIndexToRemove")
        .map(|v| v.parse::<usize>().map_err(|_| Failure::new(Code::Generic, "songIndexToRemove must be a whole number")))
        .collect::<Result<_, _>>()?;
    let (_, tracks) = lib.playlist(user.id, id, 0, None).map_err(from_library)?;
    let mut order: Vec<TrackId> = tracks.iter().enumerate().filter(|(i, _)| !remove.contains(i)).map(|(_, t)| t.id).collect();
    order.extend(add);
    lib.update_playlist(user.id, id, p.get("name"), Some(&order)).map_err(from_library)?;
    Ok(json!({}))
}

pub fn delete_playlist(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    let id = ids::parse_playlist(p.require("id")?)?;
    lib.delete_playlist(user.id, id).map_err(from_library)?;
    Ok(json!({}))
}

/// `star` / `unstar`: songs, albums and artists named by `id` (any kind: folder-view
/// clients star albums and artists by `id`), `albumId` and `artistId`, each repeatable.
/// Every id is checked before anything changes.
pub fn star(lib: &Library, user: &User, p: &Params, starred: bool) -> Result<Value, Failure> {
    let mut items: Vec<ids::Item> = p.all("id").map(|raw| ids::parse_item(raw, "item")).collect::<Result<_, _>>()?;
    items.extend(p.all("albumId").map(|raw| ids::parse_album(raw).map(ids::Item::Album)).collect::<Result<Vec<_>, _>>()?);
    items.extend(p.all("artistId").map(|raw| ids::parse_artist(raw).map(ids::Item::Artist)).collect::<Result<Vec<_>, _>>()?);
    if items.is_empty() {
        return Err(Failure::missing("id, albumId or artistId"));
    }
    let (mut tracks, mut groups) = (Vec::new(), Vec::new());
    for item in items {
        match item {
            ids::Item::Track(t) => tracks.push(t),
            ids::Item::Album(a) => groups.push(GroupId::Album(a)),
            ids::Item::Artist(a) => groups.push(GroupId::Artist(a)),
        }
    }
    lib.star_all(user.id, &tracks, &groups, starred).map_err(from_library)?;
    Ok(json!({}))
}

/// `setRating`: 1 to 5 stars for a song, album or artist; 0 removes the rating.
pub fn set_rating(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    let item = ids::parse_item(p.require("id")?, "item")?;
    let stars: u8 = p.require("rating")?.parse().map_err(|_| Failure::new(Code::Generic, "rating is 0 to 5"))?;
    match item {
        ids::Item::Track(t) => lib.rate(user.id, t, stars),
        ids::Item::Album(a) => lib.rate_group(user.id, GroupId::Album(a), stars),
        ids::Item::Artist(a) => lib.rate_group(user.id, GroupId::Artist(a), stars),
    }
    .map_err(from_library)?;
    Ok(json!({}))
}

/// `createBookmark`: where the user stopped in a song (`position` in ms, a `comment`).
pub fn create_bookmark(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    let id = ids::parse_track(p.require("id")?)?;
    let position = p.require("position")?.parse::<u64>().map_err(|_| Failure::new(Code::Generic, "position is milliseconds"))?;
    lib.set_bookmark(user.id, id, position, p.get("comment").unwrap_or("")).map_err(from_library)?;
    Ok(json!({}))
}

pub fn delete_bookmark(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    lib.delete_bookmark(user.id, ids::parse_track(p.require("id")?)?).map_err(from_library)?;
    Ok(json!({}))
}

/// `getBookmarks`: the user's bookmarks, most recently changed first, each with its song.
pub fn get_bookmarks(lib: &Library, user: &User) -> Result<Value, Failure> {
    let all = lib.bookmarks(user.id).map_err(from_library)?;
    let tracks: Vec<Track> = all.iter().map(|(_, t)| t.clone()).collect();
    let entries = songs(lib, user, &tracks)?;
    let list: Vec<Value> = all
        .iter()
        .zip(entries)
        .map(|((b, _), entry)| {
            json!({
                "position": b.position_ms,
                "username": user.username,
                "comment": b.comment,
                "created": super::browse::iso8601(b.created_at),
                "changed": super::browse::iso8601(b.changed_at),
                "entry": entry,
            })
        })
        .collect();
    Ok(json!({ "bookmarks": { "bookmark": list } }))
}

/// `savePlayQueue`: the queue (`id`…), the `current` song and the `position` in it (ms).
/// No `id` at all clears it.
pub fn save_play_queue(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    let tracks = track_ids(p, "id")?;
    let current = p.get("current").map(ids::parse_track).transpose()?;
    let position = p.get("position").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    lib.save_play_queue(user.id, tracks, current, position, p.get("c").unwrap_or("")).map_err(from_library)?;
    Ok(json!({}))
}

/// `getPlayQueue`: the saved queue, or nothing (an empty answer) if none was saved.
pub fn get_play_queue(lib: &Library, user: &User) -> Result<Value, Failure> {
    let Some((q, tracks)) = lib.play_queue(user.id).map_err(from_library)? else { return Ok(json!({})) };
    let mut v = json!({
        "position": q.position_ms,
        "username": user.username,
        "changed": super::browse::iso8601(q.changed_at),
        "changedBy": q.changed_by,
        "entry": songs(lib, user, &tracks)?,
    });
    if let Some(c) = q.current {
        v["current"] = json!(ids::track(c));
    }
    Ok(json!({ "playQueue": v }))
}

/// `getNowPlaying`: what the user's own players are playing (libraries are private).
pub fn get_now_playing(lib: &Library, user: &User) -> Result<Value, Failure> {
    let playing = lib.now_playing(user.id).map_err(from_library)?;
    let tracks: Vec<Track> = playing.iter().map(|(t, _, _)| t.clone()).collect();
    let mut entries = songs(lib, user, &tracks)?;
    for (e, (_, player, minutes)) in entries.iter_mut().zip(&playing) {
        e["username"] = json!(user.username);
        e["minutesAgo"] = json!(minutes);
        e["playerId"] = json!(0);
        e["playerName"] = json!(player);
    }
    Ok(json!({ "nowPlaying": { "entry": entries } }))
}

/// `scrobble`: with `submission=false` a now-playing note (see `getNowPlaying`),
/// otherwise a listen at `time` (milliseconds) or now, which history and play counts follow.
pub fn scrobble(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    let songs = track_ids(p, "id")?;
    if songs.is_empty() {
        return Err(Failure::missing("id"));
    }
    if p.get("submission") == Some("false") {
        let player = p.get("c").unwrap_or("");
        for t in songs {
            lib.playing_now(user.id, t, player).map_err(from_library)?;
        }
        return Ok(json!({}));
    }
    let times: Vec<Option<i64>> = p.all("time").map(|t| t.parse::<i64>().ok().map(|ms| ms / 1000)).collect();
    for (i, t) in songs.into_iter().enumerate() {
        lib.scrobble(user.id, t, times.get(i).copied().flatten()).map_err(from_library)?;
    }
    Ok(json!({}))
}
