//! Byte-serving endpoints: the stored original (byte-identical, with `Range`, `ETag`,
//! `If-None-Match`, `If-Range` and `HEAD`) and cover images, scaled on request and cached
//! on disk by blob hash and size.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde::Deserialize;

use super::auth::AuthUser;
use super::{Path, ApiError, ApiResult, AppState, Query, blocking, parse_id};
use crate::catalog::CoverRef;
use crate::domain::{ContentHash, Part};
use crate::store::open_parts_range;
use crate::media::cover;

const CHUNK: usize = 64 * 1024;

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

pub(super) fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

pub(super) fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}

/// Streams `range` of a stored file (its parts, in order) from the blocking pool.
fn stream_parts(state: &AppState, parts: Vec<Part>, start: u64, end_excl: u64) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || {
        let mut reader = match open_parts_range(store.as_ref(), &parts, start..end_excl) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                return;
            }
        };
        let mut buf = vec![0u8; CHUNK];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx.blocking_send(Ok(Bytes::copy_from_slice(&buf[..n]))).is_err() {
                        break; // client went away
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            }
        }
    });
    Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }))
}

fn mime_for(container: &str, codec: &str) -> &'static str {
    match (container, codec) {
        ("flac", _) => "audio/flac",
        ("mp3", _) => "audio/mpeg",
        ("mp4", _) => "audio/mp4",
        ("ogg", "opus") => "audio/ogg; codecs=opus",
        ("ogg", _) => "audio/ogg",
        ("wav", _) => "audio/wav",
        _ => "application/octet-stream",
    }
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
pub async fn original(State(s): State<AppState>, AuthUser(u): AuthUser, Path(id): Path<String>, headers: HeaderMap) -> ApiResult<Response> {
    let id = parse_id(&id, "track")?;
    let catalog = s.catalog.clone();
    let t = blocking(move || Ok(catalog.track(u.id, id)?)).await?.ok_or_else(|| ApiError::not_found("track"))?;
    serve_original(&s, &t, &headers)
}

/// The original file with `Range`, `If-Range` and `If-None-Match` support.
pub(super) fn serve_original(s: &AppState, t: &crate::catalog::Track, headers: &HeaderMap) -> ApiResult<Response> {
    let len = t.size;
    let etag = format!("\"{}\"", t.hash.to_hex());
    let mut b = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_TYPE, mime_for(&t.container, &t.codec))
        .header(header::CACHE_CONTROL, "private, max-age=31536000, immutable")
        .header(header::VARY, "authorization")
        .header(header::CONTENT_DISPOSITION, content_disposition(&t.file_name));
    if header_str(headers, header::IF_NONE_MATCH).is_some_and(|l| etag_matches(l, &etag)) {
        return b.status(StatusCode::NOT_MODIFIED).body(Body::empty()).map_err(|e| ApiError::Internal(e.to_string()));
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
    b = b.header(header::CONTENT_LENGTH, end - start);
    let body = if start == end { Body::empty() } else { stream_parts(s, t.parts.clone(), start, end) };
    b.status(status).body(body).map_err(|e| ApiError::Internal(e.to_string()))
}

#[derive(Deserialize)]
pub struct CoverQuery {
    size: Option<u32>,
}

pub async fn track_cover(State(s): State<AppState>, AuthUser(u): AuthUser, Path(id): Path<String>, Query(q): Query<CoverQuery>, headers: HeaderMap) -> ApiResult<Response> {
    let id = parse_id(&id, "track")?;
    let catalog = s.catalog.clone();
    let c = blocking(move || Ok(catalog.track_cover(u.id, id)?)).await?.ok_or_else(|| ApiError::not_found("cover"))?;
    serve_cover(&s, c, q.size, &headers).await
}

pub async fn album_cover(State(s): State<AppState>, AuthUser(u): AuthUser, Path(id): Path<String>, Query(q): Query<CoverQuery>, headers: HeaderMap) -> ApiResult<Response> {
    let id = parse_id(&id, "album")?;
    let catalog = s.catalog.clone();
    let c = blocking(move || Ok(catalog.album_cover(u.id, id)?)).await?.ok_or_else(|| ApiError::not_found("cover"))?;
    serve_cover(&s, c, q.size, &headers).await
}

