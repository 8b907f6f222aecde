//! The HTTP surface: the JSON API under `/api/v1`, `/healthz`, and shared plumbing.
//!
//! Owns: routing, extractors, wire DTOs and the error → status mapping ([`error`]).
//! This is the only module that knows HTTP; it talks to the rest through `Accounts`, the
//! `Catalog` trait and the `BlobStore` trait, and runs every blocking call on the blocking
//! pool ([`blocking`]), never on the async executor.

mod admin;
mod auth;
mod dto;
pub mod error;
pub mod files;
mod instant;
mod library;
mod lists;
pub mod listen;
mod stream;
pub mod throttle;
mod tus;
mod upload;
pub mod web;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{Any, CorsLayer};

use crate::accounts::Accounts;
use crate::cache::Streamer;
use crate::package::Rung;
use crate::signing::UrlSigner;
use crate::catalog::Catalog;
use crate::store::BlobStore;
pub use error::{ApiError, ApiResult};

/// Tracks resolved for playback, per (user, track), with the time they were looked up.
pub type PlaybackTracks = dashmap::DashMap<(crate::domain::UserId, crate::domain::TrackId), (Arc<stream::Playable>, i64)>;

/// Everything a handler may use: one `Arc`, so the clone every request makes (extractors,
/// middleware) is one atomic increment rather than one per field.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> AppState {
        AppState(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Services {
    pub accounts: Arc<Accounts>,
    pub catalog: Arc<dyn Catalog>,
    pub store: Arc<dyn BlobStore>,
    /// Scaled covers are cached here, keyed by blob hash and size.
    pub cover_cache: PathBuf,
    pub cover_max_size: u32,
    /// Cover scaling in flight and its bounds.
    pub cover_work: Arc<files::CoverWork>,
    pub streamer: Arc<Streamer>,
    pub signer: Arc<UrlSigner>,
    /// The HLS ladder, in master-playlist order.
    pub ladder: Arc<[Rung]>,
    pub url_ttl_secs: u64,
    /// Tracks recently resolved for playback, per (user, track), with when (see
    /// `stream::load_track`).
    pub playback_tracks: Arc<PlaybackTracks>,
    pub login_throttle: Arc<throttle::LoginThrottle>,
    pub login_limits: throttle::Limits,
    /// Ingest for uploads, with the configured size limits.
    pub ingest: Arc<crate::ingest::Ingest>,
    /// Where uploads are written while they arrive (one private directory each).
    pub upload_dir: PathBuf,
    pub max_upload_bytes: u64,
    pub upload_limits: crate::config::UploadConfig,
    /// Upload bodies in flight per user (see `upload::InFlight`).
    pub uploads_in_flight: Arc<dashmap::DashMap<crate::domain::UserId, usize>>,
    /// Resumable (tus) uploads on disk, and the ids being written right now.
    pub uploads: Arc<crate::ingest::resumable::Uploads>,
    pub tus_locks: Arc<dashmap::DashMap<String, ()>>,
    /// Open instant-upload challenges by id.
    pub challenges: Arc<dashmap::DashMap<String, instant::Challenge>>,
}

/// Runs blocking work (SQLite, file I/O, hashing, image scaling) off the executor.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await?
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/setup", get(setup))
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/me", get(auth::me))
        .route("/me/password", post(admin::change_own_password))
        .route("/admin/users", get(admin::list_users).post(admin::create_user))
        .route("/admin/storage", get(admin::storage))
        .route("/admin/users/{id}", axum::routing::delete(admin::delete_user).patch(admin::update_user))
        .route("/admin/users/{id}/password", axum::routing::put(admin::reset_password))
        .route("/tracks", get(library::tracks).post(upload::upload_one))
        .route("/tracks/{id}", get(library::track).patch(library::edit_track).delete(library::delete_track))
        .route("/tracks/{id}/cover", get(files::track_cover))
        .route("/tracks/{id}/original", get(files::original))
        .route("/tracks/{id}/playback", get(stream::playback))
        .route("/tracks/{id}/star", axum::routing::put(lists::star).delete(lists::unstar))
        .route("/tracks/{id}/scrobble", post(lists::scrobble))
        .route("/favourites", get(lists::favourites))
        .route("/history", get(lists::history))
        .route("/playlists", get(lists::list).post(lists::create))
        .route("/playlists/{id}", get(lists::get).patch(lists::update).delete(lists::delete))
        .route("/playlists/{id}/tracks", post(lists::append))
        .route("/tracks/{id}/stream", get(stream::stream))
        .route("/albums", get(library::albums))
        .route("/albums/{id}", get(library::album))
        .route("/albums/{id}/cover", get(files::album_cover))
        .route("/artists", get(library::artists))
        .route("/artists/{id}", get(library::artist))
        .route("/search", get(library::search))
        .route("/uploads/instant", post(instant::ask))
        .route("/uploads/instant/{challenge}", post(instant::prove))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    // tus routes get their headers (and their OPTIONS answer) from layers of their own, so
    // that no other request pays for them.
    let tus = Router::new()
        .route("/api/v1/uploads", post(tus::create))
        .route("/api/v1/uploads/{id}", axum::routing::head(tus::head).get(tus::status).patch(tus::patch).delete(tus::terminate))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(tus::add_resumable_header))
        .layer(cors())
        .layer(axum::middleware::from_fn_with_state(state.clone(), tus::options));
    Router::new()
        .route("/", get(web::asset))
        .route("/app.js", get(web::asset))
        .route("/app.css", get(web::asset))
        .route("/favicon.svg", get(web::asset))
        .route("/vendor/{file}", get(web::asset))
        .route("/healthz", get(healthz))
        .route("/metrics", get(stream::metrics))
        .route("/hls/{track}/master.m3u8", get(stream::master))
        .route("/hls/{track}/{rung}/{file}", get(stream::rendition))
        .nest("/api/v1", api)
        .fallback(not_found)
        // Before the layers: a fallback set afterwards would not pass through them.
        .method_not_allowed_fallback(method_not_allowed)
        .layer(cors())
        .merge(tus)
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(ApiError::Internal("handler panicked".into()))
        }))
        .with_state(state)
}

