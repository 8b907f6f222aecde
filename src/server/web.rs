//! The web player: static files from `web/`, embedded in the binary at compile time (no
//! build step; `web/vendor/` holds hls.js and tus-js-client as published on npm, see
//! `web/vendor/README.md`). Served with a strong ETag and `no-cache` (revalidated, so a new
//! binary's player is picked up at once), gzip-compressed when the client accepts it: the
//! compression runs once, on a blocking thread before the server accepts connections
//! ([`prepare`]), never on the executor.

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::api::files::{etag_matches, header_str};

struct Asset {
    path: &'static str,
    mime: &'static str,
    bytes: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset { path: "/", mime: "text/html; charset=utf-8", bytes: include_bytes!("../../web/index.html") },
    Asset { path: "/app.js", mime: "text/javascript; charset=utf-8", bytes: include_bytes!("../../web/app.js") },
    Asset { path: "/api.js", mime: "text/javascript; charset=utf-8", bytes: include_bytes!("../../web/api.js") },
    Asset { path: "/ui.js", mime: "text/javascript; charset=utf-8", bytes: include_bytes!("../../web/ui.js") },
    Asset { path: "/queue.js", mime: "text/javascript; charset=utf-8", bytes: include_bytes!("../../web/queue.js") },
    Asset { path: "/player.js", mime: "text/javascript; charset=utf-8", bytes: include_bytes!("../../web/player.js") },
    Asset { path: "/views.js", mime: "text/javascript; charset=utf-8", bytes: include_bytes!("../../web/views.js") },
    Asset { path: "/upload.js", mime: "text/javascript; charset=utf-8", bytes: include_bytes!("../../web/upload.js") },
    Asset { path: "/auth.js", mime: "text/javascript; charset=utf-8", bytes: include_bytes!("../../web/auth.js") },
    Asset { path: "/app.css", mime: "text/css; charset=utf-8", bytes: include_bytes!("../../web/app.css") },
    Asset { path: "/favicon.svg", mime: "image/svg+xml", bytes: include_bytes!("../../web/favicon.svg") },
    Asset { path: "/vendor/hls.light.min.js", mime: "text/javascript; charset=utf-8", bytes: include_bytes!("../../web/vendor/hls.light.min.js") },
    Asset { path: "/vendor/tus.min.js", mime: "text/javascript; charset=utf-8", bytes: include_bytes!("../../web/vendor/tus.min.js") },
];

/// Each asset's gzip form and ETag, made once.
struct Prepared {
    gzip: Vec<u8>,
    etag: String,
}

/// Compresses every asset (once; later calls return at once). Blocks.
pub fn prepare() {
    prepared();
}

fn prepared() -> &'static [Prepared] {
    static P: OnceLock<Vec<Prepared>> = OnceLock::new();
    P.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                use std::io::Write;
                let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                let gzip = enc.write_all(a.bytes).and_then(|_| enc.finish()).unwrap_or_default();
                let etag = format!("\"{}\"", &blake3::hash(a.bytes).to_hex()[..32]);
                Prepared { gzip, etag }
            })
            .collect()
    })
}

/// Every asset's path (each one route).
pub fn paths() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|a| a.path)
}

/// Bytes of every asset, raw and gzip-compressed (for the size figures in tests).
pub fn sizes() -> Vec<(&'static str, usize, usize)> {
    ASSETS.iter().zip(prepared()).map(|(a, p)| (a.path, a.bytes.len(), p.gzip.len())).collect()
}

/// `GET /`, `/app.js`, ...: an embedded asset, or `None` for other paths.
pub fn serve(path: &str, headers: &HeaderMap) -> Option<Response> {
    let i = ASSETS.iter().position(|a| a.path == path)?;
    let (a, p) = (&ASSETS[i], &prepared()[i]);
    let mut b = Response::builder()
        .header(header::CONTENT_TYPE, a.mime)
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::ETAG, &p.etag)
        .header(header::VARY, "accept-encoding")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    if a.path == "/" {
        b = b
            .header("content-security-policy", "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self'; script-src 'self'; worker-src 'self' blob:; connect-src 'self'")
            .header("referrer-policy", "no-referrer");
    }
    if header_str(headers, header::IF_NONE_MATCH).is_some_and(|l| etag_matches(l, &p.etag)) {
        return b.status(StatusCode::NOT_MODIFIED).body(Body::empty()).ok();
    }
    let gzip = header_str(headers, header::ACCEPT_ENCODING).is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip"))) && !p.gzip.is_empty();
    if gzip {
        b = b.header(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        b.body(Body::from(p.gzip.as_slice())).ok()
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
