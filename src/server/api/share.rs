//! `GET /share/{token}`: the public page of a share, for anyone holding the link, and
//! `GET /share/{token}/{n}`: its `n`th song as MP3 (what every browser and device plays).
//! The link is the only credential and is checked again for every song played, so an
//! expired or deleted link, or one whose owner is disabled, stops at once: a plain 404. No
//! grant leaves the server. Reads through `Library` and `Playback`; knows only the page's
//! HTML and the stream's headers.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use axum::body::Body;

use crate::encode::Codec;
use crate::service::library::LibraryError;
use crate::service::playback::{Format, PlaybackError, Progressive, stream_mime};
use crate::service::{Library, Playback};

fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

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
    let found = match tokio::task::spawn_blocking(move || lib.visit_share(&t)).await {
        Ok(Ok(found)) => found,
        Ok(Err(LibraryError::NotFound(_))) => return not_found(),
        Ok(Err(e)) => return failed(&e.to_string()),
        Err(e) => return failed(&e.to_string()),
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

/// One song of the share, as MP3, while the link lives.
pub async fn song(State(lib): State<Library>, State(playback): State<Playback>, Path((token, n)): Path<(String, usize)>) -> Response {
    let owner_track = match tokio::task::spawn_blocking(move || lib.shared_track(&token, n)).await {
        Ok(Ok(found)) => found,
        Ok(Err(LibraryError::NotFound(_))) => return not_found(),
        Ok(Err(e)) => return failed(&e.to_string()),
        Err(e) => return failed(&e.to_string()),
    };
    let (owner, id) = owner_track;
    let made = match playback.track(owner, id).await {
        Ok(p) => playback.progressive(p, Format::Codec(Codec::Mp3), Some(SHARE_KBPS), 0.0).await,
        Err(e) => Err(e),
    };
    match made {
        Ok(Progressive::Stream { codec, body, .. }) => {
            let mut r = Body::from_stream(body).into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(stream_mime(codec)));
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Ok(Progressive::Original) => failed("a shared song is always a transcode"),
        Err(PlaybackError::NoSuchTrack) => not_found(),
        Err(PlaybackError::Stream(crate::cache::StreamError::Busy(secs))) => {
            let mut r = (StatusCode::TOO_MANY_REQUESTS, "busy: retry shortly\n").into_response();
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            r
        }
        Err(e) => failed(&e.to_string()),
    }
}

fn failed(e: &str) -> Response {
    tracing::error!(error = %e, "share page failed");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal server error\n").into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_is_escaped() {
        assert_eq!(super::escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }
}
