//! Library reads as JSON, always scoped to the signed-in user.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use super::auth::AuthUser;
use super::dto::{self, AlbumDetailDto, AlbumDto, ArtistDetailDto, ArtistDto, ListDto, SearchDto, TrackDto};
use super::{Path, ApiError, ApiResult, AppState, Query, blocking, parse_id};
use crate::catalog::{AlbumSort, Page, TagEdit};

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

pub async fn tracks(State(s): State<AppState>, AuthUser(u): AuthUser, Query(q): Query<PageQuery>) -> ApiResult<Json<ListDto<TrackDto>>> {
    let (items, total) = blocking(move || Ok(s.catalog.list_tracks(u.id, q.page())?)).await?;
    Ok(Json(dto::list(&items, total)))
}

pub async fn track(State(s): State<AppState>, AuthUser(u): AuthUser, Path(id): Path<String>) -> ApiResult<Json<TrackDto>> {
    let id = parse_id(&id, "track")?;
    let t = blocking(move || Ok(s.catalog.track(u.id, id)?)).await?.ok_or_else(|| ApiError::not_found("track"))?;
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

/// `PATCH /api/v1/tracks/{id}`: edits the track's tags in this user's library only (the
/// stored file, and anyone else's copy of it, stay as they are). Answers the updated track.
pub async fn edit_track(State(s): State<AppState>, AuthUser(u): AuthUser, Path(id): Path<String>, super::SmallBody(body): super::SmallBody) -> ApiResult<Json<TrackDto>> {
    let id = parse_id(&id, "track")?;
    let p: TagPatch = super::json_body(&body, "an object with any of title, artist, album, album_artist, track_number, disc_number, year, genre, compilation")?;
    let texts = [&p.title, &p.artist, &p.album].into_iter().flatten().chain(p.album_artist.iter().flatten()).chain(p.genre.iter().flatten());
    for t in texts {
        if t.len() > 1024 {
            return Err(ApiError::bad_request("bad_tag", "tag values are at most 1024 bytes"));
        }
    }
    if p.track_number.flatten().is_some_and(|n| n == 0 || n > 9999) || p.disc_number.flatten().is_some_and(|n| n == 0 || n > 999) {
        return Err(ApiError::bad_request("bad_tag", "track numbers are 1-9999 and disc numbers 1-999"));
    }
    if p.year.flatten().is_some_and(|y| !(0..=9999).contains(&y)) {
        return Err(ApiError::bad_request("bad_tag", "year must be between 0 and 9999"));
    }
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
    let catalog = s.catalog.clone();
    let t = blocking(move || {
        catalog.edit_track(u.id, id, &edit)?;
        Ok(catalog.track(u.id, id)?)
    })
    .await?
    .ok_or_else(|| ApiError::not_found("track"))?;
    s.playback_tracks.remove(&(u.id, id));
    Ok(Json(TrackDto::from(&t)))
}

pub async fn albums(State(s): State<AppState>, AuthUser(u): AuthUser, Query(q): Query<PageQuery>) -> ApiResult<Json<ListDto<AlbumDto>>> {
    let sort = match q.sort.as_deref() {
        None | Some("artist") => AlbumSort::Artist,
        Some("title") | Some("name") => AlbumSort::Title,
        Some("year") => AlbumSort::Year,
        Some("recent") | Some("newest") => AlbumSort::Recent,
        Some(other) => return Err(ApiError::bad_request("bad_sort", format!("unknown sort '{other}' (artist, title, year, recent)"))),
    };
    let (items, total) = blocking(move || Ok(s.catalog.list_albums(u.id, sort, q.page())?)).await?;
    Ok(Json(dto::list(&items, total)))
}

pub async fn album(State(s): State<AppState>, AuthUser(u): AuthUser, Path(id): Path<String>) -> ApiResult<Json<AlbumDetailDto>> {
    let id = parse_id(&id, "album")?;
    let (album, tracks) = blocking(move || Ok(s.catalog.album(u.id, id)?)).await?.ok_or_else(|| ApiError::not_found("album"))?;
    Ok(Json(AlbumDetailDto { album: AlbumDto::from(&album), tracks: tracks.iter().map(TrackDto::from).collect() }))
}

pub async fn artists(State(s): State<AppState>, AuthUser(u): AuthUser, Query(q): Query<PageQuery>) -> ApiResult<Json<ListDto<ArtistDto>>> {
    let (items, total) = blocking(move || Ok(s.catalog.list_artists(u.id, q.page())?)).await?;
    Ok(Json(dto::list(&items, total)))
}

pub async fn artist(State(s): State<AppState>, AuthUser(u): AuthUser, Path(id): Path<String>) -> ApiResult<Json<ArtistDetailDto>> {
    let id = parse_id(&id, "artist")?;
    let (artist, albums) = blocking(move || Ok(s.catalog.artist(u.id, id)?)).await?.ok_or_else(|| ApiError::not_found("artist"))?;
    Ok(Json(ArtistDetailDto { artist: ArtistDto::from(&artist), albums: albums.iter().map(AlbumDto::from).collect() }))
}

#[derive(Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    limit: Option<u32>,
}

pub async fn search(State(s): State<AppState>, AuthUser(u): AuthUser, Query(q): Query<SearchQuery>) -> ApiResult<Json<SearchDto>> {
    let text = q.q.unwrap_or_default();
    if text.len() > 512 {
        return Err(ApiError::bad_request("bad_query", "search text is longer than 512 bytes"));
    }
    let limit = q.limit.unwrap_or(20);
    let r = blocking(move || Ok(s.catalog.search(u.id, &text, limit)?)).await?;
    Ok(Json(SearchDto {
        tracks: r.tracks.iter().map(TrackDto::from).collect(),
        albums: r.albums.iter().map(AlbumDto::from).collect(),
        artists: r.artists.iter().map(ArtistDto::from).collect(),
    }))
}

/// `DELETE /api/v1/tracks/{id}`: removes the track from the user's library; its file goes
/// from the store when nobody else owns it (after the catalog commit: a crash in between
/// leaves an orphan that the start-up sweep removes, never a dangling reference).
pub async fn delete_track(State(s): State<AppState>, AuthUser(u): AuthUser, Path(id): Path<String>) -> ApiResult<axum::http::StatusCode> {
    let id = parse_id(&id, "track")?;
    let ingest = s.ingest.clone();
    blocking(move || Ok(ingest.delete_tracks(u.id, &[id])?)).await?;
    s.playback_tracks.remove(&(u.id, id));
    Ok(axum::http::StatusCode::NO_CONTENT)
}
