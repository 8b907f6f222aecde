//! Packaging: turns a stored original into HLS renditions. Owns the segment grid
//! ([`timeline`]), the fMP4 writer ([`fmp4`]), the MPEG-TS view of AAC segments ([`ts`]),
//! the playlists ([`hls`]) and [`produce`], which
//! decodes, resamples, encodes and packages any run of segments of one rung.
//!
//! Segment `k` is produced without segments `0..k`: the decoder seeks, and the encoder starts
//! at a grid point at least [`PREROLL`] samples (plus its own delay) before the segment, its
//! packets before the segment are thrown away. Because the encoder start is on the 0.32 s
//! grid and packet numbering follows from it, a cold segment carries exactly the packets
//! (same numbering, same timestamps) a continuous encode would, and the pre-roll lets the
//! encoder's state converge so the join is not audible (tests/hls.rs measures it).
//!
//! Depends on `media` (decode, resample) and `encode`; knows nothing of caches, the store,
//! the catalog or HTTP: the caller hands in a function that opens the original.

pub mod fmp4;
pub mod hls;
mod ogg;
pub mod pcm;
pub mod progressive;
mod pump;
pub mod seekable;
mod timeline;
pub mod ts;

pub use pump::{Item, Sequence};
pub use timeline::{Layout, Timeline, UNIT};

use std::io;
use std::ops::Range;

use serde::{Deserialize, Serialize};
use symphonia::core::io::MediaSource;

use crate::encode::{self, AacEncoder, Codec, EncodeError, Encoder, OUTPUT_RATE};
use crate::media::decode::{DecodeError, SourceInfo};
use crate::media::resample::ResampleError;

/// Bumped whenever the bytes of a produced init or segment change (cache keys and ETags
/// include it, so stale cached bytes are never served).
pub const FORMAT_VERSION: u32 = 4;

/// Encoder warm-up before a cold segment, in output samples (80 ms: the Opus pre-roll of
/// Opus-in-ISOBMFF §4.3.6.2; several AAC frames).
pub const PREROLL: u64 = 3840;

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("opening the original: {0}")]
    Open(#[from] io::Error),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Resample(#[from] ResampleError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("segment {0} does not exist")]
    NoSuchSegment(u32),
}

/// One rendition of the ladder: a codec at a bitrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rung {
    pub codec: Codec,
    /// Bits per second.
    pub bitrate: u32,
}

impl Rung {
    /// The rung's name in URLs: `aac-96`, `opus-128`.
    pub fn id(&self) -> String {
        format!("{}-{}", self.codec.name(), self.bitrate / 1000)
    }

    pub fn parse_id(s: &str) -> Option<Rung> {
        let (c, k) = s.split_once('-')?;
        let codec = Codec::parse(c)?;
        let kbps: u32 = k.parse().ok()?;
        Some(Rung { codec, bitrate: kbps.checked_mul(1000)? })
    }

    /// The RFC 6381 `CODECS` value for HLS (lowercase `opus`: what MSE accepts).
    pub fn codecs_attr(&self) -> &'static str {
        match self.codec {
            Codec::Aac => "mp4a.40.2",
            Codec::Opus => "opus",
            Codec::Mp3 => "mp4a.40.34",
        }
    }

    /// An upper bound of any segment's bitrate including container overhead (moof, sample
    /// sizes), for `BANDWIDTH`. AAC frames are capped at [`encode::aac_peak_bitrate`];
    /// Opus runs constrained VBR. tests/hls.rs checks the bound against real segments.
    pub fn peak_bandwidth(&self) -> u64 {
        let b = u64::from(self.bitrate);
        match self.codec {
            Codec::Opus => b * 6 / 5 + 8_000,
            _ => u64::from(encode::aac_peak_bitrate(self.bitrate)) + 8_000,
        }
    }

    /// Average bitrate including container overhead, for `AVERAGE-BANDWIDTH`.
    pub fn average_bandwidth(&self) -> u64 {
        u64::from(self.bitrate) + 2_000
    }

    pub fn is_hls(&self) -> bool {
        matches!(self.codec, Codec::Aac | Codec::Opus)
    }
}

/// The sample entry, delay and layout of a rung for a source.
pub struct RenditionPlan {
    pub track: fmp4::TrackConfig,
    pub layout: Layout,
    pub channels: usize,
}

