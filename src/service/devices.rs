//! What a device plays, and how a track reaches it: a device's profile (the containers and
//! codecs it plays as they are, the transcodes it accepts in order of preference, limits per
//! codec, bitrate caps) against a track's audio, decided once for every protocol
//! (OpenSubsonic `getTranscodeDecision` today; UPnP and cast profiles later).
//!
//! Owns the rule: direct play when a direct-play profile takes the file as it is; otherwise
//! the first transcode the encoders can make within the device's limits (MP3, AAC in ADTS,
//! Opus in Ogg, at 48 kHz, as many channels as the file up to two); otherwise the reasons. Pure: no I/O, no HTTP.

use crate::catalog::TrackAudio;
use crate::encode::{Codec, OUTPUT_RATE};

/// How the bytes travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// One progressive HTTP response.
    Http,
    /// An HLS playlist and segments.
    Hls,
}

/// A property a limitation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Property {
    Channels,
    /// Bits per second.
    Bitrate,
    Profile,
    SampleRate,
    BitDepth,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Equals,
    NotEquals,
    AtMost,
    AtLeast,
}

/// One limit of a codec on a device (`audioBitrate <= 320000`); only `required` ones can
/// rule a stream out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limitation {
    pub property: Property,
    pub comparison: Comparison,
    pub values: Vec<String>,
    pub required: bool,
}

/// Files a device plays as they are; an empty list means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectPlay {
    pub containers: Vec<String>,
    pub codecs: Vec<String>,
    pub protocols: Vec<Protocol>,
    pub max_channels: Option<u16>,
}

/// A transcode a device accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscodeTo {
    pub container: String,
    pub codec: String,
    pub protocol: Protocol,
    pub max_channels: Option<u16>,
}

/// What a device plays.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceProfile {
    /// Bits per second for anything it plays (0: no cap).
    pub max_bitrate: u32,
    /// Bits per second for transcodes (0: no cap).
    pub max_transcode_bitrate: u32,
    pub direct: Vec<DirectPlay>,
    /// In order of preference.
    pub transcodes: Vec<TranscodeTo>,
    /// Limits per codec name.
    pub codec_limits: Vec<(String, Vec<Limitation>)>,
}

/// A stream as a device sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamShape {
    pub protocol: Protocol,
    pub container: String,
    pub codec: String,
    pub channels: u16,
    /// Bits per second.
    pub bitrate: u32,
    pub sample_rate: u32,
    pub bit_depth: Option<u32>,
}

/// How the track reaches the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Direct,
    Transcode { codec: Codec, kbps: u32 },
}

/// The decision, with the reasons direct play was not chosen (one per profile tried).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub source: StreamShape,
    /// `None` when nothing the device accepts can be made.
    pub plan: Option<(Plan, StreamShape)>,
    pub reasons: Vec<String>,
}

/// Container names as clients write them, as one name (`m4a` is `mp4`).
fn container_name(s: &str) -> String {
    match s.to_ascii_lowercase().as_str() {
        "m4a" | "m4b" | "mp4" | "alac" => "mp4".into(),
        "oga" | "ogg" | "opus" => "ogg".into(),
        "wave" | "wav" => "wav".into(),
        "adts" | "aac" => "aac".into(),
        other => other.into(),
    }
}

/// Codec names as clients write them, as one name (`pcm_s16le` is `pcm`).
fn codec_name(s: &str) -> String {
    let l = s.to_ascii_lowercase();
    if l.starts_with("pcm") {
        return "pcm".into();
    }
    match l.as_str() {
        "mp4a" | "aac_lc" => "aac".into(),
        other => other.into(),
    }
}

fn lossless(codec: &str) -> bool {
    matches!(codec, "flac" | "alac" | "pcm" | "wavpack" | "ape")
}

/// The track's audio as a device sees it.
pub fn source_shape(a: &TrackAudio) -> StreamShape {
    StreamShape {
        protocol: Protocol::Http,
        container: container_name(&a.container),
        codec: codec_name(&a.codec),
        channels: a.channels,
        bitrate: a.bitrate,
        sample_rate: a.sample_rate,
        bit_depth: a.bits_per_sample,
    }
}

fn listed(list: &[String], value: &str, norm: fn(&str) -> String) -> bool {
    list.is_empty() || list.iter().any(|x| norm(x) == value)
}

