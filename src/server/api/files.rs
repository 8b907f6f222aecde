//! Byte-serving endpoints: the stored original (byte-identical, with `Range`, `ETag`,
//! `If-None-Match`, `If-Range` and `HEAD`), seekable transcodes (the same rules over the
//! playback service's fixed-layout streams) and cover images (scaled by the library service,
//! revalidated by ETag before any byte is read).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use super::auth::AuthUser;
use super::stream::play_query;
use crate::catalog::Track;
use crate::server::{ApiError, ApiResult, Path, blocking, parse_id};
use crate::service::library::{CoverOf, CoverPick};
use crate::service::playback::{List, SeekableStream, original_mime};
use crate::service::{Accounts, Library, Playback};
use axum::extract::RawQuery;

/// A parsed single `Range: bytes=...` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// No usable range: send everything.
    Full,
    /// Start and inclusive end, inside the entity.
    Part(u64, u64),
    Unsatisfiable,
}

/// RFC 9110 §14.2: one range is honoured; several ranges or a syntax error mean "send it
/// all" (which the RFC allows); a range that starts past the end is unsatisfiable.
pub fn parse_range(header: Option<&str>, len: u64) -> ByteRange {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return ByteRange::Full };
    if spec.contains(',') {
        return ByteRange::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else { return ByteRange::Full };
    let (a, b) = (a.trim(), b.trim());
    let parsed = match (a.is_empty(), b.is_empty()) {
        (true, false) => match b.parse::<u64>() {
            Ok(0) => return ByteRange::Unsatisfiable,
            Ok(n) => Some((len.saturating_sub(n), len.saturating_sub(1))),
            Err(_) => None,
        },
        (false, true) => a.parse::<u64>().ok().map(|s| (s, len.saturating_sub(1))),
        (false, false) => match (a.parse::<u64>(), b.parse::<u64>()) {
            (Ok(s), Ok(e)) if s <= e => Some((s, e.min(len.saturating_sub(1)))),
            _ => None,
        },
        (true, true) => None,
    };
    match parsed {
        None => ByteRange::Full,
        Some((s, _)) if s >= len => ByteRange::Unsatisfiable,
        Some((s, e)) => ByteRange::Part(s, e),
    }
}

pub fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

pub fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}

/// `filename*=` (RFC 6266/8187) plus an ASCII fallback.
fn content_disposition(name: &str) -> String {
    let ascii: String = name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
    let mut enc = String::new();
    for b in name.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(b) {
            enc.push(*b as char);
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{enc}")
}

/// `GET|HEAD /api/v1/tracks/{id}/original`
pub async fn original(
    State(lib): State<Library>,
    State(playback): State<Playback>,
    AuthUser(u): AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id = parse_id(&id, "track")?;
    let t = blocking(move || lib.track(u.id, id)).await?;
    serve_original(&playback, &t, &headers)
}

/// What a ranged answer sends, once the validators are judged.
pub enum Ranged {
    /// `304 Not Modified`, ready.
    NotModified(Response),
    /// Bytes `start..end` under this head (200 or 206, `Content-Length` set).
    Bytes { head: axum::http::response::Builder, start: u64, end: u64 },
}

/// RFC 9110 for a body of `len` bytes under a strong `etag`: `If-None-Match` → 304,
/// `If-Range` with another validator → the whole body, one `Range` → 206 with
/// `Content-Range`, a range past the end → 416.
pub fn ranged(head: axum::http::response::Builder, etag: &str, len: u64, headers: &HeaderMap) -> ApiResult<Ranged> {
    let mut b = head.header(header::ETAG, etag).header(header::ACCEPT_RANGES, "bytes");
    if header_str(headers, header::IF_NONE_MATCH).is_some_and(|l| etag_matches(l, etag)) {
        return b.status(StatusCode::NOT_MODIFIED).body(Body::empty()).map(Ranged::NotModified).map_err(|e| ApiError::Internal(e.to_string()));
    }
    // If-Range with a different validator means the client's partial copy is stale.
    let range_header = match header_str(headers, header::IF_RANGE) {
        Some(v) if v.trim() != etag => None,
        _ => header_str(headers, header::RANGE),
    };
    let (status, start, end) = match parse_range(range_header, len) {
        ByteRange::Full => (StatusCode::OK, 0, len),
        ByteRange::Part(s0, e) => {
            b = b.header(header::CONTENT_RANGE, format!("bytes {s0}-{e}/{len}"));
            (StatusCode::PARTIAL_CONTENT, s0, e + 1)
        }
        ByteRange::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable(len)),
    };
    Ok(Ranged::Bytes { head: b.status(status).header(header::CONTENT_LENGTH, end - start), start, end })
}

/// The original file with `Range`, `If-Range` and `If-None-Match` support.
pub fn serve_original(playback: &Playback, t: &Track, headers: &HeaderMap) -> ApiResult<Response> {
    let etag = format!("\"{}\"", t.file.hash.to_hex());
    let head = Response::builder()
        .header(header::CONTENT_TYPE, original_mime(&t.audio.container, &t.audio.codec))
        .header(header::CACHE_CONTROL, "private, max-age=31536000, immutable")
        .header(header::VARY, "authorization")
        .header(header::CONTENT_DISPOSITION, content_disposition(&t.file.file_name));
    match ranged(head, &etag, t.file.size, headers)? {
        Ranged::NotModified(r) => Ok(r),
        Ranged::Bytes { head, start, end } => {
            let body = if start == end { Body::empty() } else { Body::from_stream(playback.original(t.file.parts.clone(), start, end)) };
            head.body(body).map_err(|e| ApiError::Internal(e.to_string()))
        }
    }
}