impl RenditionPlan {
    pub fn new(src: &SourceInfo, rung: &Rung) -> Result<(RenditionPlan, Box<dyn Encoder>), PackageError> {
        let channels = src.out_channels() as usize;
        let (entry, enc): (fmp4::SampleEntry, Box<dyn Encoder>) = match rung.codec {
            Codec::Aac => {
                let e = AacEncoder::new(rung.bitrate, channels)?;
                (fmp4::SampleEntry::Aac { asc: e.audio_specific_config().to_vec(), bitrate: rung.bitrate }, Box::new(e))
            }
            Codec::Opus => {
                let e = encode::OpusEncoder::new(rung.bitrate, channels)?;
                let pre_skip = e.delay().min(u32::from(u16::MAX)) as u16;
                (fmp4::SampleEntry::Opus { pre_skip }, Box::new(e))
            }
            Codec::Mp3 => return Err(EncodeError::Setup("MP3 has no HLS rendition here".into()).into()),
        };
        let timeline = Timeline::for_source(src.frames, src.sample_rate);
        let layout = Layout::new(timeline, enc.frame_len(), enc.delay());
        let track = fmp4::TrackConfig {
            entry,
            channels: channels as u16,
            timescale: OUTPUT_RATE,
            frame_len: enc.frame_len() as u32,
            priming: enc.delay(),
            duration: timeline.frames,
        };
        Ok((RenditionPlan { track, layout, channels }, enc))
    }
}

/// The initialization segment of `rung` for `src`.
pub fn init_segment(src: &SourceInfo, rung: &Rung) -> Result<Vec<u8>, PackageError> {
    let (plan, _) = RenditionPlan::new(src, rung)?;
    Ok(fmp4::init_segment(&plan.track))
}

/// Opens the stored original afresh (each production reads it independently).
pub type OpenSource<'a> = &'a (dyn Fn() -> io::Result<Box<dyn MediaSource>> + Sync);

/// Produces segments `segs` of `rung` in one encoder session, handing each finished segment
/// to `emit` as soon as it is complete. `emit` returns false to stop early. An MP3 rung's
/// segments are raw frames for seekable streams ([`seekable`]), each in its own session.
pub fn produce(
    open: OpenSource<'_>,
    ext_hint: &str,
    src: &SourceInfo,
    rung: &Rung,
    segs: Range<u32>,
    emit: &mut dyn FnMut(u32, Vec<u8>) -> bool,
) -> Result<(), PackageError> {
    produce_sequence(&Sequence::one(open, ext_hint, src, 1.0), rung, segs, emit)
}

