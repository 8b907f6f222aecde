//! Seekable progressive streams: transcodes whose every byte has its place before any audio
//! is encoded, so a plain HTTP response carries `Content-Length` and answers `Range` with
//! exactly the bytes a full GET has there (Sonos, DLNA renderers and Cast seek and resume
//! that way).
//!
//! Every frame of such a stream has one size, and the stream is the concatenation of one
//! piece per segment of the HLS grid, each piece the frames of its packets. Byte `b` after
//! the header lies in packet `b / frame`, so in exactly one segment of the rung, which the
//! segment cache makes and keeps like any HLS segment.
//!
//! - **MP3**: CBR at 48 kHz without the bit reservoir ([`encode::Mp3Encoder`]), segments made
//!   by [`produce_mp3`]; first an Info frame with the LAME tag (frame count, encoder delay,
//!   padding, source rate: players show the length and trim the priming for gapless play).
//! - **AAC**: the HLS AAC rung's own packets (the same cache entries and encodes as HLS
//!   listeners), each in an ADTS frame padded to the rung's largest frame with a fill element
//!   (ISO/IEC 14496-3 §4.4.2.7 `ID_FIL`, §4.5.2.9 `EXT_FILL`) before `ID_END`.
//!
//! Knows no cache, store or HTTP.

use std::ops::Range;

use super::progressive::adts_header;
use super::{Layout, PREROLL, PackageError, Rung, Sequence, Timeline};
use crate::encode::{self, Codec, Mp3Encoder, OUTPUT_RATE};
use crate::media::decode::SourceInfo;

/// MP3 frame length in samples (MPEG-1 Layer III).
const MP3_FRAME: u64 = 1152;
/// LAME's encoder delay, as its tag states it (decoders add their own 529).
const LAME_DELAY: u64 = 576;
/// Encoder delay plus decoder delay: where input sample 0 lands in the decoded MP3.
const MP3_PRIMING: u32 = Mp3Encoder::PRIMING as u32;
/// Encoder starts for MP3 segments: on the 0.32 s grid and on a frame (LCM of both).
const MP3_START_GRID: u64 = 46_080;
/// Bytes an ADTS frame may exceed the peak bitrate's share by (FDK: "can vary by one byte").
const AAC_SLACK: u64 = 2;

/// The shape of one seekable stream of one source: where every byte goes.
#[derive(Debug, Clone)]
pub struct Seekable {
    pub rung: Rung,
    layout: Layout,
    /// Bytes of every frame.
    frame: u64,
    header: Vec<u8>,
    channels: u16,
}

impl Seekable {
    /// The MP3 stream of `src` at about `kbps` (the nearest standard rate).
    pub fn mp3(src: &SourceInfo, kbps: u32) -> Seekable {
        let kbps = encode::mp3_standard_kbps(kbps * 1000);
        let timeline = Timeline::for_source(src.frames, src.sample_rate);
        let layout = Layout::new(timeline, MP3_FRAME as usize, MP3_PRIMING);
        let frame = encode::mp3_frame_bytes(kbps) as u64;
        let mut s = Seekable { rung: Rung { codec: Codec::Mp3, bitrate: kbps * 1000 }, layout, frame, header: Vec::new(), channels: src.out_channels() };
        s.header = mp3_info_frame(kbps, s.channels, timeline.frames, src.sample_rate);
        s
    }

    /// The ADTS stream of `src` from the AAC rung at `kbps`, whose encoder delay is
    /// `priming` (its init segment's edit list). Every frame is as large as the rung's peak
    /// bitrate lets a frame be.
    pub fn aac(src: &SourceInfo, kbps: u32, priming: u64) -> Seekable {
        let rung = Rung { codec: Codec::Aac, bitrate: kbps * 1000 };
        let layout = Layout::new(Timeline::for_source(src.frames, src.sample_rate), 1024, priming as u32);
        let peak = u64::from(encode::aac_peak_bitrate(rung.bitrate));
        let raw = (peak * 1024).div_ceil(u64::from(OUTPUT_RATE) * 8) + AAC_SLACK;
        Seekable { rung, layout, frame: raw + 7, header: Vec::new(), channels: src.out_channels() }
    }

