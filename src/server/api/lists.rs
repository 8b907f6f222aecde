//! A user's own lists as JSON: playlists (create, rename, reorder, add/remove tracks,
//! delete), favourites (star/unstar), and listening history (scrobbles and play counts).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::AuthUser;
use super::dto::{ListDto, PlaylistDto, TrackDto};
use crate::domain::TrackId;
use crate::server::{ApiResult, Path, Query, SmallBody, blocking, json_body, parse_id};
use crate::service::Library;

#[derive(Deserialize)]
struct NewPlaylist {
    name: String,
    #[serde(default)]
    tracks: Vec<TrackId>,
}

/// `POST /api/v1/playlists` `{"name", "tracks": [ids]}`: 201 with the playlist.
pub async fn create(State(lib): State<Library>, AuthUser(u): AuthUser, SmallBody(b): SmallBody) -> ApiResult<(StatusCode, Json<PlaylistDto>)> {
    let p: NewPlaylist = json_body(&b, r#"{"name": ..., "tracks": [track ids]}"#)?;
    let pl = blocking(move || lib.create_playlist(u.id, &p.name, &p.tracks)).await?;
    Ok((StatusCode::CREATED, Json(PlaylistDto::from(&pl))))
}

/// `GET /api/v1/playlists`.
pub async fn list(State(lib): State<Library>, AuthUser(u): AuthUser) -> ApiResult<Json<ListDto<PlaylistDto>>> {
    let all = blocking(move || lib.playlists(u.id)).await?;
    Ok(Json(ListDto { total: all.len() as u64, items: all.iter().map(PlaylistDto::from).collect() }))
}

#[derive(Deserialize)]
pub struct TrackPage {
    limit: Option<usize>,
    offset: Option<usize>,
}

/// `GET /api/v1/playlists/{id}[?limit=&offset=]`: the playlist with its tracks in order
/// (all of them, or the page asked for).
pub async fn get(State(lib): State<Library>, AuthUser(u): AuthUser, Path(id): Path<String>, Query(page): Query<TrackPage>) -> ApiResult<Json<Value>> {
    let id = parse_id(&id, "playlist")?;
    let (p, tracks) = blocking(move || lib.playlist(u.id, id, page.offset.unwrap_or(0), page.limit)).await?;
    let mut v = json!(PlaylistDto::from(&p));
    v["tracks"] = json!(tracks.iter().map(TrackDto::from).collect::<Vec<_>>());
    Ok(Json(v))
}

#[derive(Deserialize)]
struct PlaylistPatch {
    name: Option<String>,
    tracks: Option<Vec<TrackId>>,
}

/// `PATCH /api/v1/playlists/{id}` `{"name"?, "tracks"?: [ids]}`: rename and/or set the
/// whole order (which adds, removes and reorders in one step). 204.
pub async fn update(State(lib): State<Library>, AuthUser(u): AuthUser, Path(id): Path<String>, SmallBody(b): SmallBody) -> ApiResult<StatusCode> {
    let id = parse_id(&id, "playlist")?;
    let p: PlaylistPatch = json_body(&b, r#"{"name"?: ..., "tracks"?: [track ids]}"#)?;
    blocking(move || lib.update_playlist(u.id, id, p.name.as_deref(), p.tracks.as_deref())).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct Append {
    tracks: Vec<TrackId>,
}

/// `POST /api/v1/playlists/{id}/tracks` `{"tracks": [ids]}`: appends. 204.
pub async fn append(State(lib): State<Library>, AuthUser(u): AuthUser, Path(id): Path<String>, SmallBody(b): SmallBody) -> ApiResult<StatusCode> {
    let id = parse_id(&id, "playlist")?;
    let a: Append = json_body(&b, r#"{"tracks": [track ids]}"#)?;
    blocking(move || lib.append_to_playlist(u.id, id, &a.tracks)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/playlists/{id}`: 204.
pub async fn delete(State(lib): State<Library>, AuthUser(u): AuthUser, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id = parse_id(&id, "playlist")?;
    blocking(move || lib.delete_playlist(u.id, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /api/v1/tracks/{id}/star` (star) and `DELETE` (unstar): 204.
pub async fn star(State(lib): State<Library>, AuthUser(u): AuthUser, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id = parse_id(&id, "track")?;
    blocking(move || lib.star(u.id, id, true)).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn unstar(State(lib): State<Library>, AuthUser(u): AuthUser, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id = parse_id(&id, "track")?;
    blocking(move || lib.star(u.id, id, false)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/favourites`: starred tracks, most recently starred first.
pub async fn favourites(State(lib): State<Library>, AuthUser(u): AuthUser) -> ApiResult<Json<ListDto<TrackDto>>> {
    let t = blocking(move || lib.favourites(u.id)).await?;
    Ok(Json(ListDto { total: t.len() as u64, items: t.iter().map(TrackDto::from).collect() }))
}

#[derive(Deserialize, Default)]
struct Scrobble {
    /// When the listen happened (Unix seconds); now if absent.
    time: Option<i64>,
}

/// `POST /api/v1/tracks/{id}/scrobble` `{"time"?}`: records a listen. 204.
pub async fn scrobble(State(lib): State<Library>, AuthUser(u): AuthUser, Path(id): Path<String>, SmallBody(b): SmallBody) -> ApiResult<StatusCode> {
    let id = parse_id(&id, "track")?;
    let sc: Scrobble = if b.is_empty() { Scrobble::default() } else { json_body(&b, r#"{"time"?: unix seconds}"#)? };
    blocking(move || lib.scrobble(u.id, id, sc.time)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    limit: Option<u32>,
}

/// `GET /api/v1/history?limit=`: recent listens, newest first, with each track's play count.
pub async fn history(State(lib): State<Library>, AuthUser(u): AuthUser, Query(q): Query<HistoryQuery>) -> ApiResult<Json<Value>> {
    let (plays, counts) = blocking(move || lib.history(u.id, q.limit)).await?;
    Ok(Json(json!({
        "items": plays.iter().map(|p| json!({
            "played_at": p.played_at,
            "play_count": counts.get(&p.track.id).copied().unwrap_or(0),
            "track": TrackDto::from(&p.track),
        })).collect::<Vec<_>>(),
    })))
}
