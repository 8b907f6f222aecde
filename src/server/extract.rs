//! Request extractors whose rejections are the JSON API's own errors: path parameters,
//! query strings, small JSON bodies, and numeric ids; and the origin a client reached.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::{ApiError, ApiResult};

/// Path parameters whose rejection (a segment that is not UTF-8) is a JSON 400 `bad_path`.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|e| ApiError::bad_request("bad_path", e.body_text()))
    }
}

/// Largest JSON request body (sign-in, playlists, tag edits, administration).
pub const MAX_JSON_BODY: usize = 2 << 20;

/// A JSON request's body, at most [`MAX_JSON_BODY`] bytes; a larger one is a JSON 413.
pub struct SmallBody(pub bytes::Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for SmallBody {
    type Rejection = ApiError;
    async fn from_request(req: axum::extract::Request, _: &S) -> Result<Self, ApiError> {
        use http_body_util::BodyExt;
        match http_body_util::Limited::new(req.into_body(), MAX_JSON_BODY).collect().await {
            Ok(b) => Ok(SmallBody(b.to_bytes())),
            Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(ApiError::TooLarge(MAX_JSON_BODY as u64)),
            Err(e) => Err(ApiError::bad_request("bad_body", format!("reading the request body: {e}"))),
        }
    }
}

/// Query string extractor whose rejection is a JSON 400.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|e| ApiError::bad_request("bad_query", e.body_text()))
    }
}

/// A JSON request body (any content type: `curl -d` sends a form type); a body that does
/// not parse is a 400 `bad_json` saying which `shape` was expected.
pub fn json_body<T: DeserializeOwned>(body: &[u8], shape: &str) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request("bad_json", format!("expected {shape}: {e}")))
}

/// A numeric id from the path; anything else is a 404, like an id that does not exist.
pub fn parse_id<T: From<i64>>(raw: &str, what: &str) -> ApiResult<T> {
    raw.parse::<i64>().ok().filter(|&i| i > 0).map(T::from).ok_or_else(|| ApiError::not_found(what))
}

/// Where the client reached the server (`X-Forwarded-Proto`/`-Host` from a proxy in
/// front, else `Host`), for the absolute links an answer gives (shares,
/// playlist files).
pub(crate) fn origin(headers: &axum::http::HeaderMap) -> String {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.split(',').next()).map(str::trim).filter(|v| !v.is_empty());
    let proto = h("x-forwarded-proto").filter(|p| *p == "https" || *p == "http").unwrap_or("http");
    let host =
        h("x-forwarded-host").or_else(|| h("host")).filter(|v| v.chars().all(|c| c.is_ascii_alphanumeric() || ".:-[]".contains(c))).unwrap_or("localhost");
    format!("{proto}://{host}")
}
