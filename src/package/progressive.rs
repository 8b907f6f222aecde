//! Progressive streams: one continuous encode from any start time to the end, as a byte
//! stream a plain HTTP response can carry: ADTS for AAC, Ogg for Opus, raw MPEG frames for
//! MP3. The sink receives chunks of about half a second as they are ready and returns false
//! to stop (the listener went away).

use super::ogg::{self, OggWriter};
use super::pump::FramePump;
use super::seekable;
use super::{Layout, OpenSource, PackageError, Timeline};
use crate::encode::{self, Codec};
use crate::media::decode::SourceInfo;

/// Packets gathered into one chunk (Ogg page) before it goes out: about 0.5 s.
const CHUNK_PACKETS: usize = 25;

/// What a progressive stream will contain.
#[derive(Debug, Clone, Copy)]
pub struct StreamPlan {
    /// Source frame the stream starts at.
    pub src_start: u64,
    /// Playable seconds from the start point to the end.
    pub duration: f64,
    /// Linear gain (loudness normalisation; 1.0: none).
    pub gain: f32,
}

pub fn plan(src: &SourceInfo, offset_secs: f64) -> StreamPlan {
    let offset = if offset_secs.is_finite() { offset_secs.max(0.0) } else { 0.0 };
    let src_start = ((offset * f64::from(src.sample_rate)) as u64).min(src.frames);
    StreamPlan { src_start, duration: (src.frames - src_start) as f64 / f64::from(src.sample_rate.max(1)), gain: 1.0 }
}