async fn serve_cover(s: &AppState, c: CoverRef, size: Option<u32>, headers: &HeaderMap) -> ApiResult<Response> {
    let size = size.map(|n| cover::snap(n, s.cover_max_size));
    let etag = match size {
        Some(n) => format!("\"{}-{n}\"", c.hash.to_hex()),
        None => format!("\"{}\"", c.hash.to_hex()),
    };
    let base = Response::builder().header(header::ETAG, &etag).header(header::CACHE_CONTROL, "private, max-age=86400");
    if header_str(headers, header::IF_NONE_MATCH).is_some_and(|l| etag_matches(l, &etag)) {
        return base.status(StatusCode::NOT_MODIFIED).body(Body::empty()).map_err(|e| ApiError::Internal(e.to_string()));
    }
    let (bytes, mime) = match size {
        None => {
            let (store, hash) = (s.store.clone(), c.hash);
            (blocking(move || read_blob(store.as_ref(), &hash)).await?, c.mime)
        }
        Some(n) => (scaled_cover(s, c.hash, n).await?, "image/jpeg".to_string()),
    };
    base.header(header::CONTENT_TYPE, HeaderValue::from_str(&mime).unwrap_or(HeaderValue::from_static("application/octet-stream")))
        .header(header::CONTENT_LENGTH, bytes.len())
        .body(Body::from(bytes))
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// Cover scaling: one decode per image however many sizes and requests arrive at once
/// (single flight per image, every served edge written from that decode), at most
/// `slots` decodes at a time, and at most [`COVER_QUEUE`] requests waiting for one (more
/// get 429 `busy`).
#[derive(Default)]
pub struct CoverWork {
    inflight: dashmap::DashMap<ContentHash, Arc<tokio::sync::Mutex<()>>>,
    slots: std::sync::OnceLock<tokio::sync::Semaphore>,
    waiting: std::sync::atomic::AtomicUsize,
}

/// Requests that may wait for a decode slot.
const COVER_QUEUE: usize = 32;

impl CoverWork {
    fn slots(&self) -> &tokio::sync::Semaphore {
        self.slots.get_or_init(|| tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())))
    }
}

/// A whole (cover) blob in memory. Blocking.
fn read_blob(store: &dyn crate::store::BlobStore, hash: &ContentHash) -> ApiResult<Vec<u8>> {
    let mut out = Vec::new();
    store.open(hash)?.read_to_end(&mut out).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(out)
}

fn cover_file(dir: &std::path::Path, hash: &ContentHash, edge: u32) -> PathBuf {
    dir.join(format!("{}-{edge}.jpg", hash.to_hex()))
}

async fn scaled_cover(s: &AppState, hash: ContentHash, edge: u32) -> ApiResult<Vec<u8>> {
    use std::sync::atomic::Ordering::Relaxed;
    let dir = s.cover_cache.clone();
    let read_cached = |dir: PathBuf| blocking(move || Ok(std::fs::read(cover_file(&dir, &hash, edge)).ok()));
    if let Some(b) = read_cached(dir.clone()).await? {
        return Ok(b);
    }
    let work = &s.cover_work;
    if work.waiting.fetch_add(1, Relaxed) >= COVER_QUEUE {
        work.waiting.fetch_sub(1, Relaxed);
        return Err(ApiError::Busy(1));
    }
    let flight = work.inflight.entry(hash).or_default().clone();
    let result = async {
        let _one = flight.lock().await;
        // Whoever held the lock before may have written it.
        if let Some(b) = read_cached(dir.clone()).await? {
            return Ok(b);
        }
        let _slot = work.slots().acquire().await.map_err(|e| ApiError::Internal(e.to_string()))?;
        let (store, max) = (s.store.clone(), s.cover_max_size);
        blocking(move || {
            let original = read_blob(store.as_ref(), &hash)?;
            let mut edges: Vec<u32> = cover::EDGES.iter().copied().filter(|&e| e <= max).collect();
            if !edges.contains(&max) {
                edges.push(max);
            }
            let mut wanted = None;
            for (e, jpeg) in cover::scale_to_jpegs(&original, &edges)? {
                write_atomic(&cover_file(&dir, &hash, e), &jpeg);
                if e == edge {
                    wanted = Some(jpeg);
                }
            }
            wanted.ok_or_else(|| ApiError::Internal(format!("cover edge {edge} was not produced")))
        })
        .await
    }
    .await;
    work.waiting.fetch_sub(1, Relaxed);
    work.inflight.remove_if(&hash, |_, f| Arc::strong_count(f) <= 2);
    result
}

/// Best effort: a cache write that fails only costs a re-scale next time.
fn write_atomic(path: &std::path::Path, bytes: &[u8]) {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::write(&tmp, bytes).is_ok() && std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
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
