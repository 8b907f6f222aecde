//! MP3 with LAME 3.100 (`mp3lame-encoder`, LGPL): CBR at the nearest standard bitrate, 48 kHz
//! out, no bit reservoir and no tag frame of LAME's own. At 48 kHz every MPEG-1 Layer III
//! frame of a CBR stream is exactly [`frame_bytes`] long (144 × bitrate / 48000 is a whole
//! number, so the padding bit never appears), and without the reservoir no frame's data
//! begins in an earlier one: frames from separate encoder sessions can be joined at any
//! frame. That is what makes a seekable MP3 out of cached segments. LAME buffers
//! internally, so packets here are byte chunks; [`package`](crate::package) cuts them into
//! frames.

use std::num::NonZeroU32;

use mp3lame_encoder::{Bitrate, Builder, FlushNoGap, InterleavedPcm, MonoPcm, Quality};

use super::{EncodeError, Encoder, OUTPUT_RATE};

pub struct Mp3Encoder {
    enc: mp3lame_encoder::Encoder,
    channels: usize,
}

/// MPEG-1 Layer III bitrates, kbit/s (ISO/IEC 11172-3 §2.4.2.3).
const RATES: [u32; 14] = [32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];

/// The standard MPEG-1 Layer III bitrate closest to `bps`, in kbit/s (32 to 320; not 56,
/// which the LAME binding does not offer).
pub fn standard_kbps(bps: u32) -> u32 {
    let k = i64::from(bps / 1000);
    RATES.iter().copied().filter(|&r| r != 56).min_by_key(|r| (i64::from(*r) - k).abs()).unwrap_or(192)
}

/// Bytes of every frame of a CBR stream at `kbps` (a standard rate) and 48 kHz.
pub fn frame_bytes(kbps: u32) -> usize {
    144 * kbps as usize * 1000 / OUTPUT_RATE as usize
}

/// The bitrate index of a standard rate in an MPEG-1 Layer III frame header.
pub fn bitrate_index(kbps: u32) -> Option<u8> {
    RATES.iter().position(|&r| r == kbps).map(|i| i as u8 + 1)
}

fn nearest(bps: u32) -> Bitrate {
    use Bitrate::*;
    let all = [
        (32, Kbps32),
        (40, Kbps40),
        (48, Kbps48),
        (64, Kbps64),
        (80, Kbps80),
        (96, Kbps96),
        (112, Kbps112),
        (128, Kbps128),
        (160, Kbps160),
        (192, Kbps192),
        (224, Kbps224),
        (256, Kbps256),
        (320, Kbps320),
    ];
    let k = standard_kbps(bps);
    all.iter().find(|(r, _)| *r == k).map(|(_, b)| *b).unwrap_or(Kbps192)
}

impl Mp3Encoder {
    /// Where input sample 0 lands in the decoded stream: LAME's encoder delay (576, what its
    /// tag states) plus the decoder's (528 + 1).
    pub const PRIMING: u64 = 576 + 529;

    pub fn new(bitrate: u32, channels: usize) -> Result<Mp3Encoder, EncodeError> {
        let e = |x: mp3lame_encoder::BuildError| EncodeError::Setup(format!("lame: {x:?}"));
        let channels = channels.clamp(1, 2);
        let mut b = Builder::new().ok_or_else(|| EncodeError::Setup("lame: out of memory".into()))?;
        b.set_num_channels(channels as u8).map_err(e)?;
        b.set_sample_rate(OUTPUT_RATE).map_err(e)?;
        b.set_output_sample_rate(NonZeroU32::new(OUTPUT_RATE)).map_err(e)?;
        b.set_brate(nearest(bitrate)).map_err(e)?;
        b.set_quality(Quality::Good).map_err(e)?;
        b.set_to_write_vbr_tag(false).map_err(e)?;
        // SAFETY: the pointer is the builder's own live `lame_global_flags`, used before
        // `build` and not kept.
        if unsafe { mp3lame_encoder::ffi::lame_set_disable_reservoir(b.as_ptr(), 1) } != 0 {
            return Err(EncodeError::Setup("lame: cannot disable the bit reservoir".into()));
        }
        let enc = b.build().map_err(e)?;
        Ok(Mp3Encoder { enc, channels })
    }
}

impl Encoder for Mp3Encoder {
    fn frame_len(&self) -> usize {
        1152
    }
    fn channels(&self) -> usize {
        self.channels
    }
    fn delay(&self) -> u32 {
        Self::PRIMING as u32
    }
    fn encode(&mut self, frame: &[f32], out: &mut Vec<Vec<u8>>) -> Result<(), EncodeError> {
        let mut v = Vec::with_capacity(frame.len() * 5 / 4 + 7200);
        let r = if self.channels == 1 { self.enc.encode_to_vec(MonoPcm(frame), &mut v) } else { self.enc.encode_to_vec(InterleavedPcm(frame), &mut v) };
        r.map_err(|e| EncodeError::Encode(format!("lame: {e:?}")))?;
        if !v.is_empty() {
            out.push(v);
        }
        Ok(())
    }
    fn finish(&mut self, out: &mut Vec<Vec<u8>>) -> Result<(), EncodeError> {
        let mut v = Vec::with_capacity(7200);
        self.enc.flush_to_vec::<FlushNoGap>(&mut v).map_err(|e| EncodeError::Encode(format!("lame: {e:?}")))?;
        if !v.is_empty() {
            out.push(v);
        }
        Ok(())
    }
}
