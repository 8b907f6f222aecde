//! The JSON API under `/api/v1`, HLS under `/hls`, and the routes beside them: one thin
//! handler per route (parse → call a service → map to a DTO), each taking only the service
//! it uses.

pub mod admin;
pub mod auth;
pub mod dto;
pub mod files;
pub mod instant;
pub mod library;
pub mod lists;
pub mod playlist_file;
pub mod radio;
pub mod share;
pub mod stream;
pub mod tus;
pub mod upload;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{Any, CorsLayer};

use super::{ApiError, ApiResult, AppState, blocking, web};
use crate::service::Accounts;

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/setup", get(setup))
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/me", get(auth::me))
        .route("/me/password", post(admin::change_own_password))
        .route("/me/api-keys", get(admin::api_keys).post(admin::add_api_key))
        .route("/me/api-keys/{id}", axum::routing::delete(admin::revoke_api_key))
        .route("/admin/users", get(admin::list_users).post(admin::create_user))
        .route("/admin/storage", get(admin::storage))
        .route("/admin/users/{id}", axum::routing::delete(admin::delete_user).patch(admin::update_user))
        .route("/admin/users/{id}/password", axum::routing::put(admin::reset_password))
        .route("/tracks", get(library::tracks).post(upload::upload_one))
        .route("/tracks/{id}", get(library::track).patch(library::edit_track).delete(library::delete_track))
        .route("/tracks/{id}/cover", get(files::track_cover))
        .route("/tracks/{id}/original", get(files::original))
        .route("/tracks/{id}/playback", get(stream::playback))
        .route("/me/playback", get(stream::settings).put(stream::set_settings))
        .route("/tracks/{id}/star", axum::routing::put(lists::star).delete(lists::unstar))
        .route("/tracks/{id}/scrobble", post(lists::scrobble))
        .route("/favourites", get(lists::favourites))
        .route("/history", get(lists::history))
        .route("/playlists", get(lists::list).post(lists::create))
        .route("/playlists/{id}", get(lists::get).patch(lists::update).delete(lists::delete))
        .route("/playlists/{id}/tracks", post(lists::append))
        .route("/playlists/{id}/playback", get(playlist_file::playlist_playback))
        .route("/playlists/{id}/playlist.m3u8", get(playlist_file::playlist_file::<false>))
        .route("/playlists/{id}/playlist.pls", get(playlist_file::playlist_file::<true>))
        .route("/tracks/{id}/stream", get(stream::stream))
        .route("/albums", get(library::albums))
        .route("/albums/{id}", get(library::album))
        .route("/albums/{id}/cover", get(files::album_cover))
        .route("/albums/{id}/playback", get(playlist_file::album_playback))
        .route("/albums/{id}/playlist.m3u8", get(playlist_file::album_file::<false>))
        .route("/albums/{id}/playlist.pls", get(playlist_file::album_file::<true>))
        .route("/radio", get(radio::stations))
        .route("/radio/{station}", get(radio::stream))
        .route("/radio/{station}/listen.pls", get(radio::listen::<true>))
        .route("/radio/{station}/listen.m3u", get(radio::listen::<false>))
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
    // One route per embedded file: other paths stay 404, whatever the method.
    let web = web::paths().fold(Router::new(), |r, path| r.route(path, get(web::asset)));
    web.route("/healthz", get(healthz))
        .route("/share/{token}", get(share::share))
        .route("/share/{token}/{n}", get(share::song))
        .route("/metrics", get(stream::metrics))
        .route("/hls/{track}/master.m3u8", get(stream::master))
        .route("/hls/{track}/{rung}/{file}", get(stream::rendition))
        .nest("/api/v1", api)
        .merge(super::subsonic::router())
        .merge(super::upnp::router(state.upnp_enabled()))
        .fallback(not_found)
        // Before the layers: a fallback set afterwards would not pass through them.
        .method_not_allowed_fallback(method_not_allowed)
        .layer(cors())
        .merge(tus)
        .layer(CatchPanicLayer::custom(|_| axum::response::IntoResponse::into_response(ApiError::Internal("handler panicked".into()))))
        .with_state(state)
}

/// Response headers a cross-origin page may read.
pub const EXPOSED: [axum::http::HeaderName; 14] = {
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
async fn setup(State(accounts): State<Accounts>) -> ApiResult<axum::Json<serde_json::Value>> {
    let first_run = blocking(move || accounts.first_run()).await?;
    Ok(axum::Json(serde_json::json!({ "first_run": first_run })))
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