/// The value of `property` in `s` (`None`: not known, which no limitation rules out).
fn value_of(s: &StreamShape, property: Property) -> Option<String> {
    match property {
        Property::Channels => Some(s.channels.to_string()),
        Property::Bitrate => Some(s.bitrate.to_string()),
        Property::SampleRate => Some(s.sample_rate.to_string()),
        Property::BitDepth => s.bit_depth.map(|b| b.to_string()),
        Property::Profile => (s.codec == "aac").then(|| "LC".to_string()),
    }
}

/// Whether `s` meets `l`.
fn meets(s: &StreamShape, l: &Limitation) -> bool {
    let Some(v) = value_of(s, l.property) else { return true };
    let num = |x: &str| x.trim().parse::<f64>().ok();
    match l.comparison {
        Comparison::Equals => l.values.iter().any(|x| x.trim().eq_ignore_ascii_case(&v)),
        Comparison::NotEquals => !l.values.iter().any(|x| x.trim().eq_ignore_ascii_case(&v)),
        Comparison::AtMost => matches!((num(&v), l.values.first().and_then(|x| num(x))), (Some(a), Some(b)) if a <= b),
        Comparison::AtLeast => matches!((num(&v), l.values.first().and_then(|x| num(x))), (Some(a), Some(b)) if a >= b),
    }
}

fn limits<'a>(dev: &'a DeviceProfile, codec: &str) -> impl Iterator<Item = &'a Limitation> + 'a {
    let codec = codec.to_string();
    dev.codec_limits.iter().filter(move |(name, _)| codec_name(name) == codec).flat_map(|(_, ls)| ls.iter()).filter(|l| l.required)
}

/// Why `direct` does not take `s`, if it does not.
fn direct_refusal(dev: &DeviceProfile, d: &DirectPlay, s: &StreamShape) -> Option<String> {
    let name = format!("[{}/{}]", d.containers.join(","), d.codecs.join(","));
    if !d.protocols.is_empty() && !d.protocols.contains(&Protocol::Http) {
        return Some(format!("protocol not supported by profile {name}"));
    }
    if !listed(&d.containers, &s.container, container_name) {
        return Some(format!("container '{}' not supported by profile {name}", s.container));
    }
    if !listed(&d.codecs, &s.codec, codec_name) {
        return Some(format!("audio codec '{}' not supported by profile {name}", s.codec));
    }
    if d.max_channels.is_some_and(|m| s.channels > m) {
        return Some(format!("audio channels {} not supported by profile {name}", s.channels));
    }
    limits(dev, &s.codec).find(|l| !meets(s, l)).map(|l| format!("{:?} not supported by the {} limits", l.property, s.codec).to_lowercase())
}

/// The container a codec's progressive stream comes in.
fn container_of(codec: Codec) -> &'static str {
    match codec {
        Codec::Mp3 => "mp3",
        Codec::Aac => "aac",
        Codec::Opus => "ogg",
    }
}

/// The default bitrate and bounds of a transcode per codec, in kbps.
pub fn kbps_bounds(codec: Codec) -> (u32, std::ops::RangeInclusive<u32>) {
    match codec {
        Codec::Aac => (192, 32..=320),
        Codec::Opus => (128, 16..=256),
        Codec::Mp3 => (192, 32..=320),
    }
}

