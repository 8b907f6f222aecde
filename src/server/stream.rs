//! Playback over HTTP: signed playback URLs, HLS (master and media playlists, init and
//! media segments), progressive streams, and `/metrics`.
//!
//! Every playback route accepts either the bearer header or a signed query (`u`, `e`, `s`,
//! see `signing`), and resolves the track through the catalog with that user's id, so a
//! foreign track id is a 404 and a tampered signature a 403.

use std::io;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde_json::{Value, json};

use super::auth::{AuthUser, bearer_user};
use super::files::{etag_matches, header_str, serve_original};
use super::{Path, ApiError, ApiResult, AppState, blocking, parse_id};
use crate::cache::MediaRef;
use crate::catalog::Track;
use crate::domain::{TrackId, UserId, now_unix};
use crate::encode::Codec;
use crate::media::decode::SourceInfo;
use crate::package::{FORMAT_VERSION, Rung, hls, progressive};
use crate::signing::Grant;

const PLAYLIST: &str = "application/vnd.apple.mpegurl";

#[derive(Default)]
struct PlayQuery {
    u: Option<UserId>,
    e: Option<i64>,
    s: Option<String>,
    codecs: Option<String>,
    format: Option<String>,
    bitrate: Option<u32>,
    offset: Option<f64>,
}

/// The playback query (every player sends one per segment, so it is read by hand, not
/// through serde). Unknown keys are ignored; a known key with a bad value is a 400.
fn play_query(raw: Option<&str>) -> ApiResult<PlayQuery> {
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
            _ => {}
        }
    }
    Ok(q)
}

/// How a playback request was authorised, which decides who may keep the answer.
enum Access {
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
    fn child_query(&self) -> String {
        match self {
            Access::Bearer => String::new(),
            Access::Signed { user, expires, sig } => format!("u={user}&e={expires}&s={sig}"),
        }
    }

