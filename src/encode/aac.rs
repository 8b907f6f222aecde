//! AAC-LC with FDK (the pure-Rust port `fdk-aac-rs`, bit-exact with fdk-aac 2.0.3),
//! afterburner on, 1024-sample frames at 48 kHz. FDK's delay (`nDelay`, 2048 for LC) is the
//! priming that the fMP4 edit list trims.
//!
//! Rate control is FDK's VBR mode nearest the requested bitrate, capped at
//! [`peak_bitrate`]: VBR has no bit reservoir carried across frames, so an encoder started
//! a few frames early emits packets bit-identical to a continuous encode (measured: from the
//! 3rd packet on; CBR's reservoir keeps them apart for good). That is what makes cold HLS
//! segments join seamlessly. Rates above VBR's range (over 112 kbit/s per channel) use CBR.

/// The most bits per second a rung at `bitrate` may use in any frame.
pub fn peak_bitrate(bitrate: u32) -> u32 {
    bitrate / 4 * 5
}

/// FDK's VBR mode for a per-channel rate (FDK's table: 1 ≈ 32, 2 ≈ 40, 3 ≈ 48–56,
/// 4 ≈ 64–72, 5 ≈ 96–112 kbit/s per channel), or `None` above that range.
fn vbr_mode(bitrate: u32, channels: usize) -> Option<BitrateMode> {
    let per_ch = bitrate / 1000 / channels as u32;
    Some(match per_ch {
        0..36 => BitrateMode::VbrVeryLow,
        36..44 => BitrateMode::VbrLow,
        44..60 => BitrateMode::VbrMedium,
        60..84 => BitrateMode::VbrHigh,
        84..=112 => BitrateMode::VbrVeryHigh,
        _ => return None,
    })
}

use fdk_aac_rs::encoder::{Aot, Bitrate, BitrateMode, ChannelMode, Encoder as Fdk, Transport};

use super::{EncodeError, Encoder, OUTPUT_RATE, to_i16};

pub struct AacEncoder {
    enc: Fdk,
    channels: usize,
    delay: u32,
    asc: Vec<u8>,
    pcm: Vec<i16>,
    buf: Vec<u8>,
}

impl AacEncoder {
    pub fn new(bitrate: u32, channels: usize) -> Result<AacEncoder, EncodeError> {
        let channels = channels.clamp(1, 2);
        let mode = if channels == 1 { ChannelMode::Mono } else { ChannelMode::Stereo };
        let rate = match vbr_mode(bitrate, channels) {
            Some(m) => Bitrate::Vbr(m),
            None => Bitrate::Cbr(bitrate),
        };
        let mut enc = Fdk::builder()
            .aot(Aot::AacLc)
            .sample_rate(OUTPUT_RATE)
            .channel_mode(mode)
            .bitrate(rate)
            .peak_bitrate(peak_bitrate(bitrate))
            .transport(Transport::Raw)
            .afterburner(true)
            .build()
            .map_err(|e| EncodeError::Setup(format!("fdk-aac: {e:?}")))?;
        let info = enc.info().map_err(|e| EncodeError::Setup(format!("fdk-aac: {e:?}")))?;
        let buf = vec![0u8; (info.max_out_buf_bytes() as usize).max(8192)];
        Ok(AacEncoder { channels, delay: info.delay(), asc: info.config().to_vec(), enc, pcm: Vec::new(), buf })
    }

    /// The AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) for the `esds` box.
    pub fn audio_specific_config(&self) -> &[u8] {
        &self.asc
    }
}

impl Encoder for AacEncoder {
    fn frame_len(&self) -> usize {
        1024
    }
    fn channels(&self) -> usize {
        self.channels
    }
    fn delay(&self) -> u32 {
        self.delay
    }
    fn encode(&mut self, frame: &[f32], out: &mut Vec<Vec<u8>>) -> Result<(), EncodeError> {
        to_i16(frame, &mut self.pcm);
        let r = self.enc.encode(&self.pcm, &mut self.buf).map_err(|e| EncodeError::Encode(format!("fdk-aac: {e:?}")))?;
        if r.out_bytes() > 0 {
            out.push(self.buf[..r.out_bytes()].to_vec());
        }
        Ok(())
    }
}
