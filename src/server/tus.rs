//! Resumable uploads: the tus 1.0.0 protocol (https://tus.io/protocols/resumable-upload) at
//! `/api/v1/uploads`, with the creation, creation-with-upload, termination, checksum (sha1,
//! sha256) and expiration extensions. Existing tus clients work unchanged; they only need the
//! `Authorization` header.
//!
//! State lives on disk ([`crate::ingest::resumable`]), so an upload interrupted by a crash
//! or restart resumes from the offset that reached the disk. When the last byte arrives the
//! file goes through the same ingest as every upload; the final `PATCH` answers `204` with
//! `Tonearm-Track-Id` (or the precise 4xx, e.g. 422 `not_audio`), and `GET` on the upload
//! URL tells the outcome later. One `PATCH` at a time per upload (`423` otherwise).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;
use sha1::Digest;

use super::auth::AuthUser;
use super::dto::TrackDto;
use super::files::header_str;
use super::upload::{ChunkHash, DRAIN_MAX, InFlight, Sink, clean_name, drain, ingest_file, write_body};
use super::{Path, ApiError, ApiResult, AppState, blocking};
use crate::catalog::User;
use crate::ingest::resumable::{Outcome, ResumableError, UploadInfo};

pub const VERSION: &str = "1.0.0";
const EXTENSIONS: &str = "creation,creation-with-upload,termination,checksum,expiration";
const OFFSET_TYPE: &str = "application/offset+octet-stream";

fn tus_headers(s: &AppState, h: &mut HeaderMap) {
    h.insert("tus-resumable", HeaderValue::from_static(VERSION));
    h.insert("tus-version", HeaderValue::from_static(VERSION));
    h.insert("tus-extension", HeaderValue::from_static(EXTENSIONS));
    h.insert("tus-checksum-algorithm", HeaderValue::from_static("sha1,sha256"));
    h.insert("tus-max-size", HeaderValue::from(s.max_upload_bytes));
}

/// Every answer under `/uploads` (errors included) says which protocol version it speaks.
pub async fn add_resumable_header(mut resp: Response) -> Response {
    resp.headers_mut().insert("tus-resumable", HeaderValue::from_static(VERSION));
    resp
}

/// `OPTIONS /api/v1/uploads[/{id}]`: what this server supports (no authentication needed).
/// The CORS layer answers every `OPTIONS`; this wraps it (on the tus routes only) and adds
/// the tus headers.
pub async fn options(State(s): State<AppState>, req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let tus = req.method() == axum::http::Method::OPTIONS && req.uri().path().starts_with("/api/v1/uploads");
    let mut resp = next.run(req).await;
    if tus {
        tus_headers(&s, resp.headers_mut());
        if resp.status() == StatusCode::OK {
            *resp.status_mut() = StatusCode::NO_CONTENT;
        }
    }
    resp
}

fn require_version(h: &HeaderMap) -> ApiResult<()> {
    match header_str(h, header::HeaderName::from_static("tus-resumable")) {
        Some(VERSION) => Ok(()),
        Some(other) => Err(ApiError::Status(
            StatusCode::PRECONDITION_FAILED,
            "unsupported_version",
            format!("Tus-Resumable {other} is not supported; this server speaks {VERSION}"),
        )),
        None => Err(ApiError::Status(StatusCode::PRECONDITION_FAILED, "unsupported_version", format!("send Tus-Resumable: {VERSION}"))),
    }
}

/// `Upload-Metadata`: comma-separated `key base64value` pairs; returns the file name.
fn file_name(metadata: &str) -> ApiResult<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    for pair in metadata.split(',') {
        let mut it = pair.trim().splitn(2, ' ');
        let key = it.next().unwrap_or("");
        if key == "filename" || key == "name" {
            let raw = b64.decode(it.next().unwrap_or("").trim()).map_err(|_| bad_metadata())?;
            let name = String::from_utf8(raw).map_err(|_| bad_metadata())?;
            return clean_name(&name).ok_or_else(|| ApiError::bad_request("bad_filename", "the file name in Upload-Metadata is empty or not a name"));
        }
    }
    Err(ApiError::bad_request("bad_filename", "give the file's name in Upload-Metadata as `filename <base64>`"))
}