/// The stream `t` asks for from `src`, within the device's limits; `Err` says why not.
fn transcode_for(dev: &DeviceProfile, t: &TranscodeTo, src: &StreamShape) -> Result<(Plan, StreamShape), String> {
    if t.protocol != Protocol::Http {
        return Err(format!("protocol {:?} is not offered for transcodes", t.protocol).to_lowercase());
    }
    let wanted = if t.codec.is_empty() { &t.container } else { &t.codec };
    let codec = Codec::parse(&codec_name(wanted)).ok_or_else(|| format!("cannot transcode to '{wanted}'"))?;
    if !t.container.is_empty() && container_name(&t.container) != container_of(codec) {
        return Err(format!("cannot send {} in '{}'", codec.name(), t.container));
    }
    let (default, range) = kbps_bounds(codec);
    let kbps_of = |bps: u32| (bps > 0).then_some(bps / 1000);
    let cap = [kbps_of(dev.max_transcode_bitrate), kbps_of(dev.max_bitrate)].into_iter().flatten().min();
    // A lossless source gets what the device allows for transcodes; a lossy one keeps its
    // own rate (nothing is gained above it); both within every cap.
    let mut kbps = if lossless(&src.codec) || src.bitrate == 0 {
        kbps_of(dev.max_transcode_bitrate).or(kbps_of(dev.max_bitrate)).unwrap_or(default)
    } else {
        src.bitrate / 1000
    };
    kbps = kbps.min(cap.unwrap_or(u32::MAX));
    // Stereo stays stereo, mono stays mono: the encoders do not downmix.
    let channels = src.channels.clamp(1, 2);
    if t.max_channels.is_some_and(|m| m < channels) {
        return Err(format!("cannot send fewer than {channels} channels"));
    }
    for l in limits(dev, codec.name()) {
        if l.property == Property::Bitrate
            && l.comparison == Comparison::AtMost
            && let Some(max) = l.values.first().and_then(|v| v.trim().parse::<u32>().ok())
        {
            kbps = kbps.min(max / 1000);
        }
    }
    kbps = kbps.clamp(*range.start(), *range.end());
    // The codec's floor may be above what the device allows: then this profile cannot be met.
    if let Some(c) = cap.filter(|&c| kbps > c) {
        return Err(format!("{} cannot go as low as {c} kbps", codec.name()));
    }
    let shape = StreamShape {
        protocol: Protocol::Http,
        container: container_of(codec).into(),
        codec: codec.name().into(),
        channels,
        bitrate: kbps * 1000,
        sample_rate: OUTPUT_RATE,
        bit_depth: None,
    };
    if let Some(l) = limits(dev, codec.name()).find(|l| !meets(&shape, l)) {
        return Err(format!("{} cannot meet the {:?} limit", codec.name(), l.property).to_lowercase());
    }
    Ok((Plan::Transcode { codec, kbps }, shape))
}

