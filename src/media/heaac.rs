//! HE-AAC (AAC with SBR, and with PS) decoding through FDK (`fdk-aac-rs`): symphonia 0.6.1
//! decodes only the AAC-LC core of such streams, at half the rate and without the high band,
//! and refuses explicitly signalled ones.
//!
//! Detection reads the AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1): audio object type 5
//! (SBR) or 29 (PS) is explicit signalling; a core rate half the container's rate is
//! implicit signalling (§1.6.5.2: the SBR output rate is twice the core rate).

use fdk_aac_rs::decoder::{DecodeFlags, Decoder};

/// Audio object type and sampling rate of an AudioSpecificConfig.
pub fn asc_info(asc: &[u8]) -> Option<(u32, u32)> {
    if asc.len() < 2 {
        return None;
    }
    const RATES: [u32; 13] = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];
    let bits = asc.iter().take(8).fold(0u64, |a, &b| (a << 8) | u64::from(b)) << (8 * (8 - asc.len().min(8)));
    let take = |at: u32, n: u32| ((bits >> (64 - at - n)) & ((1 << n) - 1)) as u32;
    let mut at = 5;
    let mut aot = take(0, 5);
    if aot == 31 {
        aot = 32 + take(5, 6);
        at = 11;
    }
    let idx = take(at, 4);
    let rate = if idx == 15 { take(at + 4, 24) } else { *RATES.get(idx as usize)? };
    Some((aot, rate))
}

/// True when `asc` describes HE-AAC (v1 or v2) whose output rate is `container_rate`.
pub fn is_he_aac(asc: &[u8], container_rate: u32) -> bool {
    match asc_info(asc) {
        Some((5 | 29, _)) => true,
        Some((2, core)) => core > 0 && core * 2 == container_rate,
        _ => false,
    }
}

#[derive(Debug, thiserror::Error)]
#[error("HE-AAC decoder: {0}")]
pub struct HeAacError(String);

pub struct HeAacDecoder {
    dec: Decoder,
    pcm: Vec<i16>,
}

impl HeAacDecoder {
    pub fn new(asc: &[u8]) -> Result<HeAacDecoder, HeAacError> {
        let dec = Decoder::with_config(asc).map_err(|e| HeAacError(format!("{e:?}")))?;
        // 2048 samples × 8 channels is the largest frame FDK outputs.
        Ok(HeAacDecoder { dec, pcm: vec![0; 2048 * 8] })
    }

    /// Decodes one access unit; appends interleaved f32 to `out` and returns the channels.
    pub fn decode(&mut self, au: &[u8], out: &mut Vec<f32>) -> Result<usize, HeAacError> {
        let mut input = au;
        while !input.is_empty() {
            let used = self.dec.fill(input).map_err(|e| HeAacError(format!("{e:?}")))?;
            if used == 0 {
                break;
            }
            input = &input[used..];
        }
        let frame = self.dec.decode_frame(&mut self.pcm, DecodeFlags::empty()).map_err(|e| HeAacError(format!("{e:?}")))?;
        out.extend(frame.samples().iter().map(|&s| f32::from(s) / 32768.0));
        Ok(self.dec.stream_info().num_channels().max(1) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_audio_specific_configs() {
        assert_eq!(asc_info(&[0x11, 0x90]), Some((2, 48000))); // AAC-LC 48 kHz stereo
        assert_eq!(asc_info(&[0x13, 0x90]), Some((2, 22050)));
        assert!(is_he_aac(&[0x13, 0x90], 44100), "implicit SBR: core at half the rate");
        assert!(!is_he_aac(&[0x12, 0x10], 44100));
        assert!(is_he_aac(&[0x2b, 0x92, 0x08, 0x00], 44100), "AOT 5: explicit SBR");
        assert_eq!(asc_info(&[]), None);
    }
}
