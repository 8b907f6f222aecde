//! Playback over HTTP: signed playback URLs, HLS (master and media playlists, init and
//! media segments), progressive streams, and `/metrics`, over the `Playback` service.
//!
//! Every playback route accepts either the bearer header or a signed query (`u`, `e`, `s`,
//! see `signing`), and resolves the track with that user's id, so a foreign track id is a
//! 404 and a tampered signature a 403. What is HTTP's own stays here: who may cache an
//! answer (by how it was authorised), ETags, `If-None-Match`, and the response heads.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::{AuthUser, bearer_user};
use super::files::{etag_matches, header_str, serve_original, serve_seekable};
use crate::domain::{TrackId, UserId, now_unix};
use crate::encode::Codec;
use crate::package::hls::Container;
use crate::package::{FORMAT_VERSION, Rung, hls};
use crate::server::extract::{SmallBody, json_body};
use crate::server::upnp::dlna;
use crate::server::{ApiError, ApiResult, Path, parse_id};
use crate::service::playback::{Format, Normalize, Playable, Progressive, SignedGrant, check_offset, stream_mime};
use crate::service::{Accounts, Playback, lan};

const PLAYLIST: &str = "application/vnd.apple.mpegurl";

#[derive(Default)]
pub(super) struct PlayQuery {
    u: Option<UserId>,
    e: Option<i64>,
    s: Option<String>,
    codecs: Option<String>,
    pub(super) format: Option<String>,
    pub(super) bitrate: Option<u32>,
    offset: Option<f64>,
    /// The audio key a playlist put on its children, for load balancers (see `child_query_for`).
    a: Option<String>,
    /// `ts`: the master of the MPEG-TS renditions.
    container: Option<String>,
    /// Loudness normalisation (`off`, `track`, `album`); none named: the user's default at
    /// entry points (masters, streams), off for a rendition's files (their playlist names it).
    pub(super) gain: Option<Normalize>,
}

/// The playback query (every player sends one per segment, so it is read by hand, not
/// through serde). Unknown keys are ignored; a known key with a bad value is a 400.
pub(super) fn play_query(raw: Option<&str>) -> ApiResult<PlayQuery> {
    let mut q = PlayQuery::default();
    let Some(raw) = raw else { return Ok(q) };
    fn num<T: std::str::FromStr>(key: &str, v: &str) -> ApiResult<Option<T>> {
        v.parse().map(Some).map_err(|_| ApiError::bad_request("bad_query", format!("malformed query string: {key}={v:?} is not a number")))
    }
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        match &*k {
            "u" => q.u = num("u", &v)?,
            "e" => q.e = num("e", &v)?,
            "s" => q.s = Some(v.into_owned()),
            "codecs" => q.codecs = Some(v.into_owned()),
            "format" => q.format = Some(v.into_owned()),
            "bitrate" => q.bitrate = num("bitrate", &v)?,
            "offset" => q.offset = num("offset", &v)?,
            "a" => q.a = Some(v.into_owned()),
            "container" => q.container = Some(v.into_owned()),
            "gain" => {
                q.gain = Some(
                    Normalize::parse(&v)
                        .ok_or_else(|| ApiError::bad_request("bad_query", format!("malformed query string: gain={v:?} is not off, track or album")))?,
                )
            }
            _ => {}
        }
    }
    Ok(q)
}

/// How a playback request was authorised, which decides who may keep the answer.
pub(super) enum Access {
    /// `Authorization: Bearer`: the URL alone does not open it, so no shared cache (CDN,
    /// proxy) may store the answer, and a browser's own cache keys it by the header too.
    Bearer,
    /// A signed query: the URL carries the grant, so a shared cache may keep the answer
    /// under that URL, but not past the grant's expiry; playlists' children carry it.
    Signed { user: UserId, expires: i64, sig: String },
}

const VARY_AUTH: HeaderValue = HeaderValue::from_static("authorization");