/// How `audio` reaches a device with `dev`'s profile.
pub fn decide(audio: &TrackAudio, dev: &DeviceProfile) -> Decision {
    let source = source_shape(audio);
    let mut reasons = Vec::new();
    if dev.max_bitrate > 0 && source.bitrate > dev.max_bitrate {
        reasons.push("audio bitrate not supported".to_string());
    } else {
        for d in &dev.direct {
            match direct_refusal(dev, d, &source) {
                None => return Decision { plan: Some((Plan::Direct, source.clone())), source, reasons: Vec::new() },
                Some(r) => reasons.push(r),
            }
        }
        if dev.direct.is_empty() {
            reasons.push("no direct play profile".into());
        }
    }
    for t in &dev.transcodes {
        match transcode_for(dev, t, &source) {
            Ok(plan) => return Decision { source, plan: Some(plan), reasons },
            Err(r) => reasons.push(r),
        }
    }
    Decision { source, plan: None, reasons }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audio(container: &str, codec: &str, bitrate: u32, channels: u16) -> TrackAudio {
        TrackAudio {
            duration: 180.0,
            frames: 180 * 44_100,
            container: container.into(),
            codec: codec.into(),
            sample_rate: 44_100,
            channels,
            bits_per_sample: Some(16),
            bitrate,
            priming: 0,
            damage: None,
            loudness: None,
            album_loudness: None,
        }
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn sonos() -> DeviceProfile {
        DeviceProfile {
            max_bitrate: 512_000,
            max_transcode_bitrate: 192_000,
            direct: vec![DirectPlay { containers: strs(&["mp3"]), codecs: strs(&["mp3"]), protocols: vec![Protocol::Http], max_channels: Some(2) }],
            transcodes: vec![TranscodeTo { container: "mp3".into(), codec: "mp3".into(), protocol: Protocol::Http, max_channels: Some(2) }],
            codec_limits: vec![(
                "mp3".into(),
                vec![Limitation { property: Property::Bitrate, comparison: Comparison::AtMost, values: strs(&["320000"]), required: true }],
            )],
        }
    }

    #[test]
    fn a_file_the_device_plays_goes_as_it_is() {
        let d = decide(&audio("mp3", "mp3", 256_000, 2), &sonos());
        assert_eq!(d.plan.map(|p| p.0), Some(Plan::Direct));
        assert!(d.reasons.is_empty());
        // Any container and codec when the lists are empty.
        let any = DeviceProfile { direct: vec![DirectPlay::default()], ..Default::default() };
        assert_eq!(decide(&audio("flac", "flac", 900_000, 2), &any).plan.map(|p| p.0), Some(Plan::Direct));
        // m4a is mp4, pcm_s16le is pcm.
        let m4a =
            DeviceProfile { direct: vec![DirectPlay { containers: strs(&["m4a"]), codecs: strs(&["alac"]), ..Default::default() }], ..Default::default() };
        assert_eq!(decide(&audio("mp4", "alac", 900_000, 2), &m4a).plan.map(|p| p.0), Some(Plan::Direct));
    }

    #[test]
    fn otherwise_the_first_transcode_within_the_limits() {
        let d = decide(&audio("flac", "flac", 900_000, 2), &sonos());
        assert_eq!(d.reasons, ["audio bitrate not supported"], "above the global cap");
        let (plan, shape) = d.plan.unwrap();
        assert_eq!(plan, Plan::Transcode { codec: Codec::Mp3, kbps: 192 });
        assert_eq!((shape.container.as_str(), shape.bitrate, shape.sample_rate, shape.channels), ("mp3", 192_000, 48_000, 2));
        // Below the cap, the profile says why not.
        let d = decide(&audio("flac", "flac", 400_000, 2), &sonos());
        assert_eq!(d.reasons, ["container 'flac' not supported by profile [mp3/mp3]"]);
        // A lossy source keeps its rate; a codec limit clamps it.
        let d = decide(&audio("ogg", "vorbis", 160_000, 2), &sonos());
        assert_eq!(d.plan.unwrap().0, Plan::Transcode { codec: Codec::Mp3, kbps: 160 });
        let mut tight = sonos();
        tight.max_transcode_bitrate = 0;
        tight.max_bitrate = 0;
        tight.codec_limits[0].1[0].values = strs(&["128000"]);
        assert_eq!(decide(&audio("flac", "flac", 900_000, 2), &tight).plan.unwrap().0, Plan::Transcode { codec: Codec::Mp3, kbps: 128 });
    }

    #[test]
    fn what_cannot_be_made_is_skipped_with_a_reason() {
        let dev = DeviceProfile {
            transcodes: vec![
                TranscodeTo { container: "flac".into(), codec: "flac".into(), protocol: Protocol::Http, max_channels: None },
                TranscodeTo { container: "mp4".into(), codec: "aac".into(), protocol: Protocol::Http, max_channels: None },
                TranscodeTo { container: "ts".into(), codec: "aac".into(), protocol: Protocol::Hls, max_channels: None },
                TranscodeTo { container: "ogg".into(), codec: "opus".into(), protocol: Protocol::Http, max_channels: None },
            ],
            codec_limits: vec![(
                "opus".into(),
                vec![Limitation { property: Property::SampleRate, comparison: Comparison::AtMost, values: strs(&["44100"]), required: true }],
            )],
            ..Default::default()
        };
        let d = decide(&audio("flac", "flac", 900_000, 2), &dev);
        assert!(d.plan.is_none(), "{d:?}");
        assert_eq!(d.reasons.len(), 5, "{:?}", d.reasons);
        // A limit that is not required rules nothing out.
        let mut soft = dev.clone();
        soft.codec_limits[0].1[0].required = false;
        assert_eq!(decide(&audio("flac", "flac", 900_000, 2), &soft).plan.unwrap().0, Plan::Transcode { codec: Codec::Opus, kbps: 128 });
        // A cap below the codec's floor rules the profile out (never a stream above the cap).
        let mut tiny = sonos();
        tiny.max_transcode_bitrate = 24_000;
        assert!(decide(&audio("flac", "flac", 900_000, 2), &tiny).plan.is_none());
        // A lossy file of unknown bitrate gets the device's transcode rate.
        assert_eq!(decide(&audio("ogg", "vorbis", 0, 2), &sonos()).plan.unwrap().0, Plan::Transcode { codec: Codec::Mp3, kbps: 192 });
        // No downmix: a mono-only device gets no stereo file, a mono file stays mono.
        let mono = DeviceProfile {
            transcodes: vec![TranscodeTo { container: "mp3".into(), codec: "mp3".into(), protocol: Protocol::Http, max_channels: Some(1) }],
            ..Default::default()
        };
        assert!(decide(&audio("flac", "flac", 900_000, 2), &mono).plan.is_none());
        assert_eq!(decide(&audio("flac", "flac", 900_000, 1), &mono).plan.unwrap().1.channels, 1);
    }
}