fn bad_metadata() -> ApiError {
    ApiError::bad_request("bad_metadata", "Upload-Metadata values must be base64 (RFC 4648) of UTF-8 text")
}

fn number(h: &HeaderMap, name: &'static str) -> ApiResult<Option<u64>> {
    match header_str(h, header::HeaderName::from_static(name)) {
        None => Ok(None),
        Some(v) => v.trim().parse::<u64>().map(Some).map_err(|_| ApiError::bad_request("bad_header", format!("{name} must be a non-negative integer"))),
    }
}

fn expires(info: &UploadInfo) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(info.expires_at.max(0) as u64);
    httpdate::fmt_http_date(t)
}

fn upload_error(e: ResumableError) -> ApiError {
    match e {
        ResumableError::NotFound => ApiError::not_found("upload"),
        ResumableError::Expired => ApiError::Status(StatusCode::GONE, "upload_expired", "this upload expired; start a new one".into()),
        ResumableError::Io { .. } => ApiError::Internal(e.to_string()),
    }
}

async fn load(s: &AppState, user: i64, id: &str) -> ApiResult<(UploadInfo, u64)> {
    let (uploads, id) = (s.uploads.clone(), id.to_string());
    blocking(move || uploads.get(user, &id).map_err(upload_error)).await
}

/// `POST /api/v1/uploads`: creates an upload (`Upload-Length`, `Upload-Metadata` with the
/// file name); with an `application/offset+octet-stream` body, also takes its first bytes.
/// Validates a creation request and creates the upload.
async fn start(s: &AppState, u: &User, headers: &HeaderMap) -> ApiResult<UploadInfo> {
    require_version(headers)?;
    if header_str(headers, header::HeaderName::from_static("upload-defer-length")).is_some() {
        return Err(ApiError::bad_request("unsupported", "Upload-Defer-Length is not supported: give Upload-Length"));
    }
    let length = number(headers, "upload-length")?.ok_or_else(|| ApiError::bad_request("missing_length", "Upload-Length is required"))?;
    if length > s.max_upload_bytes {
        return Err(ApiError::TooLarge(s.max_upload_bytes));
    }
    let metadata = header_str(headers, header::HeaderName::from_static("upload-metadata")).unwrap_or("").to_string();
    let name = file_name(&metadata)?;
    let (uploads, uid, max_open) = (s.uploads.clone(), u.id, s.upload_limits.max_unfinished_per_user);
    let (open, reserved) = blocking(move || Ok(uploads.unfinished(uid))).await?;
    if open >= max_open {
        return Err(ApiError::TooMany("too_many_uploads", format!("at most {max_open} unfinished uploads per user; finish or delete one")));
    }
    super::upload::check_quota(s, u, reserved + length).await?;
    let ttl = (s.upload_limits.expiry_hours * 3600) as i64;
    let uploads = s.uploads.clone();
    blocking(move || uploads.create(uid, length, &name, &metadata, ttl).map_err(upload_error)).await
}

pub async fn create(State(s): State<AppState>, AuthUser(u): AuthUser, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    let info = match start(&s, &u, &headers).await {
        Ok(info) => info,
        Err(e) => {
            drain(body, DRAIN_MAX).await;
            return Err(e);
        }
    };
    let location = format!("/api/v1/uploads/{}", info.id);
    let with_body = header_str(&headers, header::CONTENT_TYPE).is_some_and(|t| t.starts_with(OFFSET_TYPE));
    let (offset, track) = if with_body || info.length == 0 {
        append(&s, &u, &info, 0, &headers, body).await?
    } else {
        (0, None)
    };
    let mut resp = progress(StatusCode::CREATED, offset, &info, track);
    resp.headers_mut().insert(header::LOCATION, HeaderValue::from_str(&location).map_err(|e| ApiError::Internal(e.to_string()))?);
    Ok(resp)
}

