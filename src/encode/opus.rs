//! Opus with libopus (the `opus` crate, libopus 1.6 bundled): 20 ms frames at 48 kHz,
//! constrained VBR so that segment bitrates stay close to the target (HLS `BANDWIDTH`).

use opus::{Application, Bitrate, Channels};

use super::{EncodeError, Encoder, OUTPUT_RATE};

pub struct OpusEncoder {
    enc: opus::Encoder,
    channels: usize,
    delay: u32,
    buf: Vec<u8>,
}

/// Largest Opus packet (RFC 6716 §3.4: 1275 bytes per frame; 4000 is libopus's advice).
const MAX_PACKET: usize = 4000;

impl OpusEncoder {
    pub fn new(bitrate: u32, channels: usize) -> Result<OpusEncoder, EncodeError> {
        let e = |x: opus::Error| EncodeError::Setup(format!("opus: {x}"));
        let ch = if channels == 1 { Channels::Mono } else { Channels::Stereo };
        let mut enc = opus::Encoder::new(OUTPUT_RATE, ch, Application::Audio).map_err(e)?;
        enc.set_bitrate(Bitrate::Bits(bitrate as i32)).map_err(e)?;
        enc.set_complexity(10).map_err(e)?;
        enc.set_vbr(true).map_err(e)?;
        enc.set_vbr_constraint(true).map_err(e)?;
        let delay = enc.get_lookahead().map_err(e)?.max(0) as u32;
        Ok(OpusEncoder { enc, channels: channels.clamp(1, 2), delay, buf: vec![0; MAX_PACKET] })
    }
}

impl Encoder for OpusEncoder {
    fn frame_len(&self) -> usize {
        960
    }
    fn channels(&self) -> usize {
        self.channels
    }
    fn delay(&self) -> u32 {
        self.delay
    }
    fn encode(&mut self, frame: &[f32], out: &mut Vec<Vec<u8>>) -> Result<(), EncodeError> {
        let n = self.enc.encode_float(frame, &mut self.buf).map_err(|e| EncodeError::Encode(format!("opus: {e}")))?;
        out.push(self.buf[..n].to_vec());
        Ok(())
    }
}
