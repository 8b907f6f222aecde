//! MP3 with LAME 3.100 (`mp3lame-encoder`, LGPL): CBR at the nearest standard bitrate, for
//! progressive streams only. LAME buffers internally, so packets here are byte chunks.

use mp3lame_encoder::{Bitrate, Builder, FlushNoGap, InterleavedPcm, MonoPcm, Quality};

use super::{EncodeError, Encoder, OUTPUT_RATE};

pub struct Mp3Encoder {
    enc: mp3lame_encoder::Encoder,
    channels: usize,
}

/// The standard MPEG-1 Layer III bitrate closest to `bps` (from 32 to 320 kbit/s).
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
    let k = bps / 1000;
    all.iter().min_by_key(|(r, _)| (*r as i64 - k as i64).abs()).map(|(_, b)| *b).unwrap_or(Kbps192)
}

impl Mp3Encoder {
    pub fn new(bitrate: u32, channels: usize) -> Result<Mp3Encoder, EncodeError> {
        let e = |x: mp3lame_encoder::BuildError| EncodeError::Setup(format!("lame: {x:?}"));
        let channels = channels.clamp(1, 2);
        let mut b = Builder::new().ok_or_else(|| EncodeError::Setup("lame: out of memory".into()))?;
        b.set_num_channels(channels as u8).map_err(e)?;
        b.set_sample_rate(OUTPUT_RATE).map_err(e)?;
        b.set_brate(nearest(bitrate)).map_err(e)?;
        b.set_quality(Quality::Good).map_err(e)?;
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
    /// LAME's encoder delay plus the decoder delay (528 + 1) as the LAME tag states it.
    fn delay(&self) -> u32 {
        576 + 529
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