/// An answer carrying the upload's offset and expiry, and the track once it is finished.
fn progress(status: StatusCode, offset: u64, info: &UploadInfo, track: Option<i64>) -> Response {
    let mut resp = status.into_response();
    let h = resp.headers_mut();
    h.insert("upload-offset", HeaderValue::from(offset));
    if let Ok(v) = HeaderValue::from_str(&expires(info)) {
        h.insert("upload-expires", v);
    }
    if let Some(id) = track {
        h.insert("tonearm-track-id", HeaderValue::from(id));
    }
    resp
}

/// `HEAD /api/v1/uploads/{id}`: the offset to resume from.
pub async fn head(State(s): State<AppState>, AuthUser(u): AuthUser, Path(id): Path<String>) -> ApiResult<Response> {
    let (info, offset) = load(&s, u.id, &id).await?;
    settle(&s, &u, &info, offset).await?;
    let mut resp = StatusCode::OK.into_response();
    let h = resp.headers_mut();
    h.insert("upload-offset", HeaderValue::from(offset));
    h.insert("upload-length", HeaderValue::from(info.length));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&info.metadata) {
        h.insert("upload-metadata", v);
    }
    if let Ok(v) = HeaderValue::from_str(&expires(&info)) {
        h.insert("upload-expires", v);
    }
    Ok(resp)
}