    /// The whole stream's length in bytes.
    pub fn len(&self) -> u64 {
        self.header.len() as u64 + self.layout.total_packets() * self.frame
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What precedes the first segment's frames (MP3's Info frame; nothing for ADTS).
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    pub fn segment_count(&self) -> u32 {
        self.layout.timeline.segment_count()
    }

    /// Where segment `k`'s piece lies in the stream.
    pub fn span(&self, k: u32) -> Range<u64> {
        let h = self.header.len() as u64;
        h + self.layout.first_packet(k) * self.frame..h + self.layout.end_packet(k) * self.frame
    }

    /// The first byte of the frame that presents the time `secs` (0: the whole stream,
    /// header included), for a seek by time.
    pub fn offset_at(&self, secs: f64) -> u64 {
        let sample = (secs.max(0.0) * f64::from(OUTPUT_RATE)) as u64;
        if sample == 0 {
            return 0;
        }
        let packet = ((sample + self.layout.delay) / self.layout.frame_len).min(self.layout.total_packets());
        self.header.len() as u64 + packet * self.frame
    }

    /// The segment holding byte `b` (a byte of the header: segment 0).
    pub fn segment_of(&self, b: u64) -> u32 {
        self.layout.segment_of_packet(b.saturating_sub(self.header.len() as u64) / self.frame)
    }

    /// The piece of segment `k` from the rung's segment (MP3: its frames as produced; AAC: an
    /// fMP4 media segment).
    pub fn piece(&self, k: u32, segment: &[u8]) -> Result<Vec<u8>, PackageError> {
        let bad = |what: &str| PackageError::Open(std::io::Error::other(format!("segment {k}: {what}")));
        let want = (self.span(k).end - self.span(k).start) as usize;
        let out = match self.rung.codec {
            Codec::Mp3 => segment.to_vec(),
            _ => {
                let (_, packets) = super::fmp4::packets(segment).ok_or_else(|| bad("a cached segment does not parse"))?;
                let mut out = Vec::with_capacity(want);
                for p in packets {
                    out.extend(pad_adts(self.channels, p, self.frame as usize).ok_or_else(|| bad("an AAC frame exceeds the stream's frame size"))?);
                }
                out
            }
        };
        if out.len() != want {
            return Err(bad("the piece has the wrong length"));
        }
        Ok(out)
    }
}

/// Produces segments `segs` of an MP3 rung as raw frames: each segment in its own LAME
/// session started on the grid at least [`PREROLL`] plus the delay before it, its frames
/// numbered from that start, the ones before the segment thrown away.
pub(super) fn produce_mp3(seq: &Sequence<'_>, rung: &Rung, segs: Range<u32>, emit: &mut dyn FnMut(u32, Vec<u8>) -> bool) -> Result<(), PackageError> {
    let src = &seq.info;
    let kbps = rung.bitrate / 1000;
    let frame = encode::mp3_frame_bytes(kbps);
    let layout = Layout::new(Timeline::for_source(src.frames, src.sample_rate), MP3_FRAME as usize, MP3_PRIMING);
    if segs.start >= segs.end || segs.end > layout.timeline.segment_count() {
        return Err(PackageError::NoSuchSegment(segs.end.max(segs.start)));
    }
    for k in segs {
        let first = layout.first_packet(k);
        let end = layout.end_packet(k);
        let s0 = (first * MP3_FRAME).saturating_sub(layout.delay + PREROLL) / MP3_START_GRID * MP3_START_GRID;
        let mut pump = seq.pump_at(s0)?;
        let mut lame = Mp3Frames::new(rung.bitrate, src.out_channels() as usize)?;
        let mut out = Vec::with_capacity(((end - first) as usize) * frame);
        let mut next = s0 / MP3_FRAME;
        // Past the source the pump gives silence.
        while next < end {
            lame.encode(pump.next(MP3_FRAME as usize)?, &mut |f| {
                if next >= first && next < end {
                    out.extend_from_slice(f);
                }
                next += 1;
            })?;
        }
        if !emit(k, out) {
            return Ok(());
        }
    }
    Ok(())
}

