//! `GET /share/{token}`: the public page of a share, for anyone holding the link, and
//! `GET /share/{token}/{n}`: its `n`th song as MP3 (what every browser and device plays).
//! The link is the only credential and is checked again for every song played, so an
//! expired or deleted link, or one whose owner is disabled, stops at once: a 404 (the page
//! a plain one, a song the JSON API's). No grant leaves the server. Reads through `Library`
//! and `Playback`; knows only the page's HTML; a song's head and errors are the JSON API's.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::files::serve_seekable;
use super::stream::progressive_response;
use crate::encode::Codec;
use crate::server::markup::escape;
use crate::server::{ApiError, ApiResult, blocking};
use crate::service::playback::{Format, Progressive};
use crate::service::{Library, Playback};

fn page(status: StatusCode, html: String) -> Response {
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    // The links inside expire: nobody may keep the page.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; media-src 'self'; style-src 'unsafe-inline'"));
    r
}

fn not_found() -> Response {
    page(StatusCode::NOT_FOUND, "<!doctype html><meta charset=utf-8><title>Not found</title><p>This link does not exist or has expired.</p>\n".into())
}

/// The page.
pub async fn share(State(lib): State<Library>, Path(token): Path<String>) -> Response {
    let t = token.clone();
    let found = match blocking(move || lib.visit_share(&t)).await {
        Ok(found) => found,
        Err(ApiError::NotFound(_)) => return not_found(),
        Err(e) => return e.into_response(),
    };
    let (share, tracks) = found;
    let mut rows = String::new();
    for (n, t) in tracks.iter().enumerate() {
        rows.push_str(&format!(
            "<li><b>{}</b> — {} <i>({})</i><br><audio controls preload=none src=\"/share/{}/{n}\"></audio></li>\n",
            escape(&t.tags.title),
            escape(&t.tags.artist),
            escape(&t.tags.album),
            escape(&token)
        ));
    }
    let title = if share.description.is_empty() {
        tracks.first().map(|t| t.tags.album.clone()).unwrap_or_else(|| "Shared music".into())
    } else {
        share.description.clone()
    };
    let html = format!(
        "<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content=\"width=device-width,initial-scale=1\">\
         <title>{t}</title><style>body{{font:16px system-ui,sans-serif;max-width:40em;margin:2em auto;padding:0 1em}}li{{margin:1em 0}}audio{{width:100%}}</style>\
         <h1>{t}</h1><ol>\n{rows}</ol><p><small>Shared with Tonearm.</small></p></html>\n",
        t = escape(&title)
    );
    page(StatusCode::OK, html)
}

/// Bitrate of a shared song's MP3.
const SHARE_KBPS: u32 = 192;

/// One song of the share, as MP3, while the link lives (errors as the JSON API's).
pub async fn song(
    State(lib): State<Library>,
    State(playback): State<Playback>,
    Path((token, n)): Path<(String, usize)>,
    method: axum::http::Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (owner, id) = blocking(move || lib.shared_track(&token, n)).await?;
    let p = playback.track(owner, id).await?;
    match playback.progressive(p, Format::Codec(Codec::Mp3), Some(SHARE_KBPS), 0.0).await? {
        Progressive::Seekable(s) => serve_seekable(&playback, &s, &headers, method == axum::http::Method::HEAD).await,
        Progressive::Stream { codec, duration, body, .. } => progressive_response(codec, duration, Body::from_stream(body)),
        Progressive::Original => Err(ApiError::Internal("a shared song is always a transcode".into())),
    }
}
