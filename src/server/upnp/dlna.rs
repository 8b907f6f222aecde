//! DLNA's view of a rendition (DLNA Guidelines 2006, 7.3 and 7.4): the `protocolInfo` a
//! DIDL-Lite `<res>` carries (`http-get:*:MIME:DLNA.ORG_PN=…;DLNA.ORG_OP=…;DLNA.ORG_CI=…;
//! DLNA.ORG_FLAGS=…`), and the HTTP headers a DLNA renderer asks for on the stream itself:
//! `contentFeatures.dlna.org` (the same fourth field) when `getcontentFeatures.dlna.org: 1`
//! is sent, `transferMode.dlna.org`, and `TimeSeekRange.dlna.org` (a time mapped to bytes
//! on seekable transcodes; 406 elsewhere).
//!
//! Only wire: which renditions exist is `service::lan`.

use axum::http::{HeaderMap, HeaderValue};

use crate::encode::Codec;
use crate::server::{ApiError, ApiResult};
use crate::service::lan::Rendition;
use crate::service::playback::Format;

/// `DLNA.ORG_FLAGS`: DLNA 1.5, connection stalling, background and streaming transfer
/// (minidlna's and Platinum's value for audio).
const FLAGS: &str = "01700000000000000000000000000000";

/// The DLNA media format profile of a rendition, when it fits one.
pub fn profile(r: &Rendition) -> Option<&'static str> {
    let stereo = r.channels <= 2;
    match (&r.format, r.original.as_ref().map(|(c, k)| (c.as_str(), k.as_str()))) {
        (Format::Codec(Codec::Mp3), _) => Some("MP3"),
        (Format::Codec(Codec::Aac), _) => Some(if r.bitrate <= 320_000 { "AAC_ADTS_320" } else { "AAC_ADTS" }),
        (Format::Lpcm, _) => Some("LPCM"),
        (Format::Original, Some((_, "mp3"))) if stereo && [32_000, 44_100, 48_000].contains(&r.sample_rate) && r.bitrate <= 320_000 => Some("MP3"),
        (Format::Original, Some(("mp4", "aac"))) if stereo && r.sample_rate <= 48_000 => Some(if r.bitrate <= 320_000 { "AAC_ISO_320" } else { "AAC_ISO" }),
        _ => None,
    }
}

/// The MIME type DLNA devices know a rendition by (which the stream is then served as).
pub fn mime(r: &Rendition) -> &'static str {
    match (&r.format, r.original.as_ref().map(|(c, _)| c.as_str())) {
        (Format::Codec(Codec::Aac), _) => "audio/vnd.dlna.adts",
        (Format::Original, Some("flac")) => "audio/x-flac",
        (Format::Original, Some("ogg")) => "application/ogg",
        (Format::Original, Some("wav")) => "audio/wav",
        _ => r.mime,
    }
}

/// The fourth field of the `protocolInfo`, and the `contentFeatures.dlna.org` value.
pub fn features(r: &Rendition) -> String {
    let op = match (r.seek.time, r.seek.bytes) {
        (true, true) => "11",
        (true, false) => "10",
        (false, true) => "01",
        (false, false) => "00",
    };
    let ci = if matches!(r.format, Format::Original) { 0 } else { 1 };
    let pn = profile(r).map(|p| format!("DLNA.ORG_PN={p};")).unwrap_or_default();
    format!("{pn}DLNA.ORG_OP={op};DLNA.ORG_CI={ci};DLNA.ORG_FLAGS={FLAGS}")
}

/// The whole `protocolInfo` of a `<res>`.
pub fn protocol_info(r: &Rendition) -> String {
    format!("http-get:*:{}:{}", mime(r), features(r))
}

/// What a request asked of DLNA.
#[derive(Debug, Default, PartialEq)]
pub struct Asked {
    /// Any DLNA header was sent: the answer carries DLNA's headers and MIME types.
    pub dlna: bool,
    /// `getcontentFeatures.dlna.org: 1`.
    pub features: bool,
    /// `TimeSeekRange.dlna.org: npt=START-[END]`, in seconds.
    pub time_seek: Option<(f64, Option<f64>)>,
}

/// An NPT time (`12.5`, `0:00:12.5`, `00:00:12.500`), in seconds.
fn npt(s: &str) -> Option<f64> {
    let s = s.trim();
    let mut secs = 0.0;
    for part in s.split(':') {
        let v: f64 = part.parse().ok()?;
        if !v.is_finite() || v < 0.0 {
            return None;
        }
        secs = secs * 60.0 + v;
    }
    (s.split(':').count() <= 3).then_some(secs)
}

