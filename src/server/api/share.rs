//! `GET /share/{token}`: the public page of a share, for anyone holding the link. It lists
//! the shared songs, each playable as MP3 (what every browser and device plays) through a
//! signed URL of the owner's grant, fresh at every visit. An unknown, expired or deleted
//! link, or one whose owner is disabled, is a plain 404. Reads through `Library` and
//! `Playback`; knows only the page's HTML.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

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

pub async fn share(State(lib): State<Library>, State(playback): State<Playback>, Path(token): Path<String>) -> Response {
    if token.is_empty() || token.len() > 64 {
        return not_found();
    }
    let found = tokio::task::spawn_blocking(move || lib.visit_share(&token)).await;
    let Ok(Ok((share, tracks))) = found else { return not_found() };
    let mut rows = String::new();
    for t in &tracks {
        // A disabled owner has no grants: the whole link is gone with them.
        let Ok(g) = playback.grant(share.user, t.id).await else { return not_found() };
        let src = format!("/api/v1/tracks/{}/stream?format=mp3&u={}&e={}&s={}", t.id.0, g.user.0, g.expires, g.sig);
        rows.push_str(&format!(
            "<li><b>{}</b> — {} <i>({})</i><br><audio controls preload=none src=\"{}\"></audio></li>\n",
            escape(&t.tags.title),
            escape(&t.tags.artist),
            escape(&t.tags.album),
            escape(&src)
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

#[cfg(test)]
mod tests {
    #[test]
    fn text_is_escaped() {
        assert_eq!(super::escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }
}
