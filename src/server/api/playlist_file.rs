//! Playlist files for devices that open a URL and play what it lists (smart speakers,
//! internet radios, car head units, VLC): an album or a playlist as extended M3U (UTF-8,
//! `.m3u8`) or PLS, each entry an absolute, signed progressive-stream URL that plays with
//! no header at all.
//!
//! `GET /api/v1/{albums|playlists}/{id}/playback` (bearer) answers signed URLs of the two
//! files; the files themselves open with the bearer header or that signature (`u`, `e`,
//! `s`, scoped to the one list), and take `?format=mp3|aac|opus|original` (default mp3,
//! what every such device plays). Thin: the `Playback` service finds the list and makes
//! the grants; this module writes the two text formats.

use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::auth::{AuthUser, bearer_user};
use super::stream::{PlayQuery, play_query};
use crate::domain::UserId;
use crate::server::extract::origin;
use crate::server::{ApiError, ApiResult, Path, parse_id};
use crate::service::playback::{Format, List, ListFile, SignedList};
use crate::service::{Accounts, Playback};

/// The two file formats.
#[derive(Clone, Copy)]
enum Kind {
    M3u8,
    Pls,
}

impl Kind {
    fn of(pls: bool) -> Kind {
        if pls { Kind::Pls } else { Kind::M3u8 }
    }

    fn mime(self) -> &'static str {
        match self {
            Kind::M3u8 => "audio/x-mpegurl; charset=utf-8",
            Kind::Pls => "audio/x-scpls; charset=utf-8",
        }
    }
}

/// Who may read the list's file: the bearer token's user, or the one a valid list
/// signature names.
pub(super) async fn authorize(playback: &Playback, accounts: &Accounts, headers: &HeaderMap, q: &mut PlayQuery, list: List) -> ApiResult<UserId> {
    if let Some(user) = bearer_user(accounts, headers, true).await? {
        return Ok(user.id);
    }
    let (user, expires, sig) = q.signed()?;
    playback.verify_list(&SignedList { user, list, expires, sig }).await?;
    Ok(user)
}

/// One line of text: no control characters (a tag cannot add entries to the file).
pub(super) fn line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// The file's text: entries in the list's order, each with its length and a name.
fn render(kind: Kind, file: &ListFile, base: &str, format: &str) -> String {
    let entries = file.entries.iter().map(|(t, g)| {
        let url = format!("{base}/api/v1/tracks/{}/stream?format={format}&u={}&e={}&s={}", t.id, g.user, g.expires, g.sig);
        (url, line(&format!("{} - {}", t.tags.artist, t.tags.title)), t.audio.duration.round() as i64)
    });
    let mut out = String::new();
    match kind {
        Kind::M3u8 => {
            out.push_str(&format!("#EXTM3U\n#PLAYLIST:{}\n", line(&file.title)));
            for (url, name, secs) in entries {
                out.push_str(&format!("#EXTINF:{secs},{name}\n{url}\n"));
            }
        }
        Kind::Pls => {
            out.push_str("[playlist]\n");
            let mut n = 0;
            for (i, (url, name, secs)) in entries.enumerate() {
                let k = i + 1;
                out.push_str(&format!("File{k}={url}\nTitle{k}={name}\nLength{k}={secs}\n"));
                n = k;
            }
            out.push_str(&format!("NumberOfEntries={n}\nVersion=2\n"));
        }
    }
    out
}

async fn file(playback: Playback, accounts: Accounts, list: List, kind: Kind, raw: Option<String>, headers: HeaderMap) -> ApiResult<Response> {
    let mut q = play_query(raw.as_deref())?;
    let format = q.format.take().unwrap_or_else(|| "mp3".into());
    Format::parse(&format)?;
    let user = authorize(&playback, &accounts, &headers, &mut q, list).await?;
    let listed = playback.list_file(user, list).await?;
    let body = render(kind, &listed, &origin(&headers), &format);
    Response::builder()
        .header(header::CONTENT_TYPE, HeaderValue::from_static(kind.mime()))
        // The entries' grants expire: every fetch makes new ones.
        .header(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"))
        .body(Body::from(body))
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// Signed URLs of a list's two files.
async fn signed(playback: Playback, user: UserId, list: List, path: String) -> ApiResult<Json<Value>> {
    let g = playback.list_grant(user, list).await?;
    let q = format!("u={}&e={}&s={}", g.user, g.expires, g.sig);
    Ok(Json(json!({ "m3u8": format!("{path}/playlist.m3u8?{q}"), "pls": format!("{path}/playlist.pls?{q}"), "expires_at": g.expires })))
}

/// `GET /api/v1/albums/{id}/playlist.m3u8` (`PLS` false) or `…/playlist.pls` (true).
pub async fn album_file<const PLS: bool>(
    State(p): State<Playback>,
    State(a): State<Accounts>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    file(p, a, List::Album(parse_id(&id, "album")?), Kind::of(PLS), raw, headers).await
}

/// `GET /api/v1/playlists/{id}/playlist.m3u8` (`PLS` false) or `…/playlist.pls` (true).
pub async fn playlist_file<const PLS: bool>(
    State(p): State<Playback>,
    State(a): State<Accounts>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    file(p, a, List::Playlist(parse_id(&id, "playlist")?), Kind::of(PLS), raw, headers).await
}

/// `GET /api/v1/albums/{id}/playback`: signed URLs of the album's playlist files.
pub async fn album_playback(State(p): State<Playback>, AuthUser(u): AuthUser, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = parse_id(&id, "album")?;
    signed(p, u.id, List::Album(id), format!("/api/v1/albums/{id}")).await
}

/// `GET /api/v1/playlists/{id}/playback`: signed URLs of the playlist's files.
pub async fn playlist_playback(State(p): State<Playback>, AuthUser(u): AuthUser, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = parse_id(&id, "playlist")?;
    signed(p, u.id, List::Playlist(id), format!("/api/v1/playlists/{id}")).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_cannot_add_lines() {
        assert_eq!(line("Title\n#EXTINF:1,x\r\nhttp://evil"), "Title #EXTINF:1,x  http://evil");
    }
}