/// `GET /api/v1/uploads/{id}`: progress and outcome as JSON (not part of tus).
pub async fn status(State(s): State<AppState>, AuthUser(u): AuthUser, Path(id): Path<String>) -> ApiResult<Response> {
    let (info, offset) = load(&s, u.id, &id).await?;
    let outcome = settle(&s, &u, &info, offset).await?;
    let mut body = json!({
        "id": info.id, "filename": info.file_name, "offset": offset, "length": info.length,
        "expires_at": info.expires_at, "state": "uploading",
    });
    match outcome {
        Some(Outcome::Track { id, .. }) => {
            let catalog = s.catalog.clone();
            let uid = u.id;
            let track = blocking(move || Ok(catalog.track(uid, id)?)).await?;
            body["state"] = json!("done");
            body["track"] = json!(track.as_ref().map(TrackDto::from));
        }
        Some(Outcome::Rejected { status, code, message }) => {
            body["state"] = json!("rejected");
            body["error"] = json!({ "status": status, "code": code, "message": message });
        }
        None => {}
    }
    let mut resp = axum::Json(body).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `PATCH /api/v1/uploads/{id}`: appends bytes at `Upload-Offset`.
pub async fn patch(State(s): State<AppState>, AuthUser(u): AuthUser, Path(id): Path<String>, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    let checked = async {
        require_version(&headers)?;
        if !header_str(&headers, header::CONTENT_TYPE).is_some_and(|t| t.starts_with(OFFSET_TYPE)) {
            return Err(ApiError::Status(StatusCode::UNSUPPORTED_MEDIA_TYPE, "bad_content_type", format!("PATCH bodies must be {OFFSET_TYPE}")));
        }
        let offset = number(&headers, "upload-offset")?.ok_or_else(|| ApiError::bad_request("missing_offset", "Upload-Offset is required"))?;
        Ok((offset, load(&s, u.id, &id).await?.0))
    };
    let (offset, info) = match checked.await {
        Ok(v) => v,
        Err(e) => {
            drain(body, DRAIN_MAX).await;
            return Err(e);
        }
    };
    let (offset, track) = append(&s, &u, &info, offset, &headers, body).await?;
    Ok(progress(StatusCode::NO_CONTENT, offset, &info, track))
}

/// `DELETE /api/v1/uploads/{id}`: terminates the upload.
pub async fn terminate(State(s): State<AppState>, AuthUser(u): AuthUser, Path(id): Path<String>, headers: HeaderMap) -> ApiResult<StatusCode> {
    require_version(&headers)?;
    load(&s, u.id, &id).await?;
    let _lock = Lock::take(&s, &id)?;
    let uploads = s.uploads.clone();
    blocking(move || uploads.remove(&id).map_err(upload_error)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One writer per upload.
struct Lock<'a> {
    s: &'a AppState,
    id: String,
}

impl<'a> Lock<'a> {
    fn take(s: &'a AppState, id: &str) -> ApiResult<Lock<'a>> {
        if s.tus_locks.insert(id.to_string(), ()).is_some() {
            return Err(ApiError::Status(StatusCode::LOCKED, "upload_busy", "another request is writing to this upload; retry shortly".into()));
        }
        Ok(Lock { s, id: id.to_string() })
    }
}

impl Drop for Lock<'_> {
    fn drop(&mut self) {
        self.s.tus_locks.remove(&self.id);
    }
}

enum Checksum {
    Sha1(sha1::Sha1, Vec<u8>),
    Sha256(sha2::Sha256, Vec<u8>),
}

impl ChunkHash for Option<Checksum> {
    fn update(&mut self, b: &[u8]) {
        if let Some(c) = self {
            c.update(b);
        }
    }
}

impl Checksum {
    fn parse(h: &HeaderMap) -> ApiResult<Option<Checksum>> {
        let Some(v) = header_str(h, header::HeaderName::from_static("upload-checksum")) else { return Ok(None) };
        let (alg, b64) = v.trim().split_once(' ').ok_or_else(|| ApiError::bad_request("bad_checksum", "Upload-Checksum is `<algorithm> <base64 digest>`"))?;
        let want = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| ApiError::bad_request("bad_checksum", "the Upload-Checksum digest is not base64"))?;
        match alg {
            "sha1" => Ok(Some(Checksum::Sha1(sha1::Sha1::new(), want))),
            "sha256" => Ok(Some(Checksum::Sha256(sha2::Sha256::new(), want))),
            other => Err(ApiError::bad_request("unsupported_checksum", format!("checksum algorithm {other} is not supported (sha1, sha256)"))),
        }
    }

    fn update(&mut self, b: &[u8]) {
        match self {
            Checksum::Sha1(h, _) => h.update(b),
            Checksum::Sha256(h, _) => h.update(b),
        }
    }

    fn matches(self) -> bool {
        match self {
            Checksum::Sha1(h, want) => h.finalize().as_slice() == want.as_slice(),
            Checksum::Sha256(h, want) => h.finalize().as_slice() == want.as_slice(),
        }
    }
}

/// Writes a body at `offset` (which must be the current one), verifies its checksum, and
/// ingests the file when it is complete. Returns the new offset and the track, if finished.
async fn append(s: &AppState, u: &User, info: &UploadInfo, offset: u64, headers: &HeaderMap, body: Body) -> ApiResult<(u64, Option<i64>)> {
    let ready = async {
        let checksum = Checksum::parse(headers)?;
        let lock = Lock::take(s, &info.id)?;
        let in_flight = InFlight::begin(s, u.id)?;
        // Re-read under the lock: the offset another request left is the one that counts.
        let (_, current) = load(s, u.id, &info.id).await?;
        if offset != current {
            return Err(ApiError::Status(StatusCode::CONFLICT, "offset_mismatch", format!("Upload-Offset is {current}, not {offset}")));
        }
        Ok((checksum, lock, in_flight, current))
    };
    let (checksum, _lock, _in_flight, current) = match ready.await {
        Ok(r) => r,
        Err(e) => {
            drain(body, DRAIN_MAX).await;
            return Err(e);
        }
    };
    if current < info.length {
        let path = s.uploads.data_path(&info.id).ok_or_else(|| ApiError::not_found("upload"))?;
        if checksum.is_some() {
            let (uploads, id) = (s.uploads.clone(), info.id.clone());
            blocking(move || uploads.begin_chunk(&id, current).map_err(upload_error)).await?;
        }
        let sink = Sink { path: path.clone(), append: true };
        let (written, result, checksum) = write_body(body, sink, info.length - current, s.max_upload_bytes, checksum).await;
        // The offset a PATCH reports must survive a power cut; the last one need not sync:
        // ingest makes the file durable in the store at once (and its copy here then goes).
        if current + written < info.length {
            blocking(move || {
                std::fs::File::open(&path).and_then(|f| f.sync_data()).map_err(|e| ApiError::Internal(format!("syncing upload: {e}")))
            })
            .await?;
        }
        let ok = result.is_ok() && checksum.flatten().is_none_or(Checksum::matches);
        if headers.contains_key("upload-checksum") {
            let (uploads, id) = (s.uploads.clone(), info.id.clone());
            blocking(move || uploads.end_chunk(&id, current, ok).map_err(upload_error)).await?;
            if result.is_ok() && !ok {
                return Err(ApiError::Status(
                    StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST),
                    "checksum_mismatch",
                    "the chunk does not match Upload-Checksum; it was discarded, resend it".into(),
                ));
            }
        }
        result?;
        if current + written < info.length {
            return Ok((current + written, None));
        }
    }
    let (status, track) = finish(s, u, info).await?;
    let _ = status;
    Ok((info.length, Some(track)))
}

