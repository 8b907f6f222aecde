//! Library reads and edits as JSON, always scoped to the signed-in user.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use super::auth::AuthUser;
use super::dto::{self, AlbumDetailDto, AlbumDto, ArtistDetailDto, ArtistDto, ListDto, SearchDto, TrackDto};
use crate::catalog::{AlbumSort, Page, TagEdit};
use crate::server::{ApiError, ApiResult, Path, Query, SmallBody, blocking, json_body, parse_id};
use crate::service::Library;

#[derive(Deserialize)]
pub struct PageQuery {
    limit: Option<u32>,
    offset: Option<u32>,
    sort: Option<String>,
}

impl PageQuery {
    fn page(&self) -> Page {
        Page::new(self.limit, self.offset)
    }
}

pub async fn tracks(State(lib): State<Library>, AuthUser(u): AuthUser, Query(q): Query<PageQuery>) -> ApiResult<Json<ListDto<TrackDto>>> {
    let (items, total) = blocking(move || lib.tracks(u.id, q.page())).await?;
    Ok(Json(dto::list(&items, total)))
}

pub async fn track(State(lib): State<Library>, AuthUser(u): AuthUser, Path(id): Path<String>) -> ApiResult<Json<TrackDto>> {
    let id = parse_id(&id, "track")?;
    let t = blocking(move || lib.track(u.id, id)).await?;
    Ok(Json(TrackDto::from(&t)))
}

/// The body of `PATCH /api/v1/tracks/{id}`: fields to change; `null` clears an optional one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TagPatch {
    title: Option<String>,
    artist: Option<String>,
    album: Option<String>,
    #[serde(default, deserialize_with = "present")]
    album_artist: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    track_number: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    disc_number: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    year: Option<Option<i32>>,
    #[serde(default, deserialize_with = "present")]
    genre: Option<Option<String>>,
    compilation: Option<bool>,
}

/// A field that is present (possibly `null`), as opposed to absent.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /api/v1/tracks/{id}`: edits the track's tags in this user's library only.
/// Answers the updated track.
pub async fn edit_track(State(lib): State<Library>, AuthUser(u): AuthUser, Path(id): Path<String>, SmallBody(body): SmallBody) -> ApiResult<Json<TrackDto>> {
    let id = parse_id(&id, "track")?;
    let p: TagPatch = json_body(&body, "an object with any of title, artist, album, album_artist, track_number, disc_number, year, genre, compilation")?;
    let edit = TagEdit {
        title: p.title,
        artist: p.artist,
        album: p.album,
        album_artist: p.album_artist,
        track_number: p.track_number,
        disc_number: p.disc_number,
        year: p.year,
        genre: p.genre,
        compilation: p.compilation,
    };
    let t = blocking(move || lib.edit_track(u.id, id, &edit)).await?;
    Ok(Json(TrackDto::from(&t)))
}

pub async fn albums(State(lib): State<Library>, AuthUser(u): AuthUser, Query(q): Query<PageQuery>) -> ApiResult<Json<ListDto<AlbumDto>>> {
    let sort = match q.sort.as_deref() {
        None | Some("artist") => AlbumSort::Artist,
        Some("title") | Some("name") => AlbumSort::Title,
        Some("year") => AlbumSort::Year,
        Some("recent") | Some("newest") => AlbumSort::Recent,
        Some(other) => return Err(ApiError::bad_request("bad_sort", format!("unknown sort '{other}' (artist, title, year, recent)"))),
    };
    let (items, total) = blocking(move || lib.albums(u.id, sort, q.page())).await?;
    Ok(Json(dto::list(&items, total)))
}

pub async fn album(State(lib): State<Library>, AuthUser(u): AuthUser, Path(id): Path<String>) -> ApiResult<Json<AlbumDetailDto>> {
    let id = parse_id(&id, "album")?;
    let (album, tracks) = blocking(move || lib.album(u.id, id)).await?;
    Ok(Json(AlbumDetailDto { album: AlbumDto::from(&album), tracks: tracks.iter().map(TrackDto::from).collect() }))
}

pub async fn artists(State(lib): State<Library>, AuthUser(u): AuthUser, Query(q): Query<PageQuery>) -> ApiResult<Json<ListDto<ArtistDto>>> {
    let (items, total) = blocking(move || lib.artists(u.id, q.page())).await?;
    Ok(Json(dto::list(&items, total)))
}

pub async fn artist(State(lib): State<Library>, AuthUser(u): AuthUser, Path(id): Path<String>) -> ApiResult<Json<ArtistDetailDto>> {
    let id = parse_id(&id, "artist")?;
    let (artist, albums) = blocking(move || lib.artist(u.id, id)).await?;
    Ok(Json(ArtistDetailDto { artist: ArtistDto::from(&artist), albums: albums.iter().map(AlbumDto::from).collect() }))
}

#[derive(Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    limit: Option<u32>,
}

pub async fn search(State(lib): State<Library>, AuthUser(u): AuthUser, Query(q): Query<SearchQuery>) -> ApiResult<Json<SearchDto>> {
    let r = blocking(move || lib.search(u.id, q.q.as_deref().unwrap_or_default(), q.limit)).await?;
    Ok(Json(SearchDto::from(&r)))
}

/// `DELETE /api/v1/tracks/{id}`: removes the track from the user's library (its file goes
/// from the store when nobody else owns it). 204.
pub async fn delete_track(State(lib): State<Library>, AuthUser(u): AuthUser, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id = parse_id(&id, "track")?;
    blocking(move || lib.delete_track(u.id, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