impl Access {
    /// What the URLs inside a playlist carry.
    /// The query of a playlist's children: the audio key first (`a=`, what a load balancer
    /// hashes on, so every segment of one audio, whoever asks, lands on one node and is
    /// encoded once per cluster), then the grant when the request was signed.
    fn child_query_for(&self, t: &Playable, gain: Normalize) -> String {
        let g = if gain == Normalize::Off { String::new() } else { format!("&gain={}", gain.name()) };
        match self {
            Access::Bearer => format!("a={}{g}", t.etag_key),
            Access::Signed { user, expires, sig } => format!("a={}{g}&u={user}&e={expires}&s={sig}", t.etag_key),
        }
    }

    /// `Cache-Control` (and `Vary`) for immutable media: init and segments.
    fn media_headers(&self, b: axum::http::response::Builder) -> axum::http::response::Builder {
        match self {
            Access::Bearer => b.header(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=31536000, immutable")).header(header::VARY, VARY_AUTH),
            Access::Signed { expires, .. } => {
                let left = (expires - now_unix()).max(0);
                b.header(header::CACHE_CONTROL, format!("public, max-age={left}, immutable"))
            }
        }
    }

    /// `Cache-Control` (and `Vary`) for playlists: revalidated by bearer clients; a signed
    /// playlist may be shared for a minute (within its grant).
    fn playlist_headers(&self, b: axum::http::response::Builder) -> axum::http::response::Builder {
        match self {
            Access::Bearer => b.header(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache")).header(header::VARY, VARY_AUTH),
            Access::Signed { expires, .. } => {
                let left = (expires - now_unix()).clamp(0, PLAYLIST_SHARED_SECS);
                b.header(header::CACHE_CONTROL, format!("public, max-age={left}"))
            }
        }
    }
}

/// How long a shared cache may keep a signed playlist.
const PLAYLIST_SHARED_SECS: i64 = 60;

/// Who may play `track`: the bearer token's user, or the user a valid signature names.
pub(super) async fn authorize(playback: &Playback, accounts: &Accounts, headers: &HeaderMap, q: &mut PlayQuery, track: TrackId) -> ApiResult<(UserId, Access)> {
    if let Some(user) = bearer_user(accounts, headers, true).await? {
        return Ok((user.id, Access::Bearer));
    }
    let (user, expires, sig) = q.signed()?;
    let grant = SignedGrant { user, track, expires, sig };
    playback.verify(&grant).await?;
    Ok((user, Access::Signed { user, expires, sig: grant.sig }))
}

impl PlayQuery {
    /// The signed URL's user, expiry and signature (taken out of the query): 401 when the
    /// query has none of them, 403 when it has some.
    pub(super) fn signed(&mut self) -> ApiResult<(UserId, i64, String)> {
        match (self.u, self.e, self.s.take()) {
            (Some(user), Some(expires), Some(sig)) => Ok((user, expires, sig)),
            (None, None, None) => Err(ApiError::Unauthorized("unauthorized", "a bearer token or a signed URL is required".into())),
            _ => Err(ApiError::Forbidden("bad_signature", "the signed URL is incomplete".into())),
        }
    }
}

fn build(b: axum::http::response::Builder, body: Body) -> ApiResult<Response> {
    b.body(body).map_err(|e| ApiError::Internal(e.to_string()))
}

/// `GET /api/v1/tracks/{id}/playback`: signed URLs for players that cannot send headers.
pub async fn playback(State(playback): State<Playback>, AuthUser(u): AuthUser, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = parse_id(&id, "track")?;
    let t = playback.track(u.id, id).await?;
    let g = playback.grant(u.id, id).await?;
    let q = format!("u={}&e={}&s={}", g.user, g.expires, g.sig);
    let stream = |f: &str| format!("/api/v1/tracks/{id}/stream?format={f}&{q}");
    Ok(Json(json!({
        "track": id,
        "duration": t.track.audio.duration,
        "expires_at": g.expires,
        "hls": format!("/hls/{id}/master.m3u8?{q}"),
        "hls_aac": format!("/hls/{id}/master.m3u8?codecs=aac&{q}"),
        "hls_ts": format!("/hls/{id}/master.m3u8?container=ts&{q}"),
        "stream": { "aac": stream("aac"), "opus": stream("opus"), "mp3": stream("mp3"), "original": stream("original") },
        "renditions": playback.ladder().iter().map(|r| json!({
            "id": r.id(), "codec": r.codec.name(), "codecs": r.codecs_attr(), "bitrate": r.bitrate,
        })).collect::<Vec<_>>(),
    })))
}

/// `GET /hls/{track}/master.m3u8[?codecs=aac|opus]`.
pub async fn master(
    State(playback): State<Playback>,
    State(accounts): State<Accounts>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id = parse_id(&id, "track")?;
    let mut q = play_query(raw.as_deref())?;
    let (user, access) = authorize(&playback, &accounts, &headers, &mut q, id).await?;
    let gain = playback.normalize_for(user, q.gain).await?;
    let t = playback.track(user, id).await?.normalised(gain);
    let container = match q.container.as_deref() {
        None | Some("fmp4") => Container::Fmp4,
        Some("ts") => Container::Ts,
        Some(other) => return Err(ApiError::bad_request("bad_container", format!("unknown container {other:?}: use fmp4 or ts"))),
    };
    // MPEG-TS carries the AAC rungs only.
    let codecs = if container == Container::Ts { Some("aac") } else { q.codecs.as_deref() };
    let rungs = playback.rungs(codecs, q.bitrate)?;
    playlist_response(&access, hls::master(&rungs, &access.child_query_for(&t, gain), container))
}

fn playlist_response(access: &Access, body: Vec<u8>) -> ApiResult<Response> {
    build(access.playlist_headers(Response::builder().header(header::CONTENT_TYPE, HeaderValue::from_static(PLAYLIST))), Body::from(body))
}

/// `GET /hls/{track}/{rung}/{index.m3u8 | init.mp4 | N.m4s}`, and for AAC rungs
/// `{ts.m3u8 | N.ts}`.
pub async fn rendition(
    State(playback): State<Playback>,
    State(accounts): State<Accounts>,
    Path((id, rung, file)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (access, t, rung, gain) = resolve(&playback, &accounts, &id, &rung, raw.as_deref(), &headers).await?;
    // MPEG-TS views exist for the AAC rungs.
    let ts = rung.codec == Codec::Aac;
    let number = |f: &str, ext: &str| f.strip_suffix(ext).and_then(|n| n.parse::<u32>().ok());
    let piece = match file.as_str() {
        "index.m3u8" => return playlist_response(&access, hls::media(&t.media.timeline(), &access.child_query_for(&t, gain), Container::Fmp4)),
        "ts.m3u8" if ts => return playlist_response(&access, hls::media(&t.media.timeline(), &access.child_query_for(&t, gain), Container::Ts)),
        "init.mp4" => Piece::Init,
        f => match (number(f, ".m4s"), number(f, ".ts")) {
            (Some(n), _) => Piece::Segment(n),
            (None, Some(n)) if ts => Piece::Ts(n),
            _ => return Err(ApiError::not_found("segment")),
        },
    };
    if let Piece::Segment(n) | Piece::Ts(n) = piece
        && n >= t.media.timeline().segment_count()
    {
        return Err(ApiError::not_found(format!("segment {n}")));
    }
    let (b, etag) = media_response(&access, &t, rung, piece);
    if header_str(&headers, header::IF_NONE_MATCH).is_some_and(|l| etag_matches(l, &etag)) {
        return build(b.status(StatusCode::NOT_MODIFIED), Body::empty());
    }
    let bytes = match piece {
        Piece::Init => playback.init(&t, rung).await?,
        Piece::Segment(n) => playback.segment(&t, rung, n).await?,
        Piece::Ts(n) => playback.ts_segment(&t, rung, n).await?,
    };
    build(b.header(header::CONTENT_LENGTH, bytes.len()), Body::from(bytes))
}

/// A rendition's immutable files: the init section, a media segment, or a segment's
/// MPEG-TS view.
#[derive(Clone, Copy)]
enum Piece {
    Init,
    Segment(u32),
    Ts(u32),
}

/// Who asks, for which of their tracks, in which rung (shared by [`rendition`] and
/// [`warm_segment`]).
async fn resolve(
    playback: &Playback,
    accounts: &Accounts,
    id: &str,
    rung: &str,
    raw: Option<&str>,
    headers: &HeaderMap,
) -> ApiResult<(Access, Arc<Playable>, Rung, Normalize)> {
    let id = parse_id(id, "track")?;
    let mut q = play_query(raw)?;
    let (user, access) = authorize(playback, accounts, headers, &mut q, id).await?;
    let rung = playback.rung(rung)?;
    let gain = q.gain.unwrap_or_default();
    let t = playback.track(user, id).await?.normalised(gain);
    // `a` only routes; one that is not this track's audio names nothing here.
    if q.a.as_deref().is_some_and(|a| a != t.etag_key) {
        return Err(ApiError::not_found("rendition"));
    }
    Ok((access, t, rung, gain))
}

/// The response head of a rendition file, and its ETag.
fn media_response(access: &Access, t: &Playable, rung: Rung, piece: Piece) -> (axum::http::response::Builder, String) {
    let (name, mime) = match piece {
        Piece::Init => ("init".to_string(), "audio/mp4"),
        Piece::Segment(n) => (n.to_string(), "audio/mp4"),
        Piece::Ts(n) => (format!("{n}-ts"), "video/mp2t"),
    };
    let etag = format!("\"{}-{}-{name}-v{FORMAT_VERSION}\"", t.etag_key, rung.id());
    let b = access.media_headers(Response::builder().header(header::CONTENT_TYPE, HeaderValue::from_static(mime))).header(header::ETAG, &etag);
    (b, etag)
}

/// The warm path, taken before the router: `GET /hls/{track}/{rung}/{n}.m4s` whose segment
/// is already in the hot cache. The same rules as [`rendition`] (same authorisation, track
/// lookup and headers); anything it cannot answer with a 200 or 304 from the cache (a
/// miss, an error, another route) returns `None` and the router handles the request.
pub async fn warm_segment(playback: &Playback, accounts: &Accounts, req: &axum::http::Request<hyper::body::Incoming>) -> Option<Response> {
    if req.method() != axum::http::Method::GET {
        return None;
    }
    let mut path = req.uri().path().strip_prefix("/hls/")?.split('/');
    let (id, rung, file) = (path.next()?, path.next()?, path.next()?);
    let n: u32 = file.strip_suffix(".m4s")?.parse().ok()?;
    if path.next().is_some() {
        return None;
    }
    let (access, t, rung, _) = resolve(playback, accounts, id, rung, req.uri().query(), req.headers()).await.ok()?;
    if n >= t.media.timeline().segment_count() {
        return None;
    }
    let (b, etag) = media_response(&access, &t, rung, Piece::Segment(n));
    if header_str(req.headers(), header::IF_NONE_MATCH).is_some_and(|l| etag_matches(l, &etag)) {
        return build(b.status(StatusCode::NOT_MODIFIED), Body::empty()).ok();
    }
    let bytes = playback.cached_segment(&t, rung, n)?;
    build(b.header(header::CONTENT_LENGTH, bytes.len()), Body::from(bytes)).ok()
}

/// `GET|HEAD /api/v1/tracks/{id}/stream?format=aac|opus|mp3|original&bitrate=KBPS&offset=SECONDS`:
/// MP3 and AAC from the start are seekable (length and ranges), the rest chunked.
pub async fn stream(
    State(playback): State<Playback>,
    State(accounts): State<Accounts>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    method: axum::http::Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id = parse_id(&id, "track")?;
    let mut q = play_query(raw.as_deref())?;
    let (user, _) = authorize(&playback, &accounts, &headers, &mut q, id).await?;
    let gain = playback.normalize_for(user, q.gain).await?;
    let p = playback.track(user, id).await?.normalised(gain);
    // The offset is judged before the format (as the old handler did).
    let offset = check_offset(q.offset.unwrap_or(0.0), p.track.audio.duration)?;
    let format = Format::parse(q.format.as_deref().unwrap_or("original"))?;
    let asked = dlna::Asked::of(&headers)?;
    let channels = p.track.audio.channels;
    match playback.progressive(p.clone(), format, q.bitrate, offset).await? {
        Progressive::Original => {
            if asked.time_seek.is_some() {
                return Err(dlna::no_time_seek());
            }
            let mut r = serve_original(&playback, &p.track, &headers)?;
            if let Ok(v) = HeaderValue::from_str(&format!("{:.3}", p.track.audio.duration)) {
                r.headers_mut().insert("x-content-duration", v);
            }
            asked.decorate(&lan::original(&p.track), r.headers_mut());
            Ok(r)
        }
        Progressive::Seekable(s) => {
            // A DLNA time seek is the byte range of the frames from that time on.
            let mut headers = headers;
            let mut answered = None;
            if let Some((from, to)) = asked.time_seek {
                if from >= s.duration {
                    return Err(ApiError::RangeNotSatisfiable(s.len));
                }
                let a = s.offset_at(from);
                let b = to.map_or(s.len, |t| s.offset_at(t).clamp(a + 1, s.len));
                headers.insert(header::RANGE, HeaderValue::from_str(&format!("bytes={a}-{}", b - 1)).map_err(|e| ApiError::Internal(e.to_string()))?);
                headers.remove(header::IF_RANGE);
                let end = to.unwrap_or(s.duration).min(s.duration);
                answered = Some(format!("npt={}-{}/{} bytes={a}-{}/{}", dlna::npt_secs(from), dlna::npt_secs(end), dlna::npt_secs(s.duration), b - 1, s.len));
            }
            let mut r = serve_seekable(&playback, &s, &headers, method == axum::http::Method::HEAD).await?;
            if let Some(v) = answered.and_then(|v| HeaderValue::from_str(&v).ok()) {
                r.headers_mut().insert("timeseekrange.dlna.org", v);
            }
            let served = match s.format {
                Format::Codec(codec) => lan::transcode(codec, s.kbps, channels, Some(s.len), true),
                _ => lan::lpcm(channels, s.len),
            };
            asked.decorate(&served, r.headers_mut());
            Ok(r)
        }
        Progressive::Stream { codec, kbps, duration, body } => {
            if asked.time_seek.is_some() {
                return Err(dlna::no_time_seek());
            }
            let mut r = progressive_response(codec, duration, Body::from_stream(body))?;
            asked.decorate(&lan::transcode(codec, kbps, channels, None, false), r.headers_mut());
            Ok(r)
        }
    }
}

/// The head of a progressive (transcoded) stream.
pub(super) fn progressive_response(codec: Codec, duration: f64, body: Body) -> ApiResult<Response> {
    let mime = stream_mime(codec);
    let dur = format!("{duration:.3}");
    build(
        Response::builder()
            .header(header::CACHE_CONTROL, "no-store")
            .header(header::CONTENT_TYPE, mime)
            .header(header::ACCEPT_RANGES, "none")
            .header("x-content-duration", &dur)
            .header("content-duration", &dur),
        body,
    )
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(playback): State<Playback>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], playback.metrics())
}

/// `GET /api/v1/me/playback`: the user's playback settings (`normalize`).
pub async fn settings(State(playback): State<Playback>, AuthUser(u): AuthUser) -> ApiResult<Json<Value>> {
    let mode = playback.default_normalize(u.id).await?;
    Ok(Json(json!({ "normalize": mode.name() })))
}

/// `PUT /api/v1/me/playback` `{"normalize": "off" | "track" | "album"}`: what a stream, HLS
/// master or radio that names no `gain` gets.
pub async fn set_settings(State(playback): State<Playback>, AuthUser(u): AuthUser, SmallBody(b): SmallBody) -> ApiResult<Json<Value>> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Settings {
        normalize: String,
    }
    let s: Settings = json_body(&b, r#"{"normalize": "off" | "track" | "album"}"#)?;
    let mode = Normalize::parse(&s.normalize)
        .ok_or_else(|| ApiError::bad_request("bad_normalize", format!("normalize must be off, track or album, not {:?}", s.normalize)))?;
    playback.set_default_normalize(u.id, mode).await?;
    Ok(Json(json!({ "normalize": mode.name() })))
}
