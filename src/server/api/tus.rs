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

use super::auth::AuthUser;
use super::dto::TrackDto;
use super::files::header_str;
use crate::ingest::resumable::{Outcome, UploadInfo};
use crate::server::{ApiError, ApiResult, Path, blocking};
use crate::service::uploads::{Checksum, discard};
use crate::service::{Library, Uploads};

pub const VERSION: &str = "1.0.0";
const EXTENSIONS: &str = "creation,creation-with-upload,termination,checksum,expiration";
const OFFSET_TYPE: &str = "application/offset+octet-stream";

fn tus_headers(max_bytes: u64, h: &mut HeaderMap) {
    h.insert("tus-resumable", HeaderValue::from_static(VERSION));
    h.insert("tus-version", HeaderValue::from_static(VERSION));
    h.insert("tus-extension", HeaderValue::from_static(EXTENSIONS));
    h.insert("tus-checksum-algorithm", HeaderValue::from_static("sha1,sha256"));
    h.insert("tus-max-size", HeaderValue::from(max_bytes));
}

/// Every answer under `/uploads` (errors included) says which protocol version it speaks.
pub async fn add_resumable_header(mut resp: Response) -> Response {
    resp.headers_mut().insert("tus-resumable", HeaderValue::from_static(VERSION));
    resp
}

/// `OPTIONS /api/v1/uploads[/{id}]`: what this server supports (no authentication needed).
/// The CORS layer answers every `OPTIONS`; this wraps it (on the tus routes only) and adds
/// the tus headers.
pub async fn options(State(uploads): State<Uploads>, req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let tus = req.method() == axum::http::Method::OPTIONS && req.uri().path().starts_with("/api/v1/uploads");
    let mut resp = next.run(req).await;
    if tus {
        tus_headers(uploads.max_bytes(), resp.headers_mut());
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
            return crate::service::uploads::clean_name(&name)
                .ok_or_else(|| ApiError::bad_request("bad_filename", "the file name in Upload-Metadata is empty or not a name"));
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

/// `Upload-Checksum: <algorithm> <base64 digest>`, if sent.
fn checksum(h: &HeaderMap) -> ApiResult<Option<Checksum>> {
    let Some(v) = header_str(h, header::HeaderName::from_static("upload-checksum")) else { return Ok(None) };
    let (alg, b64) = v.trim().split_once(' ').ok_or_else(|| ApiError::bad_request("bad_checksum", "Upload-Checksum is `<algorithm> <base64 digest>`"))?;
    let want = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| ApiError::bad_request("bad_checksum", "the Upload-Checksum digest is not base64"))?;
    Ok(Some(Checksum::new(alg, want)?))
}

/// `POST /api/v1/uploads`: creates an upload (`Upload-Length`, `Upload-Metadata` with the
/// file name); with an `application/offset+octet-stream` body, also takes its first bytes.
pub async fn create(State(uploads): State<Uploads>, AuthUser(u): AuthUser, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    let parsed = (|| {
        require_version(&headers)?;
        if header_str(&headers, header::HeaderName::from_static("upload-defer-length")).is_some() {
            return Err(ApiError::bad_request("unsupported", "Upload-Defer-Length is not supported: give Upload-Length"));
        }
        let length = number(&headers, "upload-length")?.ok_or_else(|| ApiError::bad_request("missing_length", "Upload-Length is required"))?;
        uploads.check_length(length)?;
        let metadata = header_str(&headers, header::HeaderName::from_static("upload-metadata")).unwrap_or("").to_string();
        let name = file_name(&metadata)?;
        let with_body = header_str(&headers, header::CONTENT_TYPE).is_some_and(|t| t.starts_with(OFFSET_TYPE));
        let sum = if with_body || length == 0 { checksum(&headers)? } else { None };
        Ok((length, metadata, name, with_body, sum))
    })();
    let created = match parsed {
        Ok((length, metadata, name, with_body, sum)) => {
            let (up, user) = (uploads.clone(), u.clone());
            blocking(move || up.create(&user, length, &name, &metadata)).await.map(|info| (info, with_body, sum))
        }
        Err(e) => Err(e),
    };
    let (info, with_body, sum) = match created {
        Ok(c) => c,
        Err(e) => {
            discard(body.into_data_stream()).await;
            return Err(e);
        }
    };
    let location = format!("/api/v1/uploads/{}", info.id);
    let (offset, track) = if with_body || info.length == 0 {
        let (_, offset, track) = uploads.append(&u, &info.id, 0, sum, body.into_data_stream()).await?;
        (offset, track)
    } else {
        (0, None)
    };
    let mut resp = progress(StatusCode::CREATED, offset, &info, track);
    resp.headers_mut().insert(header::LOCATION, HeaderValue::from_str(&location).map_err(|e| ApiError::Internal(e.to_string()))?);
    Ok(resp)
}

/// An answer carrying the upload's offset and expiry, and the track once it is finished.
fn progress(status: StatusCode, offset: u64, info: &UploadInfo, track: Option<crate::domain::TrackId>) -> Response {
    let mut resp = status.into_response();
    let h = resp.headers_mut();
    h.insert("upload-offset", HeaderValue::from(offset));
    if let Ok(v) = HeaderValue::from_str(&expires(info)) {
        h.insert("upload-expires", v);
    }
    if let Some(id) = track {
        h.insert("tonearm-track-id", HeaderValue::from(id.0));
    }
    resp
}

/// `HEAD /api/v1/uploads/{id}`: the offset to resume from.
pub async fn head(State(uploads): State<Uploads>, AuthUser(u): AuthUser, Path(id): Path<String>) -> ApiResult<Response> {
    let r = blocking(move || uploads.status(&u, &id)).await?;
    let mut resp = StatusCode::OK.into_response();
    let h = resp.headers_mut();
    h.insert("upload-offset", HeaderValue::from(r.offset));
    h.insert("upload-length", HeaderValue::from(r.info.length));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&r.info.metadata) {
        h.insert("upload-metadata", v);
    }
    if let Ok(v) = HeaderValue::from_str(&expires(&r.info)) {
        h.insert("upload-expires", v);
    }
    Ok(resp)
}

