//! Bytes over Subsonic: `stream` (the original with `Range` when nothing asks for a
//! transcode, otherwise one of the `Playback` service's progressive streams, sharing its
//! encoders, job slots and segment cache with HLS), `download` (always the original), and
//! `getCoverArt` (`size` snapped like the JSON API's).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::envelope::{Code, Failure};
use super::ids;
use super::params::Params;
use crate::catalog::User;
use crate::encode::Codec;
use crate::service::library::CoverOf;
use crate::service::playback::{Format, Playable, PlaybackError, Progressive, stream_mime};
use crate::service::{Library, Playback};

/// What a stream request asks for: the original, or a codec at a bitrate cap.
#[derive(Debug, PartialEq)]
pub enum Want {
    Original,
    Transcode(Codec, Option<u32>),
}

/// Subsonic's `format` and `maxBitRate` (kbps, 0 = no cap) against the file's own bitrate:
/// no format (or `raw`) and no cap below the file's is the original; a cap without a
/// format is MP3, the codec every player has.
pub fn want(format: Option<&str>, max_kbps: u32, file_kbps: u32) -> Result<Want, Failure> {
    let cap = (max_kbps > 0).then_some(max_kbps);
    match format {
        None | Some("") | Some("raw") => match cap {
            Some(k) if k < file_kbps => Ok(Want::Transcode(Codec::Mp3, Some(k))),
            _ => Ok(Want::Original),
        },
        Some(f) => match Codec::parse(f) {
            Some(c) => Ok(Want::Transcode(c, cap)),
            None => Err(Failure::new(Code::Generic, format!("unknown format {f:?}: use raw, mp3, opus or aac"))),
        },
    }
}

/// A cap within the codec's bounds (an app asking 500 kbps of MP3 gets 320).
fn within(codec: Codec, kbps: u32) -> u32 {
    let (_, range) = crate::service::devices::kbps_bounds(codec);
    kbps.clamp(*range.start(), *range.end())
}

pub fn from_playback(e: PlaybackError) -> Failure {
    match e {
        PlaybackError::NoSuchTrack | PlaybackError::NoSuchRendition | PlaybackError::NoSuchSegment(_) => Failure::new(Code::NotFound, "song not found"),
        PlaybackError::NoSuchList(what) => Failure::new(Code::NotFound, format!("{what} not found")),
        PlaybackError::Stream(crate::cache::StreamError::Busy(secs)) => {
            Failure { code: Code::Generic, message: format!("the server is busy transcoding; retry in {secs} s"), retry_after: Some(secs) }
        }
        PlaybackError::Account(a) => super::envelope::from_account(a),
        PlaybackError::NoRenditionForCodecs
        | PlaybackError::BadCodecs(_)
        | PlaybackError::BadFormat(_)
        | PlaybackError::BadBitrate { .. }
        | PlaybackError::BadOffset(_)
        | PlaybackError::LpcmOffset
        | PlaybackError::Unplayable(_)
        | PlaybackError::GrantRevoked
        | PlaybackError::AccountDisabled
        | PlaybackError::Sign(_) => Failure::new(Code::Generic, e.to_string()),
        PlaybackError::Stream(_) | PlaybackError::Catalog(_) | PlaybackError::Store(_) | PlaybackError::Internal(_) => {
            tracing::error!(error = %e, "subsonic stream failed");
            Failure::new(Code::Generic, "internal server error")
        }
    }
}

/// `stream`: the bytes, or a failure envelope.
pub async fn stream(playback: &Playback, user: &User, p: &Params, headers: &HeaderMap) -> Result<Response, Failure> {
    let id = ids::parse_track(p.require("id")?)?;
    let t = playback.track(user.id, id).await.map_err(from_playback)?;
    let max = p.get("maxBitRate").and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
    let offset = p.get("timeOffset").and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let (format, kbps) = match want(p.get("format"), max, t.track.audio.bitrate.div_ceil(1000))? {
        Want::Original => (Format::Original, None),
        Want::Transcode(codec, cap) => (Format::Codec(codec), cap.map(|k| within(codec, k))),
    };
    let made = playback.progressive(t.clone(), format, kbps, offset).await.map_err(from_playback)?;
    respond(playback, &t, made, headers, p.get("estimateContentLength") == Some("true")).await
}

/// The response for a progressive answer: the original or a seekable transcode with
/// `Range`, or a chunked transcode (with a `Content-Length` it then has exactly, when
/// `estimate`).
pub async fn respond(playback: &Playback, t: &Playable, made: Progressive, headers: &HeaderMap, estimate: bool) -> Result<Response, Failure> {
    match made {
        Progressive::Original => crate::server::api::files::serve_original(playback, &t.track, headers).map_err(|e| Failure::new(Code::Generic, e.to_string())),
        Progressive::Seekable(s) => {
            crate::server::api::files::serve_seekable(playback, &s, headers, false).await.map_err(|e| Failure::new(Code::Generic, e.to_string()))
        }
        Progressive::Stream { codec, kbps, duration, body } => {
            let estimate = estimate.then(|| estimated_length(codec, kbps, duration));
            let body = match estimate {
                Some(len) => Body::from_stream(exactly(body, len)),
                None => Body::from_stream(body),
            };
            let mut r = body.into_response();
            let h = r.headers_mut();
            if let Some(len) = estimate {
                h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            }
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(stream_mime(codec)));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            if let Ok(v) = HeaderValue::from_str(&format!("{duration:.3}")) {
                h.insert("x-content-duration", v);
            }
            Ok(r)
        }
    }
}

