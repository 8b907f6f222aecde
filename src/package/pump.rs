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
    /// Linear gain applied to everything handed out (loudness normalisation; 1.0: none).
    gain: f32,
}

impl FramePump {
    /// Scales what follows by `gain` (linear).
    pub fn set_gain(&mut self, gain: f32) {
        self.gain = gain;
    }

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
            gain: 1.0,
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
        let out = &mut self.fifo[self.at..self.at + want];
        if self.gain != 1.0 {
            out.iter_mut().for_each(|x| *x *= self.gain);
        }
        self.at += want;
        Ok(out)
    }
}

/// One original of a [`Sequence`].
pub struct Item<'a> {
    pub open: OpenSource<'a>,
    pub ext: &'a str,
    pub info: &'a SourceInfo,
    /// Linear gain (loudness normalisation; 1.0: none).
    pub gain: f32,
}

/// Originals played back to back as one timeline at 48 kHz: a track (one item), or a
/// station (an album, a playlist) whose joins are gapless because one encoder runs across
/// them. Mono items in a stereo sequence are sent to both channels.
pub struct Sequence<'a> {
    items: Vec<Item<'a>>,
    /// Where each item starts, in output samples.
    starts: Vec<u64>,
    /// The whole as one source: for one item that item's own; otherwise 48 kHz, its total
    /// length, stereo if any item is.
    pub info: SourceInfo,
}

impl<'a> Sequence<'a> {
    pub fn one(open: OpenSource<'a>, ext: &'a str, info: &'a SourceInfo, gain: f32) -> Sequence<'a> {
        Sequence { info: info.clone(), items: vec![Item { open, ext, info, gain }], starts: vec![0] }
    }

    pub fn new(items: Vec<Item<'a>>) -> Sequence<'a> {
        let mut starts = Vec::with_capacity(items.len());
        let mut at = 0;
        for it in &items {
            starts.push(at);
            at += super::Timeline::for_source(it.info.frames, it.info.sample_rate).frames;
        }
        let info = Sequence::joined(items.iter().map(|i| i.info));
        Sequence { items, starts, info }
    }

    /// The source several originals make back to back: 48 kHz, their total length, stereo
    /// if any is.
    pub fn joined<'b>(infos: impl Iterator<Item = &'b SourceInfo>) -> SourceInfo {
        let (mut frames, mut channels) = (0, 1);
        for i in infos {
            frames += super::Timeline::for_source(i.frames, i.sample_rate).frames;
            channels = channels.max(i.out_channels());
        }
        SourceInfo { container: "sequence".into(), codec: "pcm".into(), sample_rate: OUTPUT_RATE, channels, frames, priming: 0 }
    }

    /// PCM from output sample `start` on (for one item: on the 0.32 s grid, as encoders
    /// start; a station may start anywhere).
    pub(crate) fn pump_at(&self, start: u64) -> Result<SeqPump<'_>, PackageError> {
        let mut p = SeqPump { seq: self, item: 0, left: 0, pump: None, channels: self.info.out_channels() as usize, buf: Vec::new() };
        if self.items.len() == 1 {
            let it = &self.items[0];
            let src_start = (u128::from(start) * u128::from(it.info.sample_rate) / u128::from(OUTPUT_RATE)) as u64;
            let mut pump = FramePump::open(it.open, it.ext, it.info, src_start)?;
            pump.set_gain(it.gain);
            p.pump = Some(pump);
            p.left = u64::MAX;
            return Ok(p);
        }
        let i = self.starts.partition_point(|&s| s <= start).saturating_sub(1);
        p.open_item(i, start.saturating_sub(self.starts.get(i).copied().unwrap_or(0)))?;
        Ok(p)
    }
}

/// A [`Sequence`]'s PCM in whole frames, item after item, silence after the last.
pub(crate) struct SeqPump<'a> {
    seq: &'a Sequence<'a>,
    item: usize,
    /// Output samples of the current item still to come.
    left: u64,
    pump: Option<FramePump>,
    channels: usize,
    buf: Vec<f32>,
}

impl SeqPump<'_> {
    /// Opens item `i` at its output sample `local`: from the grid point before it (where a
    /// resampler gives the samples a start at 0 would), the difference read and dropped.
    fn open_item(&mut self, i: usize, local: u64) -> Result<(), PackageError> {
        self.item = i;
        let Some(it) = self.seq.items.get(i) else {
            self.pump = None;
            return Ok(());
        };
        let len = super::Timeline::for_source(it.info.frames, it.info.sample_rate).frames;
        let grid = local / super::UNIT * super::UNIT;
        let src_start = (u128::from(grid) * u128::from(it.info.sample_rate) / u128::from(OUTPUT_RATE)) as u64;
        let mut pump = FramePump::open(it.open, it.ext, it.info, src_start)?;
        pump.set_gain(it.gain);
        if local > grid {
            pump.next((local - grid) as usize)?;
        }
        self.left = len.saturating_sub(local);
        self.pump = Some(pump);
        Ok(())
    }

    pub fn next(&mut self, frames: usize) -> Result<&[f32], PackageError> {
        self.buf.clear();
        let mut want = frames as u64;
        while want > 0 {
            if self.left == 0 && self.pump.is_some() {
                self.open_item(self.item + 1, 0)?;
                continue;
            }
            let Some(pump) = self.pump.as_mut() else {
                self.buf.resize(frames * self.channels, 0.0);
                break;
            };
            let take = want.min(self.left).min(4096) as usize;
            let from = self.seq.items[self.item].info.out_channels() as usize;
            let pcm = pump.next(take)?;
            if from == self.channels {
                self.buf.extend_from_slice(pcm);
            } else {
                for &s in pcm {
                    self.buf.extend([s, s]);
                }
            }
            want -= take as u64;
            self.left -= take as u64;
        }
        Ok(&self.buf)
    }
}