/// MP3 frames that present `playable` samples after the encoder and decoder delay.
pub(super) fn mp3_frames(playable: u64) -> u64 {
    (playable + u64::from(MP3_PRIMING)).div_ceil(MP3_FRAME)
}

/// LAME's output cut into its frames (all of one size: CBR at 48 kHz). A session gives
/// frame `j` the samples from `j × 1152 − 1105` of its input on.
pub(super) struct Mp3Frames {
    enc: Mp3Encoder,
    frame: usize,
    pending: Vec<u8>,
    chunks: Vec<Vec<u8>>,
    fed: u64,
    cut: u64,
}

impl Mp3Frames {
    pub(super) fn new(bitrate: u32, channels: usize) -> Result<Mp3Frames, PackageError> {
        let frame = encode::mp3_frame_bytes(encode::mp3_standard_kbps(bitrate));
        Ok(Mp3Frames { enc: Mp3Encoder::new(bitrate, channels)?, frame, pending: Vec::new(), chunks: Vec::new(), fed: 0, cut: 0 })
    }

    /// Bytes of every frame.
    pub(super) fn frame_bytes(&self) -> usize {
        self.frame
    }

    /// Encodes one frame's worth of PCM (1152 samples per channel) and hands every frame
    /// LAME completes to `each`.
    pub(super) fn encode(&mut self, pcm: &[f32], each: &mut dyn FnMut(&[u8])) -> Result<(), PackageError> {
        encode::Encoder::encode(&mut self.enc, pcm, &mut self.chunks)?;
        self.fed += 1;
        for c in self.chunks.drain(..) {
            self.pending.extend(c);
        }
        let whole = self.pending.len() / self.frame * self.frame;
        for f in self.pending[..whole].chunks_exact(self.frame) {
            if f[0] != 0xFF || f[1] & 0xE0 != 0xE0 {
                return Err(encode::EncodeError::Encode("lame: a frame without a sync word".into()).into());
            }
            each(f);
            self.cut += 1;
        }
        self.pending.drain(..whole);
        // LAME answers a frame or two late, never more than a few.
        if self.fed > self.cut + 16 {
            return Err(encode::EncodeError::Encode("lame: fewer frames than samples fed".into()).into());
        }
        Ok(())
    }
}

/// The Info frame (a Xing header for CBR, "Info") with the LAME tag, as LAME writes it
/// (LAME's `VbrTag.c`; mp3 Info Tag rev 1 specifications): frame count, stream bytes, a linear
/// TOC, encoder delay and padding, the source rate, the tag's CRC. The music CRC is zero: the
/// audio does not exist yet when the header goes out.
pub(super) fn mp3_info_frame(kbps: u32, channels: u16, playable: u64, source_rate: u32) -> Vec<u8> {
    let frames = mp3_frames(playable);
    // The frame must hold the tag: 64 kbit/s (192 bytes) at the least.
    let info_kbps = if kbps >= 64 { kbps } else { 64 };
    let size = encode::mp3_frame_bytes(info_kbps);
    let total = (size + encode::mp3_frame_bytes(kbps) * frames as usize) as u64;
    let mono = channels == 1;
    let mut f = vec![0u8; size];
    f[0] = 0xFF;
    f[1] = 0xFB; // MPEG-1, Layer III, no CRC
    f[2] = (encode::mp3_bitrate_index(info_kbps).unwrap_or(5) << 4) | (1 << 2); // 48 kHz, no padding
    f[3] = if mono { 0xC4 } else { 0x44 }; // mono or joint stereo; original
    let at = if mono { 4 + 17 } else { 4 + 32 };
    let mut t = Vec::with_capacity(156);
    t.extend(b"Info");
    t.extend(0x0Fu32.to_be_bytes()); // frames, bytes, TOC, quality
    t.extend((frames as u32).to_be_bytes());
    t.extend((total.min(u64::from(u32::MAX)) as u32).to_be_bytes());
    t.extend((0..100u32).map(|i| (i * 256 / 100) as u8)); // a linear TOC: CBR
    t.extend(0u32.to_be_bytes()); // quality
    t.extend(b"LAME3.100");
    t.push(0x01); // tag revision 0, CBR
    t.push(0); // lowpass unknown
    t.extend([0; 4]); // peak amplitude
    t.extend([0; 4]); // radio and audiophile replay gain
    t.push(0); // flags, ATH
    t.push(kbps.min(255) as u8);
    let padding = frames * MP3_FRAME - LAME_DELAY - playable;
    let dp = (LAME_DELAY.min(4095) << 12) | padding.min(4095);
    t.extend([(dp >> 16) as u8, (dp >> 8) as u8, dp as u8]);
    let rate_bits: u8 = match source_rate {
        0..=32_000 => 0,
        32_001..=44_100 => 1,
        44_101..=48_000 => 2,
        _ => 3,
    };
    t.push(rate_bits << 6);
    t.push(0); // MP3 gain
    t.extend([0; 2]); // preset, surround
    t.extend((total.min(u64::from(u32::MAX)) as u32).to_be_bytes()); // music length
    t.extend([0; 2]); // music CRC
    let crc_at = at + t.len();
    f[at..crc_at].copy_from_slice(&t);
    let crc = crc16(&f[..crc_at]);
    f[crc_at..crc_at + 2].copy_from_slice(&crc.to_be_bytes());
    f
}

