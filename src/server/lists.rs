//! A user's own lists: playlists (create, rename, reorder, add/remove tracks, delete),
//! favourites (star/unstar), and listening history (scrobbles and play counts). Every id is
//! looked up with the user's id: someone else's playlist or track is a 404.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::AuthUser;
use super::dto::{ListDto, TrackDto};
use super::{Path, SmallBody, ApiError, ApiResult, AppState, Query, blocking, json_body, parse_id};
use crate::catalog::Playlist;
use crate::domain::now_unix;

fn playlist_json(p: &Playlist) -> Value {
    json!({
        "id": p.id, "name": p.name, "track_count": p.track_count,
        "duration": (p.duration * 1000.0).round() / 1000.0, "created_at": p.created_at, "updated_at": p.updated_at,
    })
}

/// Entries one playlist may hold (Apple Music and Spotify stop at 10,000 too): a request
/// that would make it longer is a 422 `playlist_too_long`, so no playlist costs more than a
/// bounded answer.
pub const MAX_PLAYLIST_TRACKS: usize = 10_000;

fn check_length(n: usize) -> ApiResult<()> {
    if n > MAX_PLAYLIST_TRACKS {
        return Err(ApiError::Unprocessable("playlist_too_long", format!("a playlist holds at most {MAX_PLAYLIST_TRACKS} tracks ({n} asked)")));
    }
    Ok(())
}

fn check_name(name: &str) -> ApiResult<()> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 200 || n.chars().any(char::is_control) {
        return Err(ApiError::bad_request("bad_name", "a playlist name is 1 to 200 characters, without control characters"));
    }
    Ok(())
}

#[derive(Deserialize)]
struct NewPlaylist {
    name: String,
    #[serde(default)]
    tracks: Vec<i64>,
}

