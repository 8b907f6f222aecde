//! Radio streams for internet-radio devices: `GET /api/v1/radio` lists the stations (a
//! shuffle, the favourites, every playlist and album) with signed URLs; `GET
//! /api/v1/radio/{station}` is the stream itself (`?format=mp3|aac&bitrate=KBPS&repeat=1`,
//! ICY metadata when the request says `Icy-MetaData: 1`), and `…/listen.pls` / `…/listen.m3u`
//! the one-entry playlist files such radios are given. Thin: the `Playback` service tunes
//! the station; this module names stations and writes the heads.

use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::auth::AuthUser;
use super::playlist_file::{authorize, line};
use super::stream::play_query;
use crate::encode::Codec;
use crate::server::extract::origin;
use crate::server::{ApiError, ApiResult, Path};
use crate::service::playback::{List, stream_mime};
use crate::service::{Accounts, Playback};

/// A station's name in URLs: `shuffle`, `favourites`, `album-12`, `playlist-3`.
fn station_id(list: List) -> String {
    match list {
        List::Shuffle => "shuffle".into(),
        List::Favourites => "favourites".into(),
        List::Album(a) => format!("album-{a}"),
        List::Playlist(p) => format!("playlist-{p}"),
    }
}

fn parse_station(s: &str) -> ApiResult<List> {
    let bad = || ApiError::not_found("station");
    Ok(match s {
        "shuffle" => List::Shuffle,
        "favourites" => List::Favourites,
        _ => {
            let (kind, id) = s.split_once('-').ok_or_else(bad)?;
            let id: i64 = id.parse().map_err(|_| bad())?;
            match kind {
                "album" => List::Album(crate::domain::AlbumId(id)),
                "playlist" => List::Playlist(crate::domain::PlaylistId(id)),
                _ => return Err(bad()),
            }
        }
    })
}

/// `GET /api/v1/radio`: every station with its signed stream and playlist-file URLs.
pub async fn stations(State(playback): State<Playback>, AuthUser(u): AuthUser) -> ApiResult<Json<Value>> {
    let mut out = Vec::new();
    for s in playback.stations(u.id).await? {
        let g = &s.grant;
        let id = station_id(s.list);
        let q = format!("u={}&e={}&s={}", g.user, g.expires, g.sig);
        let base = format!("/api/v1/radio/{id}");
        out.push(json!({
            "id": id,
            "name": s.name,
            "mp3": format!("{base}?format=mp3&{q}"),
            "aac": format!("{base}?format=aac&{q}"),
            "pls": format!("{base}/listen.pls?{q}"),
            "m3u": format!("{base}/listen.m3u?{q}"),
            "expires_at": g.expires,
        }));
    }
    Ok(Json(json!({ "stations": out })))
}

/// A radio stream's codec from `format` (MP3 when none is named).
fn radio_codec(format: Option<&str>) -> ApiResult<Codec> {
    match format.unwrap_or("mp3") {
        "mp3" => Ok(Codec::Mp3),
        "aac" => Ok(Codec::Aac),
        other => Err(ApiError::bad_request("bad_format", format!("radio streams are mp3 or aac, not {other:?}"))),
    }
}

/// The query of a radio request: the playback query plus `repeat`.
fn repeat_of(raw: Option<&str>) -> bool {
    raw.map(|r| form_urlencoded::parse(r.as_bytes()).any(|(k, v)| k == "repeat" && (v == "1" || v == "true"))).unwrap_or(false)
}

/// `GET /api/v1/radio/{station}?format=mp3|aac&bitrate=KBPS&repeat=1&gain=off|track|album`
/// (bearer or signed; `gain` defaults to the user's setting).
pub async fn stream(
    State(playback): State<Playback>,
    State(accounts): State<Accounts>,
    Path(station): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let list = parse_station(&station)?;
    let mut q = play_query(raw.as_deref())?;
    let codec = radio_codec(q.format.as_deref())?;
    let user = authorize(&playback, &accounts, &headers, &mut q, list).await?;
    let icy = headers.get("icy-metadata").and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() == "1");
    let gain = playback.normalize_for(user, q.gain).await?;
    let r = playback.radio(user, list, codec, q.bitrate, icy, repeat_of(raw.as_deref()), gain).await?;
    let mut b = Response::builder()
        .header(header::CONTENT_TYPE, stream_mime(r.codec))
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::ACCEPT_RANGES, "none")
        .header("icy-br", r.kbps.to_string())
        .header("icy-pub", "0");
    if let Ok(v) = HeaderValue::from_str(&line(&r.name)) {
        b = b.header("icy-name", v);
    }
    if let Some(every) = r.metaint {
        b = b.header("icy-metaint", every.to_string());
    }
    b.body(Body::from_stream(r.body)).map_err(|e| ApiError::Internal(e.to_string()))
}

/// `GET /api/v1/radio/{station}/listen.pls` or `…/listen.m3u`: one entry, the signed stream.
pub async fn listen<const PLS: bool>(
    State(playback): State<Playback>,
    State(accounts): State<Accounts>,
    Path(station): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let list = parse_station(&station)?;
    let mut q = play_query(raw.as_deref())?;
    let format = radio_codec(q.format.as_deref())?.name();
    let user = authorize(&playback, &accounts, &headers, &mut q, list).await?;
    let s = playback.station(user, list).await?;
    let (g, name) = (&s.grant, line(&s.name));
    let url = format!("{}/api/v1/radio/{}?format={format}&u={}&e={}&s={}", origin(&headers), station_id(list), g.user, g.expires, g.sig);
    let (mime, body) = if PLS {
        ("audio/x-scpls; charset=utf-8", format!("[playlist]\nFile1={url}\nTitle1={name}\nLength1=-1\nNumberOfEntries=1\nVersion=2\n"))
    } else {
        ("audio/x-mpegurl; charset=utf-8", format!("#EXTM3U\n#EXTINF:-1,{name}\n{url}\n"))
    };
    Response::builder()
        .header(header::CONTENT_TYPE, mime)
        .header(header::CACHE_CONTROL, "private, no-store")
        .body(Body::from(body))
        .map_err(|e| ApiError::Internal(e.to_string()))
}