    /// `Cache-Control` (and `Vary`) for immutable media: init and segments.
    fn media_headers(&self, b: axum::http::response::Builder) -> axum::http::response::Builder {
        match self {
            Access::Bearer => b
                .header(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=31536000, immutable"))
                .header(header::VARY, VARY_AUTH),
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
async fn authorize(s: &AppState, headers: &HeaderMap, q: &mut PlayQuery, track: TrackId) -> ApiResult<(UserId, Access)> {
    if let Some(user) = bearer_user(s, headers, true).await? {
        return Ok((user.id, Access::Bearer));
    }
    match (q.u, q.e, q.s.take()) {
        (Some(user), Some(expires), Some(sig)) => {
            let account = grant_key(s, user).await?.ok_or_else(|| ApiError::Forbidden("bad_signature", "the signed URL's account is disabled or gone".into()))?;
            let grant = Grant { user, track, expires, account };
            s.signer.verify(&grant, &sig, now_unix())?;
            Ok((user, Access::Signed { user, expires, sig }))
        }
        (None, None, None) => Err(ApiError::Unauthorized("unauthorized", "a bearer token or a signed URL is required".into())),
        _ => Err(ApiError::Forbidden("bad_signature", "the signed URL is incomplete".into())),
    }
}

/// The account key signed URLs of `user` are bound to (`Accounts::grant_key`): from the
/// last seconds' cache, or the catalog.
async fn grant_key(s: &AppState, user: UserId) -> ApiResult<Option<u64>> {
    if let Some(k) = s.accounts.recent_grant_key(user) {
        return Ok(k);
    }
    let accounts = s.accounts.clone();
    blocking(move || Ok(accounts.grant_key(user)?)).await
}

/// A user's track as playback needs it: the catalog row, the pipeline's view of the
/// original, and the start of every ETag of its renditions (computed once).
pub struct Playable {
    pub track: Track,
    media: MediaRef,
    etag_key: String,
}

/// How long a track looked up for playback is reused without asking the catalog: a player
/// fetches a segment every few seconds and a playlist's worth at once.
const TRACK_CACHE_SECS: i64 = 10;
const TRACK_CACHE_MAX: usize = 10_000;

/// Track `id` of `user` (404 if it is not theirs), from a short-lived per-user cache.
async fn load_track(s: &AppState, user: UserId, id: TrackId) -> ApiResult<Arc<Playable>> {
    let now = now_unix();
    if let Some(mut e) = s.playback_tracks.get_mut(&(user, id)) {
        if now - e.1 < TRACK_CACHE_SECS {
            return Ok(e.0.clone());
        }
        // Stale: this request asks the catalog; the others meanwhile use the entry.
        e.1 = now;
    }
    let catalog = s.catalog.clone();
    let Some(track) = blocking(move || Ok(catalog.track(user, id)?)).await? else {
        s.playback_tracks.remove(&(user, id));
        return Err(ApiError::not_found("track"));
    };
    // Stored before the probe refused such headers: decoding would scale with the lie.
    if let Err(e) = crate::media::probe::playable(track.sample_rate, track.channels, track.frames) {
        return Err(ApiError::Unprocessable("malformed", format!("{e}; this file cannot be played (it can be downloaded or deleted)")));
    }
    let media = media_ref(&track);
    let etag_key = media.key.to_hex()[..32].to_string();
    let t = Arc::new(Playable { track, media, etag_key });
    if s.playback_tracks.len() >= TRACK_CACHE_MAX {
        s.playback_tracks.retain(|_, (_, at)| now - *at < TRACK_CACHE_SECS);
    }
    s.playback_tracks.insert((user, id), (t.clone(), now));
    Ok(t)
}

fn media_ref(t: &Track) -> MediaRef {
    let ext = std::path::Path::new(&t.file_name).extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let info = SourceInfo {
        container: t.container.clone(),
        codec: t.codec.clone(),
        sample_rate: t.sample_rate,
        channels: t.channels,
        frames: t.frames,
        priming: t.priming,
    };
    MediaRef { key: MediaRef::audio_key(&t.audio, &info), parts: t.parts.clone(), info, ext }
}

fn rung_in_ladder(s: &AppState, id: &str) -> ApiResult<Rung> {
    Rung::parse_id(id).filter(|r| s.ladder.contains(r)).ok_or_else(|| ApiError::not_found("rendition"))
}

fn build(b: axum::http::response::Builder, body: Body) -> ApiResult<Response> {
    b.body(body).map_err(|e| ApiError::Internal(e.to_string()))
}

/// `GET /api/v1/tracks/{id}/playback`: signed URLs for players that cannot send headers.
pub async fn playback(State(s): State<AppState>, AuthUser(u): AuthUser, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = parse_id(&id, "track")?;
    let t = load_track(&s, u.id, id).await?;
    let expires = now_unix() + s.url_ttl_secs as i64;
    let account = grant_key(&s, u.id).await?.ok_or_else(|| ApiError::Forbidden("account_disabled", "this account is disabled".into()))?;
    let grant = Grant { user: u.id, track: id, expires, account };
    let q = format!("u={}&e={}&s={}", u.id, expires, s.signer.sign(&grant));
    let stream = |f: &str| format!("/api/v1/tracks/{id}/stream?format={f}&{q}");
    Ok(Json(json!({
        "track": id,
        "duration": t.track.duration,
        "expires_at": expires,
        "hls": format!("/hls/{id}/master.m3u8?{q}"),
        "hls_aac": format!("/hls/{id}/master.m3u8?codecs=aac&{q}"),
        "stream": { "aac": stream("aac"), "opus": stream("opus"), "mp3": stream("mp3"), "original": stream("original") },
        "renditions": s.ladder.iter().map(|r| json!({
            "id": r.id(), "codec": r.codec.name(), "codecs": r.codecs_attr(), "bitrate": r.bitrate,
        })).collect::<Vec<_>>(),
    })))
}

/// `GET /hls/{track}/master.m3u8[?codecs=aac|opus]`.
pub async fn master(State(s): State<AppState>, Path(id): Path<String>, RawQuery(raw): RawQuery, headers: HeaderMap) -> ApiResult<Response> {
    let id = parse_id(&id, "track")?;
    let mut q = play_query(raw.as_deref())?;
    let (user, access) = authorize(&s, &headers, &mut q, id).await?;
    load_track(&s, user, id).await?;
    let rungs: Vec<Rung> = match q.codecs.as_deref() {
        None | Some("") => s.ladder.to_vec(),
        Some(list) => {
            let mut want = Vec::new();
            for c in list.split(',') {
                match Codec::parse(c.trim()) {
                    Some(codec @ (Codec::Aac | Codec::Opus)) => want.push(codec),
                    _ => return Err(ApiError::bad_request("bad_codecs", format!("unknown codec {c:?}: use aac or opus"))),
                }
            }
            s.ladder.iter().filter(|r| want.contains(&r.codec)).copied().collect()
        }
    };
    if rungs.is_empty() {
        return Err(ApiError::not_found("rendition for these codecs"));
    }
    playlist_response(&access, hls::master(&rungs, &access.child_query()))
}

fn playlist_response(access: &Access, body: Vec<u8>) -> ApiResult<Response> {
    build(access.playlist_headers(Response::builder().header(header::CONTENT_TYPE, HeaderValue::from_static(PLAYLIST))), Body::from(body))
}

/// `GET /hls/{track}/{rung}/{index.m3u8 | init.mp4 | N.m4s}`.
pub async fn rendition(
    State(s): State<AppState>,
    Path((id, rung, file)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (access, t, rung) = resolve(&s, &id, &rung, raw.as_deref(), &headers).await?;
    let m = &t.media;
    if file == "index.m3u8" {
        return playlist_response(&access, hls::media(&m.timeline(), &access.child_query()));
    }
    let index = if file == "init.mp4" {
        None
    } else {
        let n = file.strip_suffix(".m4s").and_then(|n| n.parse::<u32>().ok()).ok_or_else(|| ApiError::not_found("segment"))?;
        Some(n)
    };
    if let Some(n) = index
        && n >= m.timeline().segment_count() {
            return Err(ApiError::not_found(format!("segment {n}")));
        }
    let (b, etag) = media_response(&access, &t, rung, index);
    if header_str(&headers, header::IF_NONE_MATCH).is_some_and(|l| etag_matches(l, &etag)) {
        return build(b.status(StatusCode::NOT_MODIFIED), Body::empty());
    }
    let bytes = match index {
        None => s.streamer.init(m, rung).await?,
        Some(n) => s.streamer.segment(m, rung, n).await?,
    };
    build(b.header(header::CONTENT_LENGTH, bytes.len()), Body::from(bytes))
}

/// Who asks, for which of their tracks, in which rung (shared by [`rendition`] and
/// [`warm_segment`]).
async fn resolve(s: &AppState, id: &str, rung: &str, raw: Option<&str>, headers: &HeaderMap) -> ApiResult<(Access, Arc<Playable>, Rung)> {
    let id = parse_id(id, "track")?;
    let mut q = play_query(raw)?;
    let (user, access) = authorize(s, headers, &mut q, id).await?;
    let rung = rung_in_ladder(s, rung)?;
    let t = load_track(s, user, id).await?;
    Ok((access, t, rung))
}

/// The response head of an init (`index` None) or media segment, and its ETag.
fn media_response(access: &Access, t: &Playable, rung: Rung, index: Option<u32>) -> (axum::http::response::Builder, String) {
    let etag = match index {
        None => format!("\"{}-{}-init-v{FORMAT_VERSION}\"", t.etag_key, rung.id()),
        Some(n) => format!("\"{}-{}-{n}-v{FORMAT_VERSION}\"", t.etag_key, rung.id()),
    };
    let b = access.media_headers(Response::builder().header(header::CONTENT_TYPE, HeaderValue::from_static("audio/mp4"))).header(header::ETAG, &etag);
    (b, etag)
}

/// The warm path, taken before the router: `GET /hls/{track}/{rung}/{n}.m4s` whose segment
/// is already in the hot cache. The same rules as [`rendition`] (same authorisation, track
/// lookup and headers); anything it cannot answer with a 200 or 304 from the cache (a
/// miss, an error, another route) returns `None` and the router handles the request.
pub async fn warm_segment(s: &AppState, req: &axum::http::Request<hyper::body::Incoming>) -> Option<Response> {
    if req.method() != axum::http::Method::GET {
        return None;
    }
    let mut path = req.uri().path().strip_prefix("/hls/")?.split('/');
    let (id, rung, file) = (path.next()?, path.next()?, path.next()?);
    let n: u32 = file.strip_suffix(".m4s")?.parse().ok()?;
    if path.next().is_some() {
        return None;
    }
    let (access, t, rung) = resolve(s, id, rung, req.uri().query(), req.headers()).await.ok()?;
    if n >= t.media.timeline().segment_count() {
        return None;
    }
    let (b, etag) = media_response(&access, &t, rung, Some(n));
    if header_str(req.headers(), header::IF_NONE_MATCH).is_some_and(|l| etag_matches(l, &etag)) {
        return build(b.status(StatusCode::NOT_MODIFIED), Body::empty()).ok();
    }
    let bytes = s.streamer.cached_segment(&t.media, rung, n)?;
    build(b.header(header::CONTENT_LENGTH, bytes.len()), Body::from(bytes)).ok()
}

/// `GET /api/v1/tracks/{id}/stream?format=aac|opus|mp3|original&bitrate=KBPS&offset=SECONDS`.
pub async fn stream(State(s): State<AppState>, Path(id): Path<String>, RawQuery(raw): RawQuery, headers: HeaderMap) -> ApiResult<Response> {
    let id = parse_id(&id, "track")?;
    let mut q = play_query(raw.as_deref())?;
    let (user, _) = authorize(&s, &headers, &mut q, id).await?;
    let p = load_track(&s, user, id).await?;
    let t = &p.track;
    let offset = q.offset.unwrap_or(0.0);
    if !offset.is_finite() || offset < 0.0 || (offset > 0.0 && offset >= t.duration) {
        return Err(ApiError::bad_request("bad_offset", format!("offset must be between 0 and the duration ({:.3} s)", t.duration)));
    }
    let format = q.format.as_deref().unwrap_or("original");
    let codec = match format {
        "original" | "raw" if offset == 0.0 => return serve_original(&s, t, &headers).map(|mut r| {
            if let Ok(v) = HeaderValue::from_str(&format!("{:.3}", t.duration)) {
                r.headers_mut().insert("x-content-duration", v);
            }
            r
        }),
        "original" | "raw" => return original_at(&s, &p, offset).await,
        other => Codec::parse(other).ok_or_else(|| ApiError::bad_request("bad_format", format!("unknown format {other:?}: use aac, opus, mp3 or original")))?,
    };
    let (default_kbps, range) = match codec {
        Codec::Aac => (192, 32..=320),
        Codec::Opus => (128, 16..=256),
        Codec::Mp3 => (192, 32..=320),
    };
    let kbps = q.bitrate.unwrap_or(default_kbps);
    if !range.contains(&kbps) {
        return Err(ApiError::bad_request("bad_bitrate", format!("bitrate for {} must be {}-{} kbps", codec.name(), range.start(), range.end())));
    }
    let rung = Rung { codec, bitrate: kbps * 1000 };
    if s.ladder.contains(&rung) {
        return segmented_response(&s, p.clone(), rung, offset).await;
    }
    let m = p.media.clone();
    let plan = progressive::plan(&m.info, offset);
    transcode_response(&s, m, codec, kbps * 1000, plan).await
}

/// How long a progressive listener's stream waits, in all, for a busy transcoder before it
/// ends (its first segment answers 429 instead).
const MID_STREAM_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// A progressive stream at a ladder rung, cut from the rung's HLS segments
/// ([`progressive::Rewrap`]): the segment cache's single flight, read-ahead and admission
/// serve it, it holds no slot while the listener's socket drains, and listeners of the same
/// audio (or HLS players of it) share one encode.
async fn segmented_response(s: &AppState, p: Arc<Playable>, rung: Rung, offset: f64) -> ApiResult<Response> {
    let m = &p.media;
    let init = s.streamer.init(m, rung).await?;
    let priming = crate::package::fmp4::priming(&init).ok_or_else(|| ApiError::Internal("init segment without an edit list".into()))?;
    let mut rw = progressive::Rewrap::new(rung.codec, m.info.out_channels(), priming, m.timeline(), offset).map_err(|e| ApiError::Internal(e.to_string()))?;
    let k0 = rw.first_segment();
    // The first segment before any byte: a busy server answers 429, a broken file its error.
    let seg = s.streamer.segment(m, rung, k0).await?;
    let mut first = rw.header();
    first.extend(rw.segment(&seg).map_err(|e| ApiError::Internal(e.to_string()))?);
    let duration = progressive::plan(&m.info, offset).duration;
    let streamer = s.streamer.clone();
    let state = (Some(Bytes::from(first)), k0 + 1, rw, p.clone());
    let body = futures_util::stream::unfold(state, move |(first, k, mut rw, p)| {
        let streamer = streamer.clone();
        async move {
            if let Some(b) = first {
                return Some((Ok::<_, io::Error>(b), (None, k, rw, p)));
            }
            if k >= rw.segment_count() {
                return None;
            }
            let waited = std::time::Instant::now();
            let seg = loop {
                match streamer.segment(&p.media, rung, k).await {
                    Ok(b) => break b,
                    Err(crate::cache::StreamError::Busy(_)) if waited.elapsed() < MID_STREAM_PATIENCE => {
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, segment = k, "progressive stream ends early");
                        return None;
                    }
                }
            };
            match rw.segment(&seg) {
                Ok(b) => Some((Ok(Bytes::from(b)), (None, k + 1, rw, p))),
                Err(e) => {
                    tracing::warn!(error = %e, segment = k, "progressive stream ends early");
                    None
                }
            }
        }
    });
    progressive_response(rung.codec, duration, Body::from_stream(body))
}

/// The head of a progressive (transcoded) stream.
fn progressive_response(codec: Codec, duration: f64, body: Body) -> ApiResult<Response> {
    let mime = match codec {
        Codec::Aac => "audio/aac",
        Codec::Opus => "audio/ogg; codecs=opus",
        Codec::Mp3 => "audio/mpeg",
    };
    let dur = format!("{duration:.3}");
    build(
        Response::builder()
            .header(header::CONTENT_TYPE, mime)
            .header(header::CACHE_CONTROL, "no-store")
            .header(header::ACCEPT_RANGES, "none")
            .header("x-content-duration", &dur)
            .header("content-duration", &dur),
        body,
    )
}

/// `format=original` with an offset: the original's own codec cannot be cut at any time
/// without re-encoding, so the stream is transcoded in the closest format the client is
/// sure to play (Opus for Opus/Vorbis originals, AAC for the rest).
async fn original_at(s: &AppState, p: &Playable, offset: f64) -> ApiResult<Response> {
    let (codec, kbps) = match p.track.codec.as_str() {
        "opus" | "vorbis" => (Codec::Opus, 160),
        "mp3" => (Codec::Mp3, 320),
        _ => (Codec::Aac, 256),
    };
    let m = p.media.clone();
    let plan = progressive::plan(&m.info, offset);
    transcode_response(s, m, codec, kbps * 1000, plan).await
}

async fn transcode_response(s: &AppState, m: MediaRef, codec: Codec, bitrate: u32, plan: progressive::StreamPlan) -> ApiResult<Response> {
    let slot = s.streamer.progressive_slot()?;
    let open = s.streamer.opener(m.parts.clone());
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, io::Error>>(4);
    let info = m.info.clone();
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let r = progressive::stream(&open, &m.ext, &info, codec, bitrate, plan, &mut |chunk| tx.blocking_send(Ok(Bytes::from(chunk))).is_ok());
        if let Err(e) = r {
            tracing::warn!(error = %e, "progressive transcode failed");
            let _ = tx.blocking_send(Err(io::Error::other(e.to_string())));
        }
    });
    // Wait for the first bytes so that a source that cannot be decoded is a clean error,
    // not a truncated 200.
    let first = match rx.recv().await {
        Some(Ok(b)) => b,
        Some(Err(e)) => return Err(ApiError::Internal(e.to_string())),
        None => return Err(ApiError::Internal("transcoder ended without output".into())),
    };
    let body = futures_util::stream::unfold((Some(first), rx), |(first, mut rx)| async move {
        match first {
            Some(b) => Some((Ok::<_, io::Error>(b), (None, rx))),
            None => rx.recv().await.map(|r| (r, (None, rx))),
        }
    });
    progressive_response(codec, plan.duration, Body::from_stream(body))
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.streamer.render_metrics())
}