impl Asked {
    /// Reads the DLNA request headers; a malformed `TimeSeekRange.dlna.org` is a 400.
    pub fn of(headers: &HeaderMap) -> ApiResult<Asked> {
        let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::trim);
        let features = get("getcontentfeatures.dlna.org") == Some("1");
        let time_seek = match get("timeseekrange.dlna.org") {
            None => None,
            Some(v) => {
                let bad = || ApiError::bad_request("bad_time_seek", format!("TimeSeekRange.dlna.org {v:?} is not npt=START-[END]"));
                let range = v.strip_prefix("npt=").ok_or_else(bad)?;
                let (a, b) = range.split_once('-').ok_or_else(bad)?;
                let start = npt(a).ok_or_else(bad)?;
                let end = match b.trim() {
                    "" => None,
                    b => Some(npt(b).filter(|e| *e >= start).ok_or_else(bad)?),
                };
                Some((start, end))
            }
        };
        let dlna = features || time_seek.is_some() || get("transfermode.dlna.org").is_some();
        Ok(Asked { dlna, features, time_seek })
    }

    /// Adds DLNA's headers to an answer serving `r`: the transfer mode, the content features
    /// when asked, and the DLNA MIME type.
    pub fn decorate(&self, r: &Rendition, headers: &mut HeaderMap) {
        if !self.dlna {
            return;
        }
        headers.insert("transfermode.dlna.org", HeaderValue::from_static("Streaming"));
        if self.features
            && let Ok(v) = HeaderValue::from_str(&features(r))
        {
            headers.insert("contentfeatures.dlna.org", v);
        }
        headers.insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static(mime(r)));
    }
}

/// The time-seek refusal for a rendition that maps no time to bytes.
pub fn no_time_seek() -> ApiError {
    ApiError::Status(axum::http::StatusCode::NOT_ACCEPTABLE, "time_seek_unsupported", "this stream seeks by byte range only (DLNA.ORG_OP=01)".into())
}

/// An NPT time as DLNA writes it back (`12.345`).
pub fn npt_secs(s: f64) -> String {
    format!("{s:.3}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::lan::Seek;

    fn rendition(format: Format, original: Option<(&str, &str)>, bitrate: u32, rate: u32) -> Rendition {
        Rendition {
            format,
            kbps: None,
            mime: "audio/mpeg",
            original: original.map(|(a, b)| (a.to_string(), b.to_string())),
            size: None,
            seek: Seek { bytes: true, time: !matches!(format, Format::Original) },
            bitrate,
            sample_rate: rate,
            channels: 2,
            bits_per_sample: None,
        }
    }

    #[test]
    fn protocol_info_names_the_profiles() {
        let mp3 = rendition(Format::Codec(Codec::Mp3), None, 320_000, 48_000);
        assert_eq!(protocol_info(&mp3), "http-get:*:audio/mpeg:DLNA.ORG_PN=MP3;DLNA.ORG_OP=11;DLNA.ORG_CI=1;DLNA.ORG_FLAGS=01700000000000000000000000000000");
        let adts = rendition(Format::Codec(Codec::Aac), None, 192_000, 48_000);
        assert!(protocol_info(&adts).starts_with("http-get:*:audio/vnd.dlna.adts:DLNA.ORG_PN=AAC_ADTS_320;"));
        let l16 = crate::service::lan::lpcm(2, 1000);
        assert_eq!(
            protocol_info(&l16),
            "http-get:*:audio/L16;rate=48000;channels=2:DLNA.ORG_PN=LPCM;DLNA.ORG_OP=11;DLNA.ORG_CI=1;DLNA.ORG_FLAGS=01700000000000000000000000000000"
        );
        let flac = rendition(Format::Original, Some(("flac", "flac")), 900_000, 96_000);
        assert_eq!(protocol_info(&flac), "http-get:*:audio/x-flac:DLNA.ORG_OP=01;DLNA.ORG_CI=0;DLNA.ORG_FLAGS=01700000000000000000000000000000");
        assert_eq!(profile(&rendition(Format::Original, Some(("mp3", "mp3")), 256_000, 44_100)), Some("MP3"));
        assert_eq!(profile(&rendition(Format::Original, Some(("mp3", "mp3")), 256_000, 22_050)), None);
        assert_eq!(profile(&rendition(Format::Original, Some(("mp4", "aac")), 256_000, 44_100)), Some("AAC_ISO_320"));
        assert_eq!(profile(&rendition(Format::Original, Some(("mp4", "alac")), 900_000, 44_100)), None);
    }

    #[test]
    fn time_seek_ranges_parse() {
        let mut h = HeaderMap::new();
        h.insert("timeseekrange.dlna.org", HeaderValue::from_static("npt=0:01:02.5-"));
        assert_eq!(Asked::of(&h).unwrap().time_seek, Some((62.5, None)));
        h.insert("timeseekrange.dlna.org", HeaderValue::from_static("npt=10-20.25"));
        assert_eq!(Asked::of(&h).unwrap().time_seek, Some((10.0, Some(20.25))));
        for bad in ["10-", "npt=x-", "npt=20-10", "npt=-5", "npt=1:2:3:4-"] {
            h.insert("timeseekrange.dlna.org", HeaderValue::from_static(bad));
            assert!(Asked::of(&h).is_err(), "{bad}");
        }
        assert_eq!(Asked::of(&HeaderMap::new()).unwrap(), Asked::default());
    }
}
