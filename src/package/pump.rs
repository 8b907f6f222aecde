//! Decoded, resampled PCM in whole codec frames: the shared front half of every encode.

use super::{OpenSource, PackageError};
use crate::encode::OUTPUT_RATE;
use crate::media::decode::{PcmReader, SourceInfo};
use crate::media::resample::Resampler;

pub(crate) struct FramePump {
    reader: PcmReader,
    resampler: Resampler,
    channels: usize,
    decoded: Vec<f32>,
    fifo: Vec<f32>,
    at: usize,
    flushed: bool,
}

impl FramePump {
    /// Starts at source frame `src_start`.
    pub fn open(open: OpenSource<'_>, ext: &str, src: &SourceInfo, src_start: u64) -> Result<FramePump, PackageError> {
        let channels = src.out_channels() as usize;
        Ok(FramePump {
            reader: PcmReader::open(open()?, ext, src, src_start)?,
            resampler: Resampler::new(src.sample_rate, OUTPUT_RATE, channels)?,
            channels,
            decoded: Vec::with_capacity(4096 * channels),
            fifo: Vec::new(),
            at: 0,
            flushed: false,
        })
    }

    /// The next `frames` frames at the output rate (silence once the source is over).
    pub fn next(&mut self, frames: usize) -> Result<&[f32], PackageError> {
        let want = frames * self.channels;
        while self.fifo.len() - self.at < want {
            if self.at > 0 {
                self.fifo.drain(..self.at);
                self.at = 0;
            }
            self.decoded.clear();
            if self.reader.read(&mut self.decoded, 4096)? > 0 {
                self.resampler.push(&self.decoded, &mut self.fifo)?;
            } else if !self.flushed {
                self.resampler.finish(&mut self.fifo)?;
                self.flushed = true;
            } else {
                self.fifo.resize(self.fifo.len().max(want), 0.0);
            }
        }
        let out = &self.fifo[self.at..self.at + want];
        self.at += want;
        Ok(out)
    }
}