pub fn stream(
    open: OpenSource<'_>,
    ext: &str,
    src: &SourceInfo,
    codec: Codec,
    bitrate: u32,
    plan: StreamPlan,
    sink: &mut dyn FnMut(Vec<u8>) -> bool,
) -> Result<(), PackageError> {
    let channels = src.out_channels() as usize;
    let frames = Timeline::for_source(src.frames - plan.src_start, src.sample_rate).frames;
    let mut pump = FramePump::open(open, ext, src, plan.src_start)?;
    pump.set_gain(plan.gain);
    if codec == Codec::Mp3 {
        return mp3_stream(&mut pump, src, bitrate, frames, sink);
    }
    let mut enc = encode::new_encoder(codec, bitrate, channels)?;
    let f = enc.frame_len();
    let delay = u64::from(enc.delay());
    let mut packets = Vec::new();
    if codec == Codec::Opus {
        let mut ogg = OggWriter::new(rand::random());
        let head = ogg::opus_head(channels as u8, delay as u16, src.sample_rate);
        let mut first = ogg.page(&[head], 0, ogg::HEADER_BOS);
        first.extend(ogg.page(&[ogg::opus_tags()], 0, 0));
        if !sink(first) {
            return Ok(());
        }
        let total = (frames + delay).div_ceil(f as u64);
        let mut done = 0u64;
        while done < total {
            enc.encode(pump.next(f)?, &mut packets)?;
            done += 1;
            if packets.len() >= CHUNK_PACKETS || done == total {
                let last = done == total;
                // RFC 7845 §4: the granule counts decoded samples including the pre-skip;
                // the last one ends at the playable length.
                let granule = if last { delay + frames } else { done * f as u64 };
                let page = ogg.page(&packets, granule, if last { ogg::HEADER_EOS } else { 0 });
                packets.clear();
                if !sink(page) {
                    return Ok(());
                }
            }
        }
    } else {
        // AAC in ADTS.
        let total = (frames + delay).div_ceil(f as u64);
        for done in 1..=total {
            enc.encode(pump.next(f)?, &mut packets)?;
            if packets.len() >= CHUNK_PACKETS || done == total {
                let mut chunk = Vec::with_capacity(packets.iter().map(|p| p.len() + 7).sum());
                for p in packets.drain(..) {
                    chunk.extend(adts_header(channels as u16, p.len()));
                    chunk.extend(p);
                }
                if !sink(chunk) {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// MP3: the LAME tag first (frame count, delay, padding), then exactly its frames.
fn mp3_stream(pump: &mut FramePump, src: &SourceInfo, bitrate: u32, frames: u64, sink: &mut dyn FnMut(Vec<u8>) -> bool) -> Result<(), PackageError> {
    let channels = src.out_channels() as usize;
    let total = seekable::mp3_frames(frames);
    if !sink(seekable::mp3_info_frame(encode::mp3_standard_kbps(bitrate), channels as u16, frames, src.sample_rate)) {
        return Ok(());
    }
    let mut lame = seekable::Mp3Frames::new(bitrate, channels)?;
    let mut chunk = Vec::with_capacity(CHUNK_PACKETS * lame.frame_bytes());
    let mut done = 0u64;
    while done < total {
        lame.encode(pump.next(Codec::Mp3.frame_len())?, &mut |fr| {
            if done < total {
                chunk.extend_from_slice(fr);
                done += 1;
            }
        })?;
        if (chunk.len() >= CHUNK_PACKETS * lame.frame_bytes() || done == total) && !sink(std::mem::take(&mut chunk)) {
            return Ok(());
        }
    }
    Ok(())
}

/// A progressive stream cut from one rung's HLS segments instead of encoded for itself: the
/// same packets, re-framed as ADTS (AAC) or Ogg (Opus). Many listeners of one audio then
/// share the segment cache's encodes, and a listener holds no transcode slot while its
/// socket drains at playback speed.
///
/// Feed it the rung's segments from [`Rewrap::first_segment`] on, in order.
pub struct Rewrap {
    codec: Codec,
    channels: u16,
    layout: Layout,
    /// First packet sent (a little before the start point, for the decoder to converge).
    first: u64,
    /// Opus: samples the decoder drops before the start point (`pre_skip`).
    pre_skip: u64,
    /// Playable samples from the start point to the end.
    playable: u64,
    ogg: OggWriter,
}

/// Opus pre-roll before a mid-stream start (RFC 7845 §4.6: 80 ms).
const OPUS_PREROLL: u64 = 3840;

impl Rewrap {
    /// `priming` is the rendition's encoder delay (its init segment's edit list); the
    /// stream starts at `offset_secs` of the playable timeline.
    pub fn new(codec: Codec, channels: u16, priming: u64, timeline: Timeline, offset_secs: f64) -> Result<Rewrap, PackageError> {
        let f = match codec {
            Codec::Aac => 1024u64,
            Codec::Opus => 960,
            Codec::Mp3 => return Err(PackageError::NoSuchSegment(0)),
        };
        let layout = Layout::new(timeline, f as usize, priming as u32);
        let offset = if offset_secs.is_finite() { offset_secs.max(0.0) } else { 0.0 };
        let start = ((offset * f64::from(encode::OUTPUT_RATE)) as u64).min(timeline.frames);
        let first = match codec {
            _ if start == 0 => 0,
            // One packet early: an AAC decoder's first frame after a cut is its overlap.
            Codec::Aac => ((start + priming) / f).saturating_sub(1),
            _ => (start + priming).saturating_sub(OPUS_PREROLL) / f,
        };
        let first = first.min(layout.total_packets().saturating_sub(1));
        let pre_skip = (start + priming).saturating_sub(first * f);
        Ok(Rewrap { codec, channels, layout, first, pre_skip, playable: timeline.frames - start, ogg: OggWriter::new(rand::random()) })
    }

    /// The segment holding the first packet to send.
    pub fn first_segment(&self) -> u32 {
        self.layout.segment_of_packet(self.first)
    }

    pub fn segment_count(&self) -> u32 {
        self.layout.timeline.segment_count()
    }

    /// What goes before the first segment's bytes (Ogg Opus headers; nothing for ADTS).
    pub fn header(&mut self) -> Vec<u8> {
        match self.codec {
            Codec::Opus => {
                let head = ogg::opus_head(self.channels as u8, self.pre_skip.min(u64::from(u16::MAX)) as u16, encode::OUTPUT_RATE);
                let mut out = self.ogg.page(&[head], 0, ogg::HEADER_BOS);
                out.extend(self.ogg.page(&[ogg::opus_tags()], 0, 0));
                out
            }
            _ => Vec::new(),
        }
    }

    /// The stream bytes of one media segment of the rung.
    pub fn segment(&mut self, segment: &[u8]) -> Result<Vec<u8>, PackageError> {
        let bad = || PackageError::Open(std::io::Error::other("a cached segment does not parse"));
        let (base, packets) = super::fmp4::packets(segment).ok_or_else(bad)?;
        let f = self.layout.frame_len;
        let total = self.layout.total_packets();
        let from = base / f;
        let mut out = Vec::new();
        let mut page: Vec<Vec<u8>> = Vec::new();
        for (i, p) in packets.iter().enumerate() {
            let j = from + i as u64;
            if j < self.first || j >= total {
                continue;
            }
            match self.codec {
                Codec::Aac => {
                    out.extend(adts_header(self.channels, p.len()));
                    out.extend_from_slice(p);
                }
                _ => {
                    page.push(p.to_vec());
                    let last = j + 1 == total;
                    if page.len() >= CHUNK_PACKETS || last || i + 1 == packets.len() {
                        // RFC 7845 §4: samples decoded so far, pre-skip included; the last
                        // page ends at the playable length.
                        let granule = if last { self.pre_skip + self.playable } else { (j + 1 - self.first) * f };
                        out.extend(self.ogg.page(&page, granule, if last { ogg::HEADER_EOS } else { 0 }));
                        page.clear();
                    }
                }
            }
        }
        Ok(out)
    }
}

/// The 7-byte ADTS header (ISO/IEC 13818-7 §6.2, no CRC) of one AAC-LC frame of
/// `payload` bytes at 48 kHz.
pub(crate) fn adts_header(channels: u16, payload: usize) -> [u8; 7] {
    let len = payload + 7;
    let (profile, freq_index) = (1u8, 3u8); // AAC LC (object type 2, minus 1); 48 kHz.
    let ch = (channels.clamp(1, 7)) as u8;
    [
        0xFF,
        0xF1, // MPEG-4, layer 0, no CRC
        (profile << 6) | (freq_index << 2) | (ch >> 2),
        ((ch & 3) << 6) | ((len >> 11) as u8 & 0x03),
        (len >> 3) as u8,
        (((len & 7) as u8) << 5) | 0x1F,
        0xFC, // buffer fullness 0x7FF (VBR), one raw data block
    ]
}