/// `hls.m3u8` (also `hls.view`): a redirect to the track's HLS master playlist under a
/// signed grant, its rungs up to `bitRate`, AAC only unless the client asks for Opus
/// (`codecs=opus`): Apple
/// players, Sonos and casting targets do not play Opus. The redirect keeps the rendition
/// URLs relative to `/hls/{track}/`, where the segments are.
pub async fn hls(playback: &Playback, user: &User, p: &Params) -> Result<Response, Failure> {
    let id = ids::parse_track(p.require("id")?)?;
    playback.track(user.id, id).await.map_err(from_playback)?;
    let g = playback.grant(user.id, id).await.map_err(from_playback)?;
    let codecs = if p.get("codecs").is_some_and(|c| c.contains("opus")) { "opus,aac" } else { "aac" };
    // `bitRate` (or `bitrate`), maybe repeated: the rungs up to the highest asked.
    let cap = p.all("bitRate").chain(p.all("bitrate")).filter_map(|v| v.parse::<u32>().ok()).filter(|&k| k > 0).max();
    let cap = cap.map(|k| format!("&bitrate={k}")).unwrap_or_default();
    let to = format!("/hls/{}/master.m3u8?codecs={codecs}{cap}&u={}&e={}&s={}", id.0, g.user, g.expires, g.sig);
    let mut r = axum::http::StatusCode::FOUND.into_response();
    r.headers_mut().insert(header::LOCATION, HeaderValue::from_str(&to).map_err(|e| Failure::new(Code::Generic, e.to_string()))?);
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// The length a transcode of `duration` seconds at `kbps` is announced with: the bitrate's
/// bytes, with room for what VBR encoders may spend above it (AAC is capped at 1.25×) and
/// for container framing, so that a body is cut only in rare cases.
fn estimated_length(codec: Codec, kbps: u32, duration: f64) -> u64 {
    let bytes = f64::from(kbps) * 1000.0 / 8.0 * duration;
    let slack = match codec {
        Codec::Mp3 => 1.01,
        Codec::Aac => 1.30,
        Codec::Opus => 1.35,
    };
    (bytes * slack) as u64 + 4096
}

/// `body`, made exactly `len` bytes long: cut at `len`, or padded with zero bytes (which
/// MP3, ADTS and Ogg demuxers skip as junk after the last frame). Players and head units
/// that trust `Content-Length` stall on a body that ends early.
fn exactly(body: crate::service::playback::ByteStream, len: u64) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send {
    use futures_util::StreamExt;
    futures_util::stream::unfold((body, 0u64, false), move |(mut body, sent, done)| async move {
        if sent >= len {
            return None;
        }
        if !done {
            match body.next().await {
                Some(Ok(chunk)) => {
                    let take = (chunk.len() as u64).min(len - sent) as usize;
                    return Some((Ok(chunk.slice(..take)), (body, sent + take as u64, false)));
                }
                Some(Err(e)) => return Some((Err(e), (body, len, true))),
                None => {}
            }
        }
        let pad = (len - sent).min(64 * 1024) as usize;
        Some((Ok(bytes::Bytes::from(vec![0u8; pad])), (body, sent + pad as u64, true)))
    })
}

/// `download`: the original file, with `Range`.
pub async fn download(lib: &Library, playback: &Playback, user: &User, p: &Params, headers: &HeaderMap) -> Result<Response, Failure> {
    let id = ids::parse_track(p.require("id")?)?;
    let (lib, uid) = (lib.clone(), user.id);
    let t = super::off(move || lib.track(uid, id).map_err(super::browse::from_library)).await?;
    crate::server::api::files::serve_original(playback, &t, headers).map_err(|e| Failure::new(Code::Generic, e.to_string()))
}

/// `getCoverArt`: a track's or album's cover, scaled to `size` if asked.
pub async fn cover_art(lib: &Library, user: &User, p: &Params) -> Result<Response, Failure> {
    let cover = ids::parse_item(p.require("id")?, "cover art")?;
    let size = p.get("size").and_then(|v| v.parse::<u32>().ok()).filter(|&n| n > 0);
    let (l, uid) = (lib.clone(), user.id);
    let pick = super::off(move || {
        let of = match cover {
            ids::Item::Track(t) => CoverOf::Track(t),
            ids::Item::Album(a) => CoverOf::Album(a),
            // The first of the artist's albums that has a cover.
            ids::Item::Artist(a) => {
                let (_, albums) = l.artist(uid, a).map_err(super::browse::from_library)?;
                let first = albums.iter().find(|al| al.cover.is_some()).ok_or_else(|| Failure::new(Code::NotFound, "cover art not found"))?;
                CoverOf::Album(first.id)
            }
        };
        l.cover_pick(uid, of, size).map_err(super::browse::from_library)
    })
    .await?;
    let (bytes, mime) = lib.cover(pick).await.map_err(super::browse::from_library)?;
    let mut r = Body::from(bytes).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_str(&mime).unwrap_or(HeaderValue::from_static("application/octet-stream")));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=86400"));
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_stream_request_wants() {
        assert_eq!(want(None, 0, 900).ok(), Some(Want::Original));
        assert_eq!(want(Some("raw"), 1000, 900).ok(), Some(Want::Original), "a cap above the file's bitrate keeps the original");
        assert_eq!(want(None, 128, 900).ok(), Some(Want::Transcode(Codec::Mp3, Some(128))));
        assert_eq!(want(Some("opus"), 0, 900).ok(), Some(Want::Transcode(Codec::Opus, None)));
        assert_eq!(want(Some("aac"), 96, 900).ok(), Some(Want::Transcode(Codec::Aac, Some(96))));
        assert!(want(Some("wma"), 0, 900).is_err());
        assert_eq!(within(Codec::Mp3, 500), 320);
        assert_eq!(within(Codec::Opus, 8), 16);
    }
}
