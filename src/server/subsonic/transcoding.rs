//! The OpenSubsonic `transcoding` extension: `getTranscodeDecision` (a device's profile as a
//! JSON body, mapped to `service::devices` and decided there) and `getTranscodeStream` (the
//! stream that decision named, through the `Playback` service). Owns only the wire: the
//! `ClientInfo` JSON, the `transcodeDecision` answer, and `transcodeParams`, which carry the
//! plan (`raw` or `mp3-192`) and a signed grant for the track (`plan.expires.sig`), so that
//! they work for that user's track only, until the grant expires. Stream errors are HTTP
//! statuses, as the extension says (400, 401, 404, 500; and, as Navidrome answers, 410 for
//! params that are stale or not this song's, 429 with `Retry-After` when busy).

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::envelope::{Code, Failure};
use super::ids;
use super::media::{from_playback, respond};
use super::params::Params;
use crate::catalog::User;
use crate::encode::Codec;
use crate::service::Playback;
use crate::service::devices::{self, Comparison, DeviceProfile, DirectPlay, Limitation, Plan, Property, Protocol, StreamShape, TranscodeTo};
use crate::service::playback::{Format, PlaybackError, SignedGrant};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientInfo {
    #[allow(dead_code)]
    name: String,
    #[allow(dead_code)]
    platform: String,
    #[serde(default)]
    max_audio_bitrate: u32,
    #[serde(default)]
    max_transcoding_audio_bitrate: u32,
    #[serde(default)]
    direct_play_profiles: Vec<DirectPlayWire>,
    #[serde(default)]
    transcoding_profiles: Vec<TranscodingWire>,
    #[serde(default)]
    codec_profiles: Vec<CodecWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DirectPlayWire {
    #[serde(default)]
    containers: Vec<String>,
    #[serde(default)]
    audio_codecs: Vec<String>,
    #[serde(default)]
    protocols: Vec<ProtocolWire>,
    max_audio_channels: Option<u16>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TranscodingWire {
    #[serde(default)]
    container: String,
    #[serde(default)]
    audio_codec: String,
    protocol: ProtocolWire,
    max_audio_channels: Option<u16>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CodecWire {
    #[serde(rename = "type")]
    #[allow(dead_code)]
    kind: CodecKind,
    name: String,
    #[serde(default)]
    limitations: Vec<LimitationWire>,
}

#[derive(Deserialize)]
enum CodecKind {
    AudioCodec,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum ProtocolWire {
    Http,
    Hls,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LimitationWire {
    name: PropertyWire,
    comparison: ComparisonWire,
    #[serde(default)]
    values: Vec<String>,
    #[serde(default)]
    required: bool,
}

#[derive(Deserialize, Clone, Copy)]
enum PropertyWire {
    #[serde(rename = "audioChannels")]
    Channels,
    #[serde(rename = "audioBitrate")]
    Bitrate,
    #[serde(rename = "audioProfile")]
    Profile,
    #[serde(rename = "audioSamplerate")]
    SampleRate,
    #[serde(rename = "audioBitdepth")]
    BitDepth,
}

#[derive(Deserialize, Clone, Copy)]
enum ComparisonWire {
    Equals,
    NotEquals,
    LessThanEqual,
    GreaterThanEqual,
}

fn protocol(p: ProtocolWire) -> Protocol {
    match p {
        ProtocolWire::Http => Protocol::Http,
        ProtocolWire::Hls => Protocol::Hls,
    }
}

impl ClientInfo {
    fn profile(self) -> DeviceProfile {
        DeviceProfile {
            max_bitrate: self.max_audio_bitrate,
            max_transcode_bitrate: self.max_transcoding_audio_bitrate,
            direct: self
                .direct_play_profiles
                .into_iter()
                .map(|d| DirectPlay {
                    containers: d.containers,
                    codecs: d.audio_codecs,
                    protocols: d.protocols.into_iter().map(protocol).collect(),
                    max_channels: d.max_audio_channels,
                })
                .collect(),
            transcodes: self
                .transcoding_profiles
                .into_iter()
                .map(|t| TranscodeTo { container: t.container, codec: t.audio_codec, protocol: protocol(t.protocol), max_channels: t.max_audio_channels })
                .collect(),
            codec_limits: self
                .codec_profiles
                .into_iter()
                .map(|c| {
                    let limits = c
                        .limitations
                        .into_iter()
                        .map(|l| Limitation {
                            property: match l.name {
                                PropertyWire::Channels => Property::Channels,
                                PropertyWire::Bitrate => Property::Bitrate,
                                PropertyWire::Profile => Property::Profile,
                                PropertyWire::SampleRate => Property::SampleRate,
                                PropertyWire::BitDepth => Property::BitDepth,
                            },
                            comparison: match l.comparison {
                                ComparisonWire::Equals => Comparison::Equals,
                                ComparisonWire::NotEquals => Comparison::NotEquals,
                                ComparisonWire::LessThanEqual => Comparison::AtMost,
                                ComparisonWire::GreaterThanEqual => Comparison::AtLeast,
                            },
                            values: l.values,
                            required: l.required,
                        })
                        .collect();
                    (c.name, limits)
                })
                .collect(),
        }
    }
}

fn shape(s: &StreamShape) -> Value {
    let mut v = json!({
        "protocol": match s.protocol { Protocol::Http => "http", Protocol::Hls => "hls" },
        "container": s.container,
        "codec": s.codec,
        "audioChannels": s.channels,
        "audioBitrate": s.bitrate,
        "audioSamplerate": s.sample_rate,
    });
    if let Some(b) = s.bit_depth {
        v["audioBitdepth"] = json!(b);
    }
    v
}

fn plan_text(p: &Plan) -> String {
    match p {
        Plan::Direct => "raw".into(),
        Plan::Transcode { codec, kbps } => format!("{}-{kbps}", codec.name()),
    }
}

fn song_only(p: &Params) -> Result<(), Failure> {
    match p.require("mediaType")? {
        "song" => Ok(()),
        other => Err(Failure::new(Code::Generic, format!("mediaType {other:?} is not served: only song"))),
    }
}

/// `getTranscodeDecision`: POSTed `ClientInfo` against the song's audio.
pub async fn decision(playback: &Playback, user: &User, p: &Params) -> Result<Value, Failure> {
    let id = ids::parse_track(p.require("mediaId")?)?;
    song_only(p)?;
    let body = p.json_body().ok_or_else(|| Failure::missing("the ClientInfo JSON body"))?;
    let info: ClientInfo = serde_json::from_slice(body).map_err(|e| Failure::new(Code::Generic, format!("ClientInfo: {e}")))?;
    let t = playback.track(user.id, id).await.map_err(from_playback)?;
    let d = devices::decide(&t.track.audio, &info.profile());
    let mut v = json!({
        "canDirectPlay": matches!(d.plan, Some((Plan::Direct, _))),
        "canTranscode": matches!(d.plan, Some((Plan::Transcode { .. }, _))),
        "transcodeReason": d.reasons,
        "errorReason": if d.plan.is_none() { "no compatible playback profile found" } else { "" },
        "sourceStream": shape(&d.source),
    });
    if let Some((plan, to)) = &d.plan {
        let g = playback.grant(user.id, id).await.map_err(from_playback)?;
        v["transcodeParams"] = json!(format!("{}.{}.{}", plan_text(plan), g.expires, g.sig));
        if matches!(plan, Plan::Transcode { .. }) {
            v["transcodeStream"] = shape(to);
        }
    }
    Ok(json!({ "transcodeDecision": v }))
}

fn status(code: StatusCode, message: &str) -> Response {
    (code, [(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{message}\n")).into_response()
}

/// `getTranscodeStream`: the stream `transcodeParams` names, from `offset` seconds.
pub async fn stream(playback: &Playback, user: &User, p: &Params, headers: &HeaderMap) -> Response {
    let (Some(media), Some(params)) = (p.get("mediaId"), p.get("transcodeParams")) else {
        return status(StatusCode::BAD_REQUEST, "mediaId and transcodeParams are required");
    };
    if p.get("mediaType").is_some_and(|m| m != "song") {
        return status(StatusCode::BAD_REQUEST, "only songs are served");
    }
    let Ok(id) = ids::parse_track(media) else { return status(StatusCode::NOT_FOUND, "song not found") };
    let offset = match p.get("offset").filter(|o| !o.is_empty()).map(str::parse::<f64>) {
        None => 0.0,
        Some(Ok(o)) => o,
        Some(Err(_)) => return status(StatusCode::BAD_REQUEST, "offset must be a number of seconds"),
    };
    let t = match playback.track(user.id, id).await {
        Ok(t) => t,
        Err(e) => return failed(e),
    };
    let Some((format, kbps, grant)) = parse_params(params, user, id) else { return status(StatusCode::GONE, "transcodeParams are not valid for this song") };
    if let Err(e) = playback.verify(&grant).await {
        return failed(e);
    }
    let made = match playback.progressive(t.clone(), format, kbps, offset).await {
        Ok(m) => m,
        Err(e) => return failed(e),
    };
    respond(playback, &t, made, headers, false).await.unwrap_or_else(|f| status(StatusCode::INTERNAL_SERVER_ERROR, &f.message))
}

/// A playback error as the stream's HTTP status, variant by variant.
fn failed(e: PlaybackError) -> Response {
    use crate::cache::StreamError;
    let code = match &e {
        PlaybackError::NoSuchTrack | PlaybackError::NoSuchRendition | PlaybackError::NoSuchSegment(_) | PlaybackError::NoSuchList(_) => StatusCode::NOT_FOUND,
        PlaybackError::Sign(_) | PlaybackError::GrantRevoked => StatusCode::GONE,
        PlaybackError::AccountDisabled | PlaybackError::Account(_) => StatusCode::UNAUTHORIZED,
        PlaybackError::Stream(StreamError::Busy(secs)) => return busy(&e.to_string(), *secs),
        PlaybackError::BadOffset(_)
        | PlaybackError::LpcmOffset
        | PlaybackError::BadBitrate { .. }
        | PlaybackError::BadFormat(_)
        | PlaybackError::BadCodecs(_) => StatusCode::BAD_REQUEST,
        PlaybackError::NoRenditionForCodecs | PlaybackError::Unplayable(_) => StatusCode::UNPROCESSABLE_ENTITY,
        PlaybackError::Stream(_) | PlaybackError::Catalog(_) | PlaybackError::Store(_) | PlaybackError::Internal(_) => {
            tracing::error!(error = %e, "getTranscodeStream failed");
            return status(StatusCode::INTERNAL_SERVER_ERROR, "internal server error");
        }
    };
    status(code, &e.to_string())
}

/// A failed sign-in for `getTranscodeStream`: its errors are HTTP statuses, this one too.
pub fn unauthorized(f: &Failure) -> Response {
    match f.retry_after {
        Some(secs) => busy(&f.message, secs),
        None => status(StatusCode::UNAUTHORIZED, &f.message),
    }
}

/// 429 with `Retry-After`: apps retry.
fn busy(message: &str, secs: u32) -> Response {
    let mut r = status(StatusCode::TOO_MANY_REQUESTS, message);
    r.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
    r
}

/// `plan.expires.sig` → the stream and the grant it carries.
fn parse_params(raw: &str, user: &User, track: crate::domain::TrackId) -> Option<(Format, Option<u32>, SignedGrant)> {
    let mut parts = raw.splitn(3, '.');
    let (plan, expires, sig) = (parts.next()?, parts.next()?.parse::<i64>().ok()?, parts.next()?.to_string());
    let (format, kbps) = match plan {
        "raw" => (Format::Original, None),
        other => {
            let (codec, kbps) = other.split_once('-')?;
            (Format::Codec(Codec::parse(codec)?), Some(kbps.parse::<u32>().ok()?))
        }
    };
    Some((format, kbps, SignedGrant { user: user.id, track, expires, sig }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_info_maps_onto_a_device_profile() {
        let body = r#"{"name":"Play:1","platform":"Sonos","maxAudioBitrate":512000,"maxTranscodingAudioBitrate":192000,
            "directPlayProfiles":[{"containers":["mp3"],"audioCodecs":["mp3"],"protocols":["http"],"maxAudioChannels":2}],
            "transcodingProfiles":[{"container":"mp3","audioCodec":"mp3","protocol":"http","maxAudioChannels":2}],
            "codecProfiles":[{"type":"AudioCodec","name":"mp3","limitations":[
              {"name":"audioBitrate","comparison":"LessThanEqual","values":["320000"],"required":true}]}]}"#;
        let d = serde_json::from_str::<ClientInfo>(body).map(ClientInfo::profile).unwrap_or_default();
        assert_eq!((d.max_bitrate, d.max_transcode_bitrate, d.direct.len(), d.transcodes.len()), (512_000, 192_000, 1, 1));
        assert_eq!(d.codec_limits[0].1[0].comparison, Comparison::AtMost);
        assert!(serde_json::from_str::<ClientInfo>(r#"{"name":"x","platform":"y","transcodingProfiles":[{"protocol":"rtsp"}]}"#).is_err());
        assert!(serde_json::from_str::<ClientInfo>(r#"{"platform":"y"}"#).is_err(), "name is required");
    }

    #[test]
    fn params_carry_the_plan_and_the_grant() {
        let u = User { id: crate::domain::UserId(3), username: "a".into(), is_admin: false, created_at: 0, disabled: false, quota_bytes: None };
        let t = crate::domain::TrackId(9);
        let (f, k, g) = parse_params("mp3-192.1700000000.abc.def", &u, t).unwrap();
        assert!(matches!(f, Format::Codec(Codec::Mp3)) && k == Some(192));
        assert_eq!((g.expires, g.sig.as_str(), g.track, g.user), (1_700_000_000, "abc.def", t, u.id));
        assert!(matches!(parse_params("raw.1.x", &u, t), Some((Format::Original, None, _))));
        assert!(parse_params("flac-9.1.x", &u, t).is_none());
        assert!(parse_params("mp3.1.x", &u, t).is_none());
        assert!(parse_params("raw", &u, t).is_none());
    }
}