/// `POST /api/v1/playlists` `{"name", "tracks": [ids]}`: 201 with the playlist.
pub async fn create(State(s): State<AppState>, AuthUser(u): AuthUser, SmallBody(b): SmallBody) -> ApiResult<(StatusCode, Json<Value>)> {
    let p: NewPlaylist = json_body(&b, r#"{"name": ..., "tracks": [track ids]}"#)?;
    check_name(&p.name)?;
    check_length(p.tracks.len())?;
    let pl = blocking(move || Ok(s.catalog.create_playlist(u.id, p.name.trim(), &p.tracks)?)).await?;
    Ok((StatusCode::CREATED, Json(playlist_json(&pl))))
}

/// `GET /api/v1/playlists`.
pub async fn list(State(s): State<AppState>, AuthUser(u): AuthUser) -> ApiResult<Json<ListDto<Value>>> {
    let all = blocking(move || Ok(s.catalog.list_playlists(u.id)?)).await?;
    Ok(Json(ListDto { total: all.len() as u64, items: all.iter().map(playlist_json).collect() }))
}

#[derive(Deserialize)]
pub struct TrackPage {
    limit: Option<usize>,
    offset: Option<usize>,
}

/// `GET /api/v1/playlists/{id}[?limit=&offset=]`: the playlist with its tracks in order
/// (all of them, at most [`MAX_PLAYLIST_TRACKS`], or the page asked for).
pub async fn get(State(s): State<AppState>, AuthUser(u): AuthUser, Path(id): Path<String>, Query(page): Query<TrackPage>) -> ApiResult<Json<Value>> {
    let id = parse_id(&id, "playlist")?;
    let (p, tracks) = blocking(move || Ok(s.catalog.playlist(u.id, id)?)).await?.ok_or_else(|| ApiError::not_found("playlist"))?;
    let mut v = playlist_json(&p);
    let offset = page.offset.unwrap_or(0).min(tracks.len());
    let limit = page.limit.unwrap_or(MAX_PLAYLIST_TRACKS);
    v["tracks"] = json!(tracks.iter().skip(offset).take(limit).map(TrackDto::from).collect::<Vec<_>>());
    Ok(Json(v))
}

#[derive(Deserialize)]
struct PlaylistPatch {
    name: Option<String>,
    tracks: Option<Vec<i64>>,
}

/// `PATCH /api/v1/playlists/{id}` `{"name"?, "tracks"?: [ids]}`: rename and/or set the
/// whole order (which adds, removes and reorders in one step). 204.
pub async fn update(State(s): State<AppState>, AuthUser(u): AuthUser, Path(id): Path<String>, SmallBody(b): SmallBody) -> ApiResult<StatusCode> {
    let id = parse_id(&id, "playlist")?;
    let p: PlaylistPatch = json_body(&b, r#"{"name"?: ..., "tracks"?: [track ids]}"#)?;
    if let Some(n) = &p.name {
        check_name(n)?;
    }
    check_length(p.tracks.as_ref().map_or(0, Vec::len))?;
    blocking(move || Ok(s.catalog.update_playlist(u.id, id, p.name.as_deref().map(str::trim), p.tracks.as_deref())?)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct Append {
    tracks: Vec<i64>,
}

/// `POST /api/v1/playlists/{id}/tracks` `{"tracks": [ids]}`: appends. 204.
pub async fn append(State(s): State<AppState>, AuthUser(u): AuthUser, Path(id): Path<String>, SmallBody(b): SmallBody) -> ApiResult<StatusCode> {
    let id = parse_id(&id, "playlist")?;
    let a: Append = json_body(&b, r#"{"tracks": [track ids]}"#)?;
    check_length(a.tracks.len())?;
    blocking(move || {
        let held = s.catalog.list_playlists(u.id)?.iter().find(|p| p.id == id).map_or(0, |p| p.track_count as usize);
        check_length(held + a.tracks.len())?;
        Ok(s.catalog.append_to_playlist(u.id, id, &a.tracks)?)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/playlists/{id}`: 204.
pub async fn delete(State(s): State<AppState>, AuthUser(u): AuthUser, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id = parse_id(&id, "playlist")?;
    blocking(move || Ok(s.catalog.delete_playlist(u.id, id)?)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /api/v1/tracks/{id}/star` (star) and `DELETE` (unstar): 204.
pub async fn star(State(s): State<AppState>, AuthUser(u): AuthUser, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id = parse_id(&id, "track")?;
    blocking(move || Ok(s.catalog.set_star(u.id, id, true)?)).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn unstar(State(s): State<AppState>, AuthUser(u): AuthUser, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id = parse_id(&id, "track")?;
    blocking(move || Ok(s.catalog.set_star(u.id, id, false)?)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/favourites`: starred tracks, most recently starred first.
pub async fn favourites(State(s): State<AppState>, AuthUser(u): AuthUser) -> ApiResult<Json<ListDto<TrackDto>>> {
    let t = blocking(move || Ok(s.catalog.favourites(u.id)?)).await?;
    Ok(Json(ListDto { total: t.len() as u64, items: t.iter().map(TrackDto::from).collect() }))
}

#[derive(Deserialize, Default)]
struct Scrobble {
    /// When the listen happened (Unix seconds); now if absent.
    time: Option<i64>,
}

/// `POST /api/v1/tracks/{id}/scrobble` `{"time"?}`: records a listen. 204.
pub async fn scrobble(State(s): State<AppState>, AuthUser(u): AuthUser, Path(id): Path<String>, SmallBody(b): SmallBody) -> ApiResult<StatusCode> {
    let id = parse_id(&id, "track")?;
    let sc: Scrobble = if b.is_empty() { Scrobble::default() } else { json_body(&b, r#"{"time"?: unix seconds}"#)? };
    let now = now_unix();
    let at = sc.time.unwrap_or(now);
    if at > now + 300 || at < 0 {
        return Err(ApiError::bad_request("bad_time", "time must be a Unix time not in the future"));
    }
    blocking(move || Ok(s.catalog.record_play(u.id, id, at)?)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    limit: Option<u32>,
}

/// `GET /api/v1/history?limit=`: recent listens, newest first, with each track's play count.
pub async fn history(State(s): State<AppState>, AuthUser(u): AuthUser, Query(q): Query<HistoryQuery>) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(50);
    let (plays, counts) = blocking(move || Ok(s.catalog.history(u.id, limit)?)).await?;
    Ok(Json(json!({
        "items": plays.iter().map(|p| json!({
            "played_at": p.played_at,
            "play_count": counts.get(&p.track.id).copied().unwrap_or(0),
            "track": TrackDto::from(&p.track),
        })).collect::<Vec<_>>(),
    })))
}
