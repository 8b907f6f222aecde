//! AAC-LC with FDK (the pure-Rust port `fdk-aac-rs`, bit-exact with fdk-aac 2.0.3): CBR,
//! afterburner on, 1024-sample frames at 48 kHz. FDK's delay (`nDelay`, 2048 for LC) is the
//! priming that the fMP4 edit list trims.

use fdk_aac_rs::encoder::{Aot, Bitrate, ChannelMode, Encoder as Fdk, Transport};

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
    pub fn new(bitrate: u32, channels: usize, adts: bool) -> Result<AacEncoder, EncodeError> {
        let channels = channels.clamp(1, 2);
        let mode = if channels == 1 { ChannelMode::Mono } else { ChannelMode::Stereo };
        let mut enc = Fdk::builder()
            .aot(Aot::AacLc)
            .sample_rate(OUTPUT_RATE)
            .channel_mode(mode)
            .bitrate(Bitrate::Cbr(bitrate))
            .transport(if adts { Transport::Adts } else { Transport::Raw })
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