/// [`produce`] over a [`Sequence`]: one original, or a station of several back to back.
pub fn produce_sequence(seq: &Sequence<'_>, rung: &Rung, segs: Range<u32>, emit: &mut dyn FnMut(u32, Vec<u8>) -> bool) -> Result<(), PackageError> {
    if rung.codec == Codec::Mp3 {
        return seekable::produce_mp3(seq, rung, segs, emit);
    }
    let src = &seq.info;
    let (plan, mut enc) = RenditionPlan::new(src, rung)?;
    let layout = plan.layout;
    let count = layout.timeline.segment_count();
    if segs.start >= segs.end || segs.end > count {
        return Err(PackageError::NoSuchSegment(segs.end.max(segs.start)));
    }
    let f = layout.frame_len;
    let first = layout.first_packet(segs.start);
    let last_end = layout.end_packet(segs.end - 1);
    // Encoder start: on the grid, with room for the encoder delay and the pre-roll.
    let s0 = if segs.start == 0 { 0 } else { (first * f).saturating_sub(layout.delay + PREROLL) / UNIT * UNIT };
    let mut pump = seq.pump_at(s0)?;
    let mut packets = Vec::new();
    let mut next_packet = s0 / f;
    let mut seg = segs.start;
    let mut seg_packets: Vec<Vec<u8>> = Vec::new();
    while next_packet < last_end {
        packets.clear();
        enc.encode(pump.next(f as usize)?, &mut packets)?;
        for p in packets.drain(..) {
            let j = next_packet;
            next_packet += 1;
            if j < first {
                continue;
            }
            seg_packets.push(p);
            if j + 1 == layout.end_packet(seg) {
                let base = layout.first_packet(seg) * f;
                let bytes = fmp4::media_segment(&plan.track, seg + 1, base, &seg_packets);
                seg_packets.clear();
                if !emit(seg, bytes) {
                    return Ok(());
                }
                seg += 1;
                if seg >= segs.end {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "../../tests/e2e/common/wav.rs"]
pub(crate) mod test_wav;

#[cfg(test)]
mod tests {
    use super::test_wav as wav;
    use super::*;
    use crate::media::probe::probe_path;
    use std::path::{Path, PathBuf};

    pub(crate) fn fixture(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(rel)
    }

    pub(crate) fn source_info(path: &Path) -> SourceInfo {
        let p = probe_path(path).unwrap();
        SourceInfo { container: p.container, codec: p.codec, sample_rate: p.sample_rate, channels: p.channels, frames: p.frames, priming: p.priming }
    }

    #[test]
    fn encoders_emit_one_packet_per_frame() {
        for codec in [Codec::Aac, Codec::Opus] {
            let mut e = encode::new_encoder(codec, 128_000, 2).unwrap();
            let frame = vec![0.1f32; e.frame_len() * 2];
            let mut out = Vec::new();
            for _ in 0..10 {
                e.encode(&frame, &mut out).unwrap();
            }
            assert_eq!(out.len(), 10, "{codec:?}");
        }
    }

    #[test]
    fn every_segment_of_a_fixture_is_produced() {
        let path = fixture("library/Björk - Homogenic/01 Hunter.flac");
        let src = source_info(&path);
        for rung in [Rung { codec: Codec::Aac, bitrate: 96_000 }, Rung { codec: Codec::Opus, bitrate: 64_000 }] {
            let open = || -> io::Result<Box<dyn MediaSource>> { Ok(Box::new(std::fs::File::open(&path)?)) };
            let count = Timeline::for_source(src.frames, src.sample_rate).segment_count();
            let mut got = Vec::new();
            produce(&open, "flac", &src, &rung, 0..count, &mut |k, b| {
                got.push((k, b.len()));
                true
            })
            .unwrap();
            assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), (0..count).collect::<Vec<_>>());
            // A later segment alone, cold.
            let mut alone = Vec::new();
            produce(&open, "flac", &src, &rung, count - 1..count, &mut |k, b| {
                alone.push((k, b.len()));
                true
            })
            .unwrap();
            assert_eq!(alone.len(), 1);
        }
    }
    /// A 12 s stereo two-tone WAV at 44.1 kHz.
    fn tone_wav(dir: &Path) -> PathBuf {
        let path = dir.join("tone.wav");
        let n = 44_100 * 12;
        let mut data: Vec<i16> = Vec::new();
        for i in 0..n {
            let t = i as f64 / 44_100.0;
            let v = 0.35 * (std::f64::consts::TAU * 440.0 * t).sin() + 0.15 * (std::f64::consts::TAU * 660.0 * t).sin();
            let w = 0.3 * (std::f64::consts::TAU * 550.0 * t).sin();
            data.extend([v, w].map(|x| (x * 32767.0) as i16));
        }
        wav::write_wav(&path, 44_100, 2, &data);
        path
    }

    /// AAC segments produced cold, each in its own encoder session, are byte for byte the
    /// segments of one continuous session: FDK's VBR mode converges within the pre-roll.
    #[test]
    fn cold_aac_segments_equal_a_continuous_encode() {
        let dir = tempfile::tempdir().unwrap();
        let path = tone_wav(dir.path());
        let src = source_info(&path);
        let open = || -> io::Result<Box<dyn MediaSource>> { Ok(Box::new(std::fs::File::open(&path)?)) };
        let count = Timeline::for_source(src.frames, src.sample_rate).segment_count();
        for rung in [Rung { codec: Codec::Aac, bitrate: 96_000 }, Rung { codec: Codec::Aac, bitrate: 192_000 }, Rung { codec: Codec::Opus, bitrate: 128_000 }] {
            let mut continuous = Vec::new();
            produce(&open, "wav", &src, &rung, 0..count, &mut |_, b| {
                continuous.push(b);
                true
            })
            .unwrap();
            let mut same = 0;
            for k in 0..count {
                let mut cold = Vec::new();
                produce(&open, "wav", &src, &rung, k..k + 1, &mut |_, b| {
                    cold = b;
                    true
                })
                .unwrap();
                same += usize::from(cold == continuous[k as usize]);
            }
            eprintln!("{}: {same}/{count} cold segments identical to the continuous encode", rung.id());
            if rung.codec == Codec::Aac {
                assert_eq!(same, count as usize, "{}", rung.id());
            }
        }
    }
}
