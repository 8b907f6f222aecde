//! The web player: static files from `web/`, embedded in the binary at compile time (no
//! build step; `web/vendor/` holds hls.js and tus-js-client as published on npm, see
//! `web/vendor/README.md`). Served with a strong ETag and `no-cache` (revalidated, so a new
//! binary's player is picked up at once), gzip-compressed when the client accepts it: the
//! compressed forms are made by `build.rs` at build time, never at run time.

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::api::files::{etag_matches, header_str};

struct Asset {
    path: &'static str,
    mime: &'static str,
    bytes: &'static [u8],
    /// The same bytes gzip-compressed, by `build.rs`.
    gzip: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// An embedded file of `web/`, served at `path`, with its build-time gzip form.
macro_rules! asset {
    ($path:literal, $file:literal, $mime:expr) => {
        Asset {
            path: $path,
            mime: $mime,
            bytes: include_bytes!(concat!("../../web/", $file)),
            gzip: include_bytes!(concat!(env!("OUT_DIR"), "/web/", $file, ".gz")),
        }
    };
}

const ASSETS: &[Asset] = &[
    asset!("/", "index.html", HTML),
    asset!("/app.js", "app.js", JS),
    asset!("/api.js", "api.js", JS),
    asset!("/ui.js", "ui.js", JS),
    asset!("/queue.js", "queue.js", JS),
    asset!("/player.js", "player.js", JS),
    asset!("/views.js", "views.js", JS),
    asset!("/upload.js", "upload.js", JS),
    asset!("/auth.js", "auth.js", JS),
    asset!("/app.css", "app.css", CSS),
    asset!("/favicon.svg", "favicon.svg", SVG),
    asset!("/vendor/hls.light.min.js", "vendor/hls.light.min.js", JS),
    asset!("/vendor/tus.min.js", "vendor/tus.min.js", JS),
];

/// Each asset's ETag, made once.
fn etags() -> &'static [String] {
    static E: OnceLock<Vec<String>> = OnceLock::new();
    E.get_or_init(|| ASSETS.iter().map(|a| format!("\"{}\"", &blake3::hash(a.bytes).to_hex()[..32])).collect())
}

/// Computes the ETags (once; later calls return at once). Blocks briefly.
pub fn prepare() {
    etags();
}

/// Every asset's path (each one route).
pub fn paths() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|a| a.path)
}

/// Bytes of every asset, raw and gzip-compressed (for the size figures in tests).
pub fn sizes() -> Vec<(&'static str, usize, usize)> {
    ASSETS.iter().map(|a| (a.path, a.bytes.len(), a.gzip.len())).collect()
}

/// `GET /`, `/app.js`, ...: an embedded asset, or `None` for other paths.
pub fn serve(path: &str, headers: &HeaderMap) -> Option<Response> {
    let i = ASSETS.iter().position(|a| a.path == path)?;
    let (a, etag) = (&ASSETS[i], &etags()[i]);
    let mut b = Response::builder()
        .header(header::CONTENT_TYPE, a.mime)
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::ETAG, etag)
        .header(header::VARY, "accept-encoding")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    if a.path == "/" {
        b = b
            .header("content-security-policy", "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self'; script-src 'self'; worker-src 'self' blob:; connect-src 'self'")
            .header("referrer-policy", "no-referrer");
    }
    if header_str(headers, header::IF_NONE_MATCH).is_some_and(|l| etag_matches(l, etag)) {
        return b.status(StatusCode::NOT_MODIFIED).body(Body::empty()).ok();
    }
    let gzip = header_str(headers, header::ACCEPT_ENCODING).is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip"))) && !a.gzip.is_empty();
    if gzip {
        b = b.header(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        b.body(Body::from(a.gzip)).ok()
    } else {
        b.body(Body::from(a.bytes)).ok()
    }
}

pub async fn asset(uri: axum::http::Uri, headers: HeaderMap) -> Response {
    match serve(uri.path(), &headers) {
        Some(r) => r,
        None => super::ApiError::not_found("route").into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_with_its_scripts_stays_small() {
        let total: usize = super::sizes().iter().map(|(_, _, gz)| gz).sum();
        assert!(super::sizes().iter().all(|(_, raw, gz)| *gz > 0 && gz < raw));
        // The aim for the player's JavaScript and CSS, hls.js included: under 250 kB sent.
        assert!(total < 250_000, "web assets are {total} bytes gzip-compressed");
    }
}
