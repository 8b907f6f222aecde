//! The one place where errors become HTTP statuses and JSON bodies:
//! `{"error": {"code": "...", "message": "..."}}`. 5xx bodies say nothing internal; the
//! details go to the log. Every service error is mapped variant by variant (no catch-all
//! arm), so a new variant does not compile until it has its status.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::cache::StreamError;
use crate::catalog::CatalogError;
use crate::ingest::IngestError;
use crate::ingest::resumable::{Rejection, ResumableError};
use crate::media::cover::CoverError;
use crate::service::accounts::AccountError;
use crate::service::lan::LanError;
use crate::service::library::LibraryError;
use crate::service::playback::PlaybackError;
use crate::service::uploads::UploadError;
use crate::signing::SignError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(&'static str, String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{1}")]
    BadRequest(&'static str, String),
    #[error("{0}")]
    Conflict(String),
    #[error("{1}")]
    Unprocessable(&'static str, String),
    #[error("range not satisfiable")]
    RangeNotSatisfiable(u64),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{1}")]
    Forbidden(&'static str, String),
    #[error("the server is busy transcoding; retry in {0} s")]
    Busy(u32),
    #[error("too many failed sign-ins; retry in {0} s")]
    TooManyAttempts(u32),
    #[error("the file is larger than the limit of {0} bytes")]
    TooLarge(u64),
    #[error("this upload would exceed your storage quota of {0} bytes")]
    QuotaExceeded(u64),
    /// Too many of something the user started (uploads, challenges).
    #[error("{1}")]
    TooMany(&'static str, String),
    /// A protocol status with no variant of its own (tus: 409, 410, 412, 415, 423, 460).
    #[error("{2}")]
    Status(StatusCode, &'static str, String),
    /// An error recorded earlier and answered again (a finished tus upload's rejection).
    #[error("{2}")]
    Recorded(StatusCode, String, String),
    /// A backing service (the database, the object store) cannot answer now.
    #[error("{0}")]
    Unavailable(String),
    #[error("internal: {0}")]
    Internal(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn not_found(what: impl Into<String>) -> Self {
        ApiError::NotFound(what.into())
    }
    pub fn bad_request(code: &'static str, msg: impl Into<String>) -> Self {
        ApiError::BadRequest(code, msg.into())
    }
}

impl ApiError {
    /// Status, stable code and message: what the response carries.
    pub fn parts(&self) -> (StatusCode, &str, String) {
        match self {
            ApiError::Unauthorized(code, m) => (StatusCode::UNAUTHORIZED, *code, m.clone()),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", self.to_string()),
            ApiError::BadRequest(code, m) => (StatusCode::BAD_REQUEST, *code, m.clone()),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m.clone()),
            ApiError::Unprocessable(code, m) => (StatusCode::UNPROCESSABLE_ENTITY, *code, m.clone()),
            ApiError::RangeNotSatisfiable(_) => (StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable", self.to_string()),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", self.to_string()),
            ApiError::Forbidden(code, m) => (StatusCode::FORBIDDEN, *code, m.clone()),
            ApiError::Busy(_) => (StatusCode::TOO_MANY_REQUESTS, "busy", self.to_string()),
            ApiError::TooManyAttempts(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", self.to_string()),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large", self.to_string()),
            ApiError::QuotaExceeded(_) => (StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded", self.to_string()),
            ApiError::TooMany(code, m) => (StatusCode::TOO_MANY_REQUESTS, *code, m.clone()),
            ApiError::Status(status, code, m) => (*status, *code, m.clone()),
            ApiError::Recorded(status, code, m) => (*status, code.as_str(), m.clone()),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the server cannot reach its storage now; retry shortly".to_string()),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal server error".to_string()),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.parts().0
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(detail) => tracing::error!(error = %detail, "internal error"),
            ApiError::Unavailable(detail) => tracing::warn!(error = %detail, "storage unavailable"),
            _ => {}
        }
        let (status, code, message) = self.parts();
        let mut resp = (status, axum::Json(json!({ "error": { "code": code, "message": message } }))).into_response();
        match &self {
            ApiError::RangeNotSatisfiable(len) => {
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                    resp.headers_mut().insert(header::CONTENT_RANGE, v);
                }
            }
            ApiError::Busy(secs) | ApiError::TooManyAttempts(secs) => {
                resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*secs));
            }
            ApiError::TooMany(..) | ApiError::Unavailable(_) => {
                resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(2));
            }
            ApiError::Unauthorized(..) => {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        resp
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::NotFound(what) => ApiError::NotFound(what),
            CatalogError::Conflict(what) => ApiError::Conflict(format!("{what} already exists")),
            CatalogError::Invalid(m) => ApiError::BadRequest("invalid", m),
            CatalogError::Unavailable(m) => ApiError::Unavailable(m),
            other @ (CatalogError::Backend(_) | CatalogError::Open { .. } | CatalogError::TooNew { .. }) => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::BadCredentials => ApiError::Unauthorized("bad_credentials", e.to_string()),
            AccountError::Disabled => ApiError::Forbidden("account_disabled", e.to_string()),
            AccountError::BadUsername => ApiError::BadRequest("bad_username", e.to_string()),
            AccountError::WeakPassword => ApiError::BadRequest("weak_password", e.to_string()),
            AccountError::Throttled(secs) => ApiError::TooManyAttempts(secs),
            AccountError::NoSuchUser => ApiError::not_found("user"),
            AccountError::LastAdmin(_) => ApiError::Conflict(e.to_string()),
            AccountError::NotAdmin => ApiError::Forbidden("forbidden", e.to_string()),
            AccountError::TokenAuthOff => ApiError::Unauthorized("token_auth_off", e.to_string()),
            AccountError::BadApiKey => ApiError::Unauthorized("bad_api_key", e.to_string()),
            AccountError::BadLabel => ApiError::bad_request("bad_label", e.to_string()),
            AccountError::NoSuchApiKey => ApiError::not_found("API key"),
            AccountError::Hash(m) => ApiError::Internal(m),
            AccountError::Catalog(c) => c.into(),
            AccountError::Ingest(i) => i.into(),
        }
    }
}

impl From<LibraryError> for ApiError {
    fn from(e: LibraryError) -> Self {
        match e {
            LibraryError::NotFound(what) => ApiError::not_found(what),
            LibraryError::BadTag(m) => ApiError::bad_request("bad_tag", m),
            LibraryError::BadPlaylistName => ApiError::bad_request("bad_name", e.to_string()),
            LibraryError::PlaylistTooLong(_) => ApiError::Unprocessable("playlist_too_long", e.to_string()),
            LibraryError::BadTime => ApiError::bad_request("bad_time", e.to_string()),
            LibraryError::SearchTooLong => ApiError::bad_request("bad_query", e.to_string()),
            LibraryError::BadRating => ApiError::bad_request("bad_rating", e.to_string()),
            LibraryError::BadShare => ApiError::bad_request("bad_share", e.to_string()),
            LibraryError::BadComment => ApiError::bad_request("bad_comment", e.to_string()),
            LibraryError::Cover(c) => c.into(),
            LibraryError::Busy(secs) => ApiError::Busy(secs),
            LibraryError::Account(a) => a.into(),
            LibraryError::Catalog(c) => c.into(),
            LibraryError::Ingest(i) => i.into(),
            LibraryError::Store(s) => s.into(),
            LibraryError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<LanError> for ApiError {
    fn from(e: LanError) -> Self {
        match e {
            LanError::NotShared => ApiError::not_found("device"),
            LanError::NoSuchObject => ApiError::not_found("object"),
            LanError::Account(a) => a.into(),
            LanError::Library(l) => l.into(),
            LanError::Playback(p) => p.into(),
        }
    }
}

impl From<PlaybackError> for ApiError {
    fn from(e: PlaybackError) -> Self {
        match e {
            PlaybackError::NoSuchTrack => ApiError::not_found("track"),
            PlaybackError::NoSuchList(what) => ApiError::not_found(what),
            PlaybackError::NoSuchRendition => ApiError::not_found("rendition"),
            PlaybackError::NoSuchSegment(n) => ApiError::not_found(format!("segment {n}")),
            PlaybackError::NoRenditionForCodecs => ApiError::not_found("rendition for these codecs"),
            PlaybackError::BadCodecs(_) => ApiError::bad_request("bad_codecs", e.to_string()),
            PlaybackError::BadFormat(_) => ApiError::bad_request("bad_format", e.to_string()),
            PlaybackError::BadBitrate { .. } => ApiError::bad_request("bad_bitrate", e.to_string()),
            PlaybackError::BadOffset(_) => ApiError::bad_request("bad_offset", e.to_string()),
            PlaybackError::LpcmOffset => ApiError::bad_request("bad_offset", e.to_string()),
            PlaybackError::Unplayable(_) => ApiError::Unprocessable("malformed", e.to_string()),
            PlaybackError::GrantRevoked => ApiError::Forbidden("bad_signature", e.to_string()),
            PlaybackError::AccountDisabled => ApiError::Forbidden("account_disabled", e.to_string()),
            PlaybackError::Sign(s) => s.into(),
            PlaybackError::Stream(s) => s.into(),
            PlaybackError::Account(a) => a.into(),
            PlaybackError::Catalog(c) => c.into(),
            PlaybackError::Store(s) => s.into(),
            PlaybackError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::BadFilename(m) => ApiError::bad_request("bad_filename", m),
            UploadError::TooLarge(max) => ApiError::TooLarge(max),
            UploadError::Quota(q) => ApiError::QuotaExceeded(q),
            UploadError::TooManyBodies(_) | UploadError::TooManyUnfinished(_) => ApiError::TooMany("too_many_uploads", e.to_string()),
            UploadError::TooManyChallenges => ApiError::TooMany("too_many_challenges", e.to_string()),
            UploadError::Interrupted(_) => ApiError::bad_request("upload_interrupted", e.to_string()),
            UploadError::Busy => ApiError::Status(StatusCode::LOCKED, "upload_busy", e.to_string()),
            UploadError::OffsetMismatch { current, given } => {
                ApiError::Status(StatusCode::CONFLICT, "offset_mismatch", format!("Upload-Offset is {current}, not {given}"))
            }
            UploadError::ChecksumMismatch => ApiError::Status(
                StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST),
                "checksum_mismatch",
                "the chunk does not match Upload-Checksum; it was discarded, resend it".into(),
            ),
            UploadError::UnsupportedChecksum(_) => ApiError::bad_request("unsupported_checksum", e.to_string()),
            UploadError::NoSuchUpload => ApiError::not_found("upload"),
            UploadError::Expired => ApiError::Status(StatusCode::GONE, "upload_expired", e.to_string()),
            UploadError::OutcomeLost => ApiError::Status(StatusCode::GONE, "outcome_lost", e.to_string()),
            UploadError::NoSuchChallenge => ApiError::not_found("challenge"),
            UploadError::ChallengeExpired => ApiError::Status(StatusCode::GONE, "challenge_expired", e.to_string()),
            UploadError::ProofFailed => ApiError::Unprocessable("proof_failed", e.to_string()),
            UploadError::BadHash => ApiError::bad_request("bad_hash", e.to_string()),
            UploadError::BadSize => ApiError::bad_request("bad_size", e.to_string()),
            UploadError::Rejected(r) => r.into(),
            UploadError::Ingest(i) => i.into(),
            UploadError::Catalog(c) => c.into(),
            UploadError::Store(s) => s.into(),
            UploadError::State(s) => s.into(),
            UploadError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::Media { code, message } => ApiError::Recorded(StatusCode::UNPROCESSABLE_ENTITY, code, message),
            Rejection::TooLarge { max } => ApiError::TooLarge(max),
            Rejection::Quota { quota } => ApiError::QuotaExceeded(quota),
            Rejection::Deleted => ApiError::Conflict("the track was deleted while this upload finished; upload it again".into()),
            Rejection::Legacy { status, code, message } => {
                ApiError::Recorded(StatusCode::from_u16(status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY), code, message)
            }
        }
    }
}

impl From<ResumableError> for ApiError {
    fn from(e: ResumableError) -> Self {
        match e {
            ResumableError::NotFound => ApiError::not_found("upload"),
            ResumableError::Expired => ApiError::Status(StatusCode::GONE, "upload_expired", "this upload expired; start a new one".into()),
            ResumableError::Moved => ApiError::Status(StatusCode::LOCKED, "upload_busy", e.to_string()),
            ResumableError::Catalog(c) => c.into(),
            ResumableError::Store(s) => s.into(),
            ResumableError::Io { .. } | ResumableError::Incomplete(_) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::BadRange { len, .. } => ApiError::RangeNotSatisfiable(len),
            StoreError::TooLarge(max) => ApiError::TooLarge(max),
            StoreError::Unavailable(m) => ApiError::Unavailable(m),
            StoreError::NotFound(_) | StoreError::Io { .. } | StoreError::Source(_) | StoreError::WrongSize { .. } => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<CoverError> for ApiError {
    fn from(e: CoverError) -> Self {
        ApiError::Unprocessable("bad_cover", e.to_string())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::Internal(format!("worker task failed: {e}"))
    }
}

impl From<StreamError> for ApiError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::Busy(secs) => ApiError::Busy(secs),
            StreamError::NoSuchSegment(k) => ApiError::NotFound(format!("segment {k}")),
            StreamError::Failed(m) => ApiError::Internal(m),
        }
    }
}

impl From<SignError> for ApiError {
    fn from(e: SignError) -> Self {
        match e {
            SignError::Malformed => ApiError::Forbidden("bad_signature", e.to_string()),
            SignError::Mismatch => ApiError::Forbidden("bad_signature", e.to_string()),
            SignError::Expired => ApiError::Forbidden("expired_signature", e.to_string()),
            SignError::Secret { .. } => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::TooLarge(max) | IngestError::Store(StoreError::TooLarge(max)) => ApiError::TooLarge(max),
            IngestError::Probe(p) => ApiError::Unprocessable(p.code(), p.to_string()),
            IngestError::Read { source, .. } => ApiError::Internal(format!("reading the upload: {source}")),
            IngestError::Store(s) => ApiError::from(s),
            IngestError::Catalog(c) => ApiError::from(c),
        }
    }
}