/// `GET /api/v1/uploads/{id}`: progress and outcome as JSON (not part of tus).
pub async fn status(State(uploads): State<Uploads>, State(lib): State<Library>, AuthUser(u): AuthUser, Path(id): Path<String>) -> ApiResult<Response> {
    let uid = u.id;
    let r = blocking(move || uploads.status(&u, &id)).await?;
    let mut body = json!({
        "id": r.info.id, "filename": r.info.file_name, "offset": r.offset, "length": r.info.length,
        "expires_at": r.info.expires_at, "state": "uploading",
    });
    match r.outcome {
        Some(Outcome::Track { id, .. }) => {
            let track = blocking(move || match lib.track(uid, id) {
                Ok(t) => Ok(Some(t)),
                Err(crate::service::library::LibraryError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            })
            .await?;
            body["state"] = json!("done");
            body["track"] = json!(track.as_ref().map(TrackDto::from));
        }
        Some(Outcome::Rejected(r)) => {
            let e = ApiError::from(crate::service::uploads::UploadError::Rejected(r));
            let (status, code, message) = e.parts();
            body["state"] = json!("rejected");
            body["error"] = json!({ "status": status.as_u16(), "code": code, "message": message });
        }
        None => {}
    }
    let mut resp = axum::Json(body).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `PATCH /api/v1/uploads/{id}`: appends bytes at `Upload-Offset`.
pub async fn patch(State(uploads): State<Uploads>, AuthUser(u): AuthUser, Path(id): Path<String>, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    let checked = (|| {
        require_version(&headers)?;
        if !header_str(&headers, header::CONTENT_TYPE).is_some_and(|t| t.starts_with(OFFSET_TYPE)) {
            return Err(ApiError::Status(StatusCode::UNSUPPORTED_MEDIA_TYPE, "bad_content_type", format!("PATCH bodies must be {OFFSET_TYPE}")));
        }
        number(&headers, "upload-offset")?.ok_or_else(|| ApiError::bad_request("missing_offset", "Upload-Offset is required"))
    })();
    // Then the upload itself (404, 410), then its checksum header, as tus clients expect.
    let checked = match checked {
        Ok(offset) => {
            let (up, uid, id) = (uploads.clone(), u.id, id.clone());
            blocking(move || up.get(uid, &id)).await.and_then(|_| Ok((offset, checksum(&headers)?)))
        }
        Err(e) => Err(e),
    };
    let (offset, sum) = match checked {
        Ok(v) => v,
        Err(e) => {
            discard(body.into_data_stream()).await;
            return Err(e);
        }
    };
    let (info, offset, track) = uploads.append(&u, &id, offset, sum, body.into_data_stream()).await?;
    Ok(progress(StatusCode::NO_CONTENT, offset, &info, track))
}

/// `DELETE /api/v1/uploads/{id}`: terminates the upload.
pub async fn terminate(State(uploads): State<Uploads>, AuthUser(u): AuthUser, Path(id): Path<String>, headers: HeaderMap) -> ApiResult<StatusCode> {
    require_version(&headers)?;
    blocking(move || uploads.terminate(&u, &id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
