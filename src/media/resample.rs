//! Streaming sample-rate conversion to the encoders' rate with rubato's FFT resampler, with
//! its start-up delay removed, so that output frame `n` is input time `n / out_rate` exactly
//! and a resampler started at any input frame lines up with one started at frame 0.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler as _};

#[derive(Debug, thiserror::Error)]
#[error("resampler: {0}")]
pub struct ResampleError(String);

const CHUNK: usize = 1024;

pub struct Resampler {
    inner: Option<Fft<f32>>,
    channels: usize,
    ratio: f64,
    /// Output frames still to drop (the filter delay).
    delay_left: usize,
    input: Vec<f32>,
    out_buf: Vec<f32>,
    frames_in: u64,
    frames_out: u64,
}

impl Resampler {
    /// A pass-through when the rates are equal.
    pub fn new(from: u32, to: u32, channels: usize) -> Result<Resampler, ResampleError> {
        let inner = if from == to {
            None
        } else {
            Some(Fft::<f32>::new(from as usize, to as usize, CHUNK, channels, FixedSync::Input).map_err(|e| ResampleError(e.to_string()))?)
        };
        let delay_left = inner.as_ref().map(|r| r.output_delay()).unwrap_or(0);
        let out_max = inner.as_ref().map(|r| r.output_frames_max()).unwrap_or(0);
        Ok(Resampler {
            inner,
            channels,
            ratio: to as f64 / from as f64,
            delay_left,
            input: Vec::new(),
            out_buf: vec![0.0; out_max * channels],
            frames_in: 0,
            frames_out: 0,
        })
    }

    /// Feeds interleaved input; appends whatever output is ready to `out`.
    pub fn push(&mut self, pcm: &[f32], out: &mut Vec<f32>) -> Result<(), ResampleError> {
        self.frames_in += (pcm.len() / self.channels) as u64;
        if self.inner.is_none() {
            out.extend_from_slice(pcm);
            self.frames_out += (pcm.len() / self.channels) as u64;
            return Ok(());
        }
        self.input.extend_from_slice(pcm);
        self.drain(out, false)
    }

    /// Flushes the tail: pads with silence until every input frame has its output.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<(), ResampleError> {
        if self.inner.is_none() {
            return Ok(());
        }
        self.drain(out, true)
    }

    fn drain(&mut self, out: &mut Vec<f32>, flush: bool) -> Result<(), ResampleError> {
        let ch = self.channels;
        let expected = (self.frames_in as f64 * self.ratio).round() as u64;
        let Some(r) = self.inner.as_mut() else { return Ok(()) };
        loop {
            let need = r.input_frames_next();
            let have = self.input.len() / ch;
            if have < need {
                if !flush || self.frames_out >= expected {
                    break;
                }
                self.input.resize(need * ch, 0.0);
            }
            let inp = InterleavedSlice::new(&self.input[..need * ch], ch, need).map_err(|e| ResampleError(e.to_string()))?;
            let cap = self.out_buf.len() / ch;
            let mut outp = InterleavedSlice::new_mut(&mut self.out_buf, ch, cap).map_err(|e| ResampleError(e.to_string()))?;
            let (read, written) = r.process_into_buffer(&inp, &mut outp, Some(&Indexing::new())).map_err(|e| ResampleError(e.to_string()))?;
            self.input.drain(..read * ch);
            let drop = self.delay_left.min(written);
            self.delay_left -= drop;
            let mut keep = written - drop;
            if flush {
                keep = keep.min((expected - self.frames_out) as usize);
            }
            out.extend_from_slice(&self.out_buf[drop * ch..(drop + keep) * ch]);
            self.frames_out += keep as u64;
            if flush && self.frames_out >= expected {
                self.input.clear();
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, frames: usize, hz: f32) -> Vec<f32> {
        (0..frames)
            .flat_map(|i| {
                let v = (i as f32 / rate as f32 * hz * std::f32::consts::TAU).sin() * 0.5;
                [v, v]
            })
            .collect()
    }

    #[test]
    fn length_and_alignment_are_exact() {
        let input = sine(44100, 44100, 440.0);
        let mut r = Resampler::new(44100, 48000, 2).unwrap();
        let mut out = Vec::new();
        for c in input.chunks(2 * 777) {
            r.push(c, &mut out).unwrap();
        }
        r.finish(&mut out).unwrap();
        assert_eq!(out.len() / 2, 48000);
        // A resampler started 0.32 s in produces the same samples as the one from 0.
        let start_in = 14112; // 0.32 s at 44.1 kHz
        let mut r2 = Resampler::new(44100, 48000, 2).unwrap();
        let mut out2 = Vec::new();
        r2.push(&input[start_in * 2..], &mut out2).unwrap();
        r2.finish(&mut out2).unwrap();
        let start_out = 15360;
        let err: f32 = (2000..20000).map(|i| (out[(start_out + i) * 2] - out2[i * 2]).abs()).fold(0.0, f32::max);
        assert_eq!(err, 0.0, "a restart on the grid changes nothing");
    }
}