/// Response headers a cross-origin page may read.
const EXPOSED: [axum::http::HeaderName; 14] = {
    use axum::http::{HeaderName, header};
    [
        header::CONTENT_LENGTH,
        header::CONTENT_RANGE,
        header::ETAG,
        header::RETRY_AFTER,
        header::LOCATION,
        HeaderName::from_static("x-content-duration"),
        HeaderName::from_static("tus-resumable"),
        HeaderName::from_static("tus-version"),
        HeaderName::from_static("tus-extension"),
        HeaderName::from_static("tus-max-size"),
        HeaderName::from_static("upload-offset"),
        HeaderName::from_static("upload-length"),
        HeaderName::from_static("upload-expires"),
        HeaderName::from_static("tonearm-track-id"),
    ]
};

/// The service every connection runs: the warm lane for cached segments
/// ([`stream::warm_segment`]), then the router for everything else.
#[derive(Clone)]
pub struct Service {
    state: AppState,
    router: Router,
    /// What [`cors`] adds to a simple (non-preflight) response.
    cors_headers: [(axum::http::HeaderName, axum::http::HeaderValue); 2],
}

impl Service {
    pub fn new(state: AppState) -> Service {
        let exposed = EXPOSED.iter().map(|h| h.as_str()).collect::<Vec<_>>().join(",");
        let cors_headers = [
            (axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN, axum::http::HeaderValue::from_static("*")),
            (
                axum::http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
                axum::http::HeaderValue::from_str(&exposed).unwrap_or(axum::http::HeaderValue::from_static("*")),
            ),
        ];
        Service { router: router(state.clone()), state, cors_headers }
    }

    pub async fn call(&self, req: axum::http::Request<hyper::body::Incoming>) -> axum::response::Response {
        use futures_util::FutureExt;
        let warm = std::panic::AssertUnwindSafe(stream::warm_segment(&self.state, &req)).catch_unwind().await;
        if let Ok(Some(mut r)) = warm {
            let h = r.headers_mut();
            for (k, v) in &self.cors_headers {
                h.insert(k.clone(), v.clone());
            }
            return r;
        }
        use tower::ServiceExt;
        match self.router.clone().oneshot(req.map(axum::body::Body::new)).await {
            Ok(r) => r,
            Err(never) => match never {},
        }
    }
}

/// Browser players on other origins may fetch playlists, segments, streams and the API;
/// credentials travel in the `Authorization` header or the signed query, never in cookies.
fn cors() -> CorsLayer {
    use axum::http::{Method, header};
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::RANGE,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
            header::HeaderName::from_static("tus-resumable"),
            header::HeaderName::from_static("upload-length"),
            header::HeaderName::from_static("upload-metadata"),
            header::HeaderName::from_static("upload-offset"),
            header::HeaderName::from_static("upload-checksum"),
            header::HeaderName::from_static("x-http-method-override"),
        ])
        .expose_headers(EXPOSED)
        .max_age(std::time::Duration::from_secs(3600))
}

/// `GET /api/v1/setup`: whether the server has no user yet (the player then explains how to
/// create the first administrator). Needs no sign-in and tells nothing else.
async fn setup(axum::extract::State(s): axum::extract::State<AppState>) -> ApiResult<axum::Json<serde_json::Value>> {
    let catalog = s.catalog.clone();
    let users = blocking(move || Ok(catalog.user_count()?)).await?;
    Ok(axum::Json(serde_json::json!({ "first_run": users == 0 })))
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

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
pub fn parse_id(raw: &str, what: &str) -> ApiResult<i64> {
    raw.parse::<i64>().ok().filter(|&i| i > 0).ok_or_else(|| ApiError::not_found(what))
}
