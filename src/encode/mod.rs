//! Encoders for the output codecs, one per codec behind the [`Encoder`] trait: Opus
//! (libopus), AAC-LC (FDK, via the pure-Rust port `fdk-aac-rs`) and MP3 (LAME).
//!
//! Owns: codec set-up, frame sizes, encoder delay (priming) and codec configuration bytes.
//! Input is interleaved `f32` PCM at [`OUTPUT_RATE`] (MP3 at the same rate), one or two
//! channels, exactly one codec frame per call. Must not depend on containers, the store,
//! the catalog or HTTP.

mod aac;
mod mp3;
mod opus;

pub use aac::{AacEncoder, peak_bitrate as aac_peak_bitrate};
pub use mp3::{Mp3Encoder, bitrate_index as mp3_bitrate_index, frame_bytes as mp3_frame_bytes, standard_kbps as mp3_standard_kbps};
pub use opus::OpusEncoder;

use serde::{Deserialize, Serialize};

/// Every transcoded output runs at 48 kHz (Opus only knows 48 kHz; AAC rungs match it so
/// that segment boundaries line up across the ladder).
pub const OUTPUT_RATE: u32 = 48_000;

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("encoder set-up: {0}")]
    Setup(String),
    #[error("encoding: {0}")]
    Encode(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    Aac,
    Opus,
    Mp3,
}

impl Codec {
    pub fn name(self) -> &'static str {
        match self {
            Codec::Aac => "aac",
            Codec::Opus => "opus",
            Codec::Mp3 => "mp3",
        }
    }

    pub fn parse(s: &str) -> Option<Codec> {
        match s.to_ascii_lowercase().as_str() {
            "aac" | "m4a" | "mp4a" => Some(Codec::Aac),
            "opus" => Some(Codec::Opus),
            "mp3" => Some(Codec::Mp3),
            _ => None,
        }
    }

    /// Samples per channel in one codec frame at [`OUTPUT_RATE`].
    pub fn frame_len(self) -> usize {
        match self {
            Codec::Aac => 1024,
            Codec::Opus => 960,
            Codec::Mp3 => 1152,
        }
    }
}

/// One output codec. `encode` takes exactly `frame_len() * channels` samples and appends
/// zero or more finished packets (for MP3: byte chunks) to `out`.
pub trait Encoder: Send {
    fn frame_len(&self) -> usize;
    fn channels(&self) -> usize;
    /// Priming: decoded output sample `d` corresponds to input sample `d - delay()`.
    fn delay(&self) -> u32;
    fn encode(&mut self, frame: &[f32], out: &mut Vec<Vec<u8>>) -> Result<(), EncodeError>;
    /// Drains what the encoder still holds (MP3); frame codecs are drained by feeding
    /// silence, so the default does nothing.
    fn finish(&mut self, _out: &mut Vec<Vec<u8>>) -> Result<(), EncodeError> {
        Ok(())
    }
}

/// Builds the encoder for `codec` at `bitrate` bits/s. Its packets are the codec's own
/// (AAC: raw access units); `package` frames them for a container or a stream.
pub fn new_encoder(codec: Codec, bitrate: u32, channels: usize) -> Result<Box<dyn Encoder>, EncodeError> {
    Ok(match codec {
        Codec::Opus => Box::new(OpusEncoder::new(bitrate, channels)?),
        Codec::Aac => Box::new(AacEncoder::new(bitrate, channels)?),
        Codec::Mp3 => Box::new(Mp3Encoder::new(bitrate, channels)?),
    })
}

/// Converts to 16-bit with clipping (FDK and some paths take integers).
pub(crate) fn to_i16(src: &[f32], dst: &mut Vec<i16>) {
    dst.clear();
    dst.extend(src.iter().map(|&v| (v * 32768.0).round().clamp(-32768.0, 32767.0) as i16));
}