/// CRC-16/ARC (polynomial 0x8005, reflected, initial 0): the LAME tag's CRC.
fn crc16(data: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &b in data {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xA001 } else { crc >> 1 };
        }
    }
    crc
}

/// One AAC raw data block in an ADTS frame of exactly `size` bytes: fill elements go in
/// before the block's `ID_END`. `None` when the block is larger than the frame allows.
fn pad_adts(channels: u16, raw: &[u8], size: usize) -> Option<Vec<u8>> {
    let room = size.checked_sub(7)?;
    // The block ends `ID_END` (0b111) then zero bits to the byte: its last set bit is the
    // last bit of `ID_END`.
    let last = raw.iter().rposition(|&b| b != 0)?;
    let end_bit = last * 8 + 8 - raw[last].trailing_zeros() as usize;
    let id_end = end_bit.checked_sub(3)?;
    let mut w = Bits::default();
    for i in 0..id_end {
        w.put(u32::from(raw[i / 8] >> (7 - i % 8) & 1), 1);
    }
    if (0..3).any(|i| raw[(id_end + i) / 8] >> (7 - (id_end + i) % 8) & 1 == 0) {
        return None;
    }
    let mut left = (room * 8).checked_sub(id_end + 3)?;
    while left >= 7 {
        // ID_FIL, a count (15 = escape, then count − 1 more), the payload bytes.
        let c = if left >= 15 + 8 * 15 { ((left - 15) / 8).min(269) } else { ((left - 7) / 8).min(14) };
        w.put(6, 3);
        if c >= 15 {
            w.put(15, 4);
            w.put((c - 14) as u32, 8);
        } else {
            w.put(c as u32, 4);
        }
        // extension_payload: EXT_FILL, fill_nibble 0, then fill bytes 0b10100101.
        for j in 0..c {
            w.put(if j == 0 { 0 } else { 0xA5 }, 8);
        }
        left -= if c >= 15 { 15 } else { 7 } + 8 * c;
    }
    w.put(7, 3); // ID_END
    w.put(0, left);
    let mut out = adts_header(channels, room).to_vec();
    out.extend(w.bytes);
    (out.len() == size).then_some(out)
}

/// A most-significant-bit-first bit writer.
#[derive(Default)]
struct Bits {
    bytes: Vec<u8>,
    used: usize,
}