/// A seekable transcode (`Progressive::Seekable`) with `Content-Length`, `Range`, `ETag`
/// and `HEAD` (which encodes nothing), as an original is served.
pub async fn serve_seekable(playback: &Playback, s: &SeekableStream, headers: &HeaderMap, head_only: bool) -> ApiResult<Response> {
    let dur = format!("{:.3}", s.duration);
    let head = Response::builder()
        .header(header::CONTENT_TYPE, s.mime)
        .header(header::CACHE_CONTROL, "private, max-age=86400")
        .header(header::VARY, "authorization")
        .header("x-content-duration", &dur)
        .header("content-duration", &dur);
    match ranged(head, &s.etag, s.len, headers)? {
        Ranged::NotModified(r) => Ok(r),
        Ranged::Bytes { head, start, end } => {
            let body = if head_only || start == end { Body::empty() } else { Body::from_stream(playback.seekable_bytes(s, start, end).await?) };
            head.body(body).map_err(|e| ApiError::Internal(e.to_string()))
        }
    }
}

/// `?size=N` of a cover request (its other keys are the signature's).
fn cover_size(raw: Option<&str>) -> ApiResult<Option<u32>> {
    let Some(raw) = raw else { return Ok(None) };
    match form_urlencoded::parse(raw.as_bytes()).find(|(k, _)| k == "size") {
        None => Ok(None),
        Some((_, v)) => v.parse().map(Some).map_err(|_| ApiError::bad_request("bad_query", format!("malformed query string: size={v:?} is not a number"))),
    }
}

/// `GET /api/v1/tracks/{id}/cover?size=N`: with the bearer token, or signed like the track's
/// stream URLs (what DLNA devices are handed as album art).
pub async fn track_cover(
    State(lib): State<Library>,
    State(playback): State<Playback>,
    State(accounts): State<Accounts>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id = parse_id(&id, "track")?;
    let size = cover_size(raw.as_deref())?;
    let mut q = play_query(raw.as_deref())?;
    let (user, _) = super::stream::authorize(&playback, &accounts, &headers, &mut q, id).await?;
    serve_cover(lib, user, CoverOf::Track(id), size, &headers).await
}

/// `GET /api/v1/albums/{id}/cover?size=N`: with the bearer token, or the album's list signature.
pub async fn album_cover(
    State(lib): State<Library>,
    State(playback): State<Playback>,
    State(accounts): State<Accounts>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id = parse_id(&id, "album")?;
    let size = cover_size(raw.as_deref())?;
    let mut q = play_query(raw.as_deref())?;
    let user = super::playlist_file::authorize(&playback, &accounts, &headers, &mut q, List::Album(id)).await?;
    serve_cover(lib, user, CoverOf::Album(id), size, &headers).await
}

async fn serve_cover(lib: Library, user: crate::domain::UserId, of: CoverOf, size: Option<u32>, headers: &HeaderMap) -> ApiResult<Response> {
    let l = lib.clone();
    let pick: CoverPick = blocking(move || l.cover_pick(user, of, size)).await?;
    let etag = match pick.edge {
        Some(n) => format!("\"{}-{n}\"", pick.cover.hash.to_hex()),
        None => format!("\"{}\"", pick.cover.hash.to_hex()),
    };
    let base = Response::builder().header(header::ETAG, &etag).header(header::CACHE_CONTROL, "private, max-age=86400");
    if header_str(headers, header::IF_NONE_MATCH).is_some_and(|l| etag_matches(l, &etag)) {
        return base.status(StatusCode::NOT_MODIFIED).body(Body::empty()).map_err(|e| ApiError::Internal(e.to_string()));
    }
    let (bytes, mime) = lib.cover(pick).await?;
    base.header(header::CONTENT_TYPE, HeaderValue::from_str(&mime).unwrap_or(HeaderValue::from_static("application/octet-stream")))
        .header(header::CONTENT_LENGTH, bytes.len())
        .body(Body::from(bytes))
        .map_err(|e| ApiError::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), ByteRange::Full);
        assert_eq!(parse_range(Some("bytes=0-3"), 10), ByteRange::Part(0, 3));
        assert_eq!(parse_range(Some("bytes=5-"), 10), ByteRange::Part(5, 9));
        assert_eq!(parse_range(Some("bytes=-4"), 10), ByteRange::Part(6, 9));
        assert_eq!(parse_range(Some("bytes=-40"), 10), ByteRange::Part(0, 9));
        assert_eq!(parse_range(Some("bytes=8-100"), 10), ByteRange::Part(8, 9));
        assert_eq!(parse_range(Some("bytes=10-"), 10), ByteRange::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), ByteRange::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=5-2"), 10), ByteRange::Full);
        assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), ByteRange::Full);
        assert_eq!(parse_range(Some("items=0-1"), 10), ByteRange::Full);
        assert_eq!(parse_range(Some("bytes=x-y"), 10), ByteRange::Full);
    }

    #[test]
    fn dispositions_are_ascii_safe() {
        let d = content_disposition("Jóga \"live\".flac");
        assert!(d.is_ascii());
        assert!(d.contains("filename*=UTF-8''J%C3%B3ga%20%22live%22.flac"));
    }
}