/// What became of an upload, if it is finished (read off the executor).
async fn outcome_of(s: &AppState, id: &str) -> ApiResult<Option<Outcome>> {
    let (uploads, id) = (s.uploads.clone(), id.to_string());
    blocking(move || Ok(uploads.outcome(&id))).await
}

/// The outcome of an upload, ingesting it first when every byte arrived but the server
/// stopped before ingesting (the client, seeing a complete upload, would otherwise never
/// get its track). A request holding the upload is finishing it already: left to it.
async fn settle(s: &AppState, u: &User, info: &UploadInfo, offset: u64) -> ApiResult<Option<Outcome>> {
    let outcome = outcome_of(s, &info.id).await?;
    if outcome.is_some() || offset < info.length {
        return Ok(outcome);
    }
    if let Ok(_lock) = Lock::take(s, &info.id) {
        let _ = finish(s, u, info).await;
    }
    outcome_of(s, &info.id).await
}

/// Ingests a complete upload once, recording the outcome; returns the track or the error.
/// The caller holds the upload's [`Lock`].
async fn finish(s: &AppState, u: &User, info: &UploadInfo) -> ApiResult<(StatusCode, i64)> {
    match outcome_of(s, &info.id).await? {
        Some(Outcome::Track { id, created }) => return Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, id)),
        Some(Outcome::Rejected { status, code, message }) => {
            return Err(ApiError::Recorded(StatusCode::from_u16(status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY), code, message));
        }
        None => {}
    }
    let path = s.uploads.data_path(&info.id).ok_or_else(|| ApiError::not_found("upload"))?;
    if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
        // Ingested, but the record of it was lost (a power cut before it reached the disk).
        return Err(ApiError::Status(StatusCode::GONE, "outcome_lost", "this upload was processed but its outcome was lost; look for the track in your library".into()));
    }
    let result = ingest_file(s, u, path, info.file_name.clone()).await;
    let outcome = match &result {
        Ok((status, t)) => Outcome::Track { id: t.id, created: *status == StatusCode::CREATED },
        Err(e) if e.status().is_client_error() => {
            let (status, code, message) = e.parts();
            Outcome::Rejected { status: status.as_u16(), code: code.to_string(), message }
        }
        // A server-side failure is not the file's fault: keep the bytes for a retry.
        Err(_) => return result.map(|(st, t)| (st, t.id)),
    };
    let (uploads, id) = (s.uploads.clone(), info.id.clone());
    blocking(move || uploads.finish(&id, &outcome).map_err(upload_error)).await?;
    result.map(|(st, t)| (st, t.id))
}