impl Bits {
    fn put(&mut self, v: u32, n: usize) {
        for i in (0..n).rev() {
            if self.used.is_multiple_of(8) {
                self.bytes.push(0);
            }
            let bit = (v >> i & 1) as u8;
            if let Some(b) = self.bytes.last_mut() {
                *b |= bit << (7 - self.used % 8);
            }
            self.used += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_wav::write_wav;
    use super::super::tests::source_info;
    use super::*;
    use symphonia::core::io::MediaSource;

    /// `secs` of stereo at 44.1 kHz: white noise (the largest AAC frames) or a tone.
    fn wav(dir: &std::path::Path, secs: f64, noise: bool) -> std::path::PathBuf {
        let path = dir.join(if noise { "noise.wav" } else { "tone.wav" });
        let n = (44_100.0 * secs) as usize;
        let mut x = 0x2545F491u32;
        let mut data = Vec::with_capacity(n * 2);
        for i in 0..n {
            for c in 0..2 {
                let v = if noise {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    (x as i32 >> 16) as i16
                } else {
                    (0.4 * (std::f64::consts::TAU * (440.0 + 110.0 * c as f64) * i as f64 / 44_100.0).sin() * 32767.0) as i16
                };
                data.push(v);
            }
        }
        write_wav(&path, 44_100, 2, &data);
        path
    }

    fn pieces(path: &std::path::Path, s: &Seekable) -> Vec<u8> {
        let src = source_info(path);
        let open = || -> std::io::Result<Box<dyn MediaSource>> { Ok(Box::new(std::fs::File::open(path)?)) };
        let mut out = s.header().to_vec();
        super::super::produce(&open, "wav", &src, &s.rung, 0..s.segment_count(), &mut |k, b| {
            let p = s.piece(k, &b).unwrap_or_else(|e| panic!("segment {k}: {e}"));
            assert_eq!(out.len() as u64, s.span(k).start, "segment {k} starts where its span says");
            out.extend(p);
            true
        })
        .unwrap();
        out
    }

    #[test]
    fn mp3_streams_are_their_announced_length_frame_by_frame() {
        let dir = tempfile::tempdir().unwrap();
        let path = wav(dir.path(), 9.0, false);
        let src = source_info(&path);
        for kbps in [32, 128, 320] {
            let s = Seekable::mp3(&src, kbps);
            let bytes = pieces(&path, &s);
            assert_eq!(bytes.len() as u64, s.len(), "{kbps} kbps");
            // The Info frame, then frames of one size, each with a sync word.
            let info = s.header().len();
            assert_eq!(&bytes[36..40], b"Info");
            let frames = u32::from_be_bytes(bytes[44..48].try_into().unwrap()) as usize;
            let f = encode::mp3_frame_bytes(kbps);
            assert_eq!(frames * f + info, bytes.len());
            assert!(bytes[info..].chunks(f).all(|fr| fr[0] == 0xFF && fr[1] == 0xFB), "{kbps} kbps");
            for k in 0..s.segment_count() {
                let span = s.span(k);
                assert_eq!((s.segment_of(span.start), s.segment_of(span.end - 1)), (k, k));
            }
        }
    }

    #[test]
    fn aac_frames_of_white_noise_fit_the_fixed_frame() {
        let dir = tempfile::tempdir().unwrap();
        let path = wav(dir.path(), 6.0, true);
        let src = source_info(&path);
        for kbps in [64, 96, 192, 256, 320] {
            let (plan, _) = super::super::RenditionPlan::new(&src, &Rung { codec: Codec::Aac, bitrate: kbps * 1000 }).unwrap();
            let s = Seekable::aac(&src, kbps, plan.layout.delay);
            let bytes = pieces(&path, &s);
            assert_eq!(bytes.len() as u64, s.len(), "{kbps} kbps");
        }
    }

    #[test]
    fn crc16_is_the_arc_variant() {
        // The standard check value of CRC-16/ARC.
        assert_eq!(crc16(b"123456789"), 0xBB3D);
    }

    #[test]
    fn a_padded_adts_frame_keeps_the_block_and_has_the_size() {
        // A block of a few bytes ending ID_END + alignment, padded to several sizes.
        let raw = [0x21u8, 0x10, 0x05, 0x00, 0x07, 0xE0];
        for size in [13usize, 14, 20, 21, 22, 30, 150, 151, 160, 300, 400, 700] {
            let f = pad_adts(2, &raw, size).unwrap_or_else(|| panic!("size {size}"));
            assert_eq!(f.len(), size);
            assert_eq!(usize::from(f[3] & 3) << 11 | usize::from(f[4]) << 3 | usize::from(f[5] >> 5), size);
        }
        assert!(pad_adts(2, &raw, 12).is_none());
    }
}
