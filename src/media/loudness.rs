//! EBU R128 loudness of a stored original (`ebur128`, a port of libebur128): integrated
//! loudness with its gates (ITU-R BS.1770-4) and the true peak (4× oversampled), over the
//! playable PCM as playback decodes it (priming trimmed, damage concealed, at most two
//! channels as every output has). Synchronous and untrusted-input safe like the rest of
//! `media`; no store, catalog or HTTP.

use ebur128::{EbuR128, Mode};
use symphonia::core::io::MediaSource;

use super::decode::{DecodeError, PcmReader, SourceInfo};
use crate::domain::Loudness;

/// Frames read per call.
const CHUNK: usize = 8192;
/// What silence measures (the absolute gate of BS.1770).
pub const SILENCE_LUFS: f64 = -70.0;

/// Measures the whole of `src` (decoded as `info` says).
pub fn measure(src: Box<dyn MediaSource>, ext_hint: &str, info: &SourceInfo) -> Result<Loudness, DecodeError> {
    let mut pcm = PcmReader::open(src, ext_hint, info, 0)?;
    let channels = u32::from(info.out_channels());
    let bad = |e: ebur128::Error| DecodeError::Unsupported(format!("loudness: {e:?}"));
    let mut meter = EbuR128::new(channels, info.sample_rate, Mode::I | Mode::TRUE_PEAK).map_err(bad)?;
    let mut buf = Vec::with_capacity(CHUNK * channels as usize);
    loop {
        buf.clear();
        if pcm.read(&mut buf, CHUNK)? == 0 {
            break;
        }
        meter.add_frames_f32(&buf).map_err(bad)?;
    }
    let lufs = meter.loudness_global().map_err(bad)?;
    let mut peak = 0f64;
    for c in 0..channels {
        peak = peak.max(meter.true_peak(c).map_err(bad)?);
    }
    Ok(Loudness { lufs: if lufs.is_finite() { lufs.max(SILENCE_LUFS) } else { SILENCE_LUFS }, peak })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::probe::probe_path;

    fn info(path: &std::path::Path) -> SourceInfo {
        let p = probe_path(path).unwrap();
        SourceInfo { container: p.container, codec: p.codec, sample_rate: p.sample_rate, channels: p.channels, frames: p.frames, priming: p.priming }
    }

    /// A full-scale-relative sine of known level: BS.1770 gives a 997 Hz stereo sine at
    /// −20 dBFS about −20 LUFS (each channel's −23.0 plus 3 dB for two).
    #[test]
    fn a_sine_of_known_level_measures_as_bs1770_says() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sine.wav");
        let amp = 10f64.powf(-20.0 / 20.0);
        let n = 48_000 * 5;
        let data: Vec<i16> = (0..n)
            .flat_map(|i| {
                let v = (amp * (std::f64::consts::TAU * 997.0 * i as f64 / 48_000.0).sin() * 32767.0) as i16;
                [v, v]
            })
            .collect();
        crate::package::test_wav::write_wav(&path, 48_000, 2, &data);
        let l = measure(Box::new(std::fs::File::open(&path).unwrap()), "wav", &info(&path)).unwrap();
        assert!((l.lufs - (-20.0)).abs() < 0.2, "{l:?}");
        assert!((l.peak - amp).abs() < 0.01, "{l:?}");
    }
}
