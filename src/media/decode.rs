//! Decoding a stored original to PCM from any frame position: interleaved `f32`, at most two
//! channels, on the *playable* timeline the probe measured (frame 0 is the first frame after
//! the encoder's priming; exactly `frames` frames come out, padded with silence if a damaged
//! file ends early). A packet that does not decode becomes silence of its length; reading
//! never fails once the file is open, so a stream never breaks off midway.
//!
//! Seeking: FLAC, WAV, MP3 and Opus seek sample-exactly in symphonia 0.6.1 (checked in
//! crates-and-codecs.md §2). AAC in MP4 lands on the right packet but decodes its first frame
//! without pre-roll, so it seeks [`SEEK_MARGIN`] early and discards. Vorbis lands late and
//! ALAC stops yielding packets after a seek in symphonia 0.6.1, so those decode from the start
//! and discard (both decode at hundreds of times real time).
//!
//! AAC in MP4: symphonia does not apply the edit list, so the probe's `priming` frames are
//! dropped here. HE-AAC (SBR, PS), which symphonia decodes as its half-rate LC core, goes to
//! FDK's decoder instead ([`super::heaac`]) so it plays at the right speed and bandwidth.

use symphonia::core::codecs::CodecParameters;
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::Time;

use super::codecs;
use super::heaac::{self, HeAacDecoder};

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("cannot open the audio: {0}")]
    Open(String),
    #[error("unsupported for streaming: {0}")]
    Unsupported(String),
}

/// What the decoder needs to know about a stored original (from the probe, via the catalog).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    /// Container short name as the probe gives it (`flac`, `mp3`, `mp4`, `ogg`, `wav`, ...).
    pub container: String,
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u16,
    /// Playable frames at `sample_rate`.
    pub frames: u64,
    /// Encoder priming the container declares (only applied here for MP4).
    pub priming: u64,
}

impl SourceInfo {
    /// Channels of the decoded output: mono stays mono, everything else becomes stereo.
    pub fn out_channels(&self) -> u16 {
        if self.channels == 1 { 1 } else { 2 }
    }
}

/// Frames decoded and discarded before a seek target for codecs without exact seeking.
pub const SEEK_MARGIN_SECS: f64 = 0.1;
/// Decode errors in a row after which the rest of the file counts as silence.
const MAX_BAD_RUN: usize = 64;
/// A packet that does not decode is replaced by silence of its duration, at most this
/// many seconds (a lying duration cannot make the silence large).
const MAX_CONCEALED_SECS: u64 = 1;

enum Dec {
    Symphonia(Box<dyn AudioDecoder>),
    HeAac(HeAacDecoder),
}

pub struct PcmReader {
    fmt: Box<dyn FormatReader>,
    dec: Dec,
    track: u32,
    in_channels: usize,
    out_channels: usize,
    /// Decoded frames still to throw away (priming, seek overshoot).
    skip: u64,
    /// Playable frames handed out so far, counted from frame 0 of the track.
    pos: u64,
    total: u64,
    scratch: Vec<f32>,
    pending: Vec<f32>,
    pending_at: usize,
    ended: bool,
    /// Longest silence one undecodable packet becomes, in frames.
    max_conceal: u64,
}

impl PcmReader {
    /// Opens `src` and positions it at playable frame `start`.
    pub fn open(src: Box<dyn MediaSource>, ext_hint: &str, info: &SourceInfo, start: u64) -> Result<PcmReader, DecodeError> {
        super::probe::playable(info.sample_rate, info.channels, info.frames).map_err(|e| DecodeError::Unsupported(e.to_string()))?;
        let mss = MediaSourceStream::new(src, MediaSourceStreamOptions::default());
        let mut hint = Hint::new();
        if !ext_hint.is_empty() {
            hint.with_extension(ext_hint);
        }
        let fmt = symphonia::default::get_probe()
            .probe(&hint, mss, FormatOptions::default(), MetadataOptions::default())
            .map_err(|e| DecodeError::Open(e.to_string()))?;
        let track = fmt.default_track(TrackType::Audio).ok_or_else(|| DecodeError::Open("no audio track".into()))?.clone();
        let params = match &track.codec_params {
            Some(CodecParameters::Audio(a)) => a.clone(),
            _ => return Err(DecodeError::Open("no audio track".into())),
        };
        let asc = params.extra_data.as_deref().unwrap_or(&[]);
        let dec = if info.codec == "aac" && heaac::is_he_aac(asc, info.sample_rate) {
            Dec::HeAac(HeAacDecoder::new(asc).map_err(|e| DecodeError::Unsupported(e.to_string()))?)
        } else {
            Dec::Symphonia(codecs().make_audio_decoder(&params, &AudioDecoderOptions::default()).map_err(|e| DecodeError::Unsupported(e.to_string()))?)
        };
        let in_channels = params.channels.as_ref().map(|c| c.count()).unwrap_or(info.channels as usize).max(1);
        let is_mp4 = info.container == "mp4";
        let priming = if is_mp4 { info.priming } else { 0 };
        let start = start.min(info.frames);
        let mut reader = PcmReader {
            fmt,
            dec,
            track: track.id,
            in_channels,
            out_channels: info.out_channels() as usize,
            skip: priming + start,
            pos: start,
            total: info.frames,
            scratch: Vec::new(),
            pending: Vec::new(),
            pending_at: 0,
            ended: false,
            max_conceal: MAX_CONCEALED_SECS * u64::from(info.sample_rate),
        };
        let exact_seek = matches!(info.codec.as_str(), "flac" | "mp3" | "opus") || info.codec.starts_with("pcm");
        let margin_seek = info.codec == "aac" && is_mp4;
        if start > 0 && (exact_seek || margin_seek) {
            let margin = if margin_seek { (SEEK_MARGIN_SECS * info.sample_rate as f64) as u64 } else { 0 };
            let target = (priming + start).saturating_sub(margin);
            if target > 0 {
                reader.seek_to(target, info.sample_rate, &track)?;
            }
        }
        Ok(reader)
    }

    /// Seeks to decoded frame `target` (priming included) and arranges to discard up to
    /// `self.skip`.
    fn seek_to(&mut self, target: u64, rate: u32, track: &symphonia::core::formats::Track) -> Result<(), DecodeError> {
        let Some(time) = Time::try_from_secs_f64(target as f64 / rate as f64) else { return Ok(()) };
        let to = match self.fmt.seek(SeekMode::Accurate, SeekTo::Time { time, track_id: Some(self.track) }) {
            Ok(to) => to,
            // Not seekable after all: decode from the start and discard.
            Err(_) => return Ok(()),
        };
        if let Dec::Symphonia(d) = &mut self.dec {
            d.reset();
        }
        // Timestamps are in the track's time base; convert the landing point to frames.
        let landed = match track.time_base {
            Some(tb) => {
                let ts = to.actual_ts.get().max(0) as f64;
                (ts * tb.numer.get() as f64 / tb.denom.get() as f64 * rate as f64).round() as u64
            }
            None => to.actual_ts.get().max(0) as u64,
        };
        // `skip` was counted from decoded frame 0; the decoder now starts at `landed`.
        self.skip = self.skip.saturating_sub(landed.min(self.skip));
        Ok(())
    }

    pub fn channels(&self) -> usize {
        self.out_channels
    }

    /// Playable frame the next `read` starts at.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Appends up to `max` frames to `out` (interleaved). Returns the frames appended; 0 means
    /// the track is over. Past a damaged end, silence fills up to the declared length.
    pub fn read(&mut self, out: &mut Vec<f32>, max: usize) -> Result<usize, DecodeError> {
        let want = (max as u64).min(self.total - self.pos) as usize;
        if want == 0 {
            return Ok(0);
        }
        let ch = self.out_channels;
        while self.pending_at >= self.pending.len() && !self.ended {
            self.decode_more()?;
        }
        let n = if self.pending_at < self.pending.len() {
            let avail = (self.pending.len() - self.pending_at) / ch;
            let n = avail.min(want);
            out.extend_from_slice(&self.pending[self.pending_at..self.pending_at + n * ch]);
            self.pending_at += n * ch;
            n
        } else {
            // Ended early (truncated file): keep the timeline by padding with silence.
            out.resize(out.len() + want * ch, 0.0);
            want
        };
        self.pos += n as u64;
        Ok(n)
    }

    /// Decodes the next packet into `pending`, applying skips and the channel mix.
    fn decode_more(&mut self) -> Result<(), DecodeError> {
        let mut bad_run = 0;
        loop {
            let pkt = match self.fmt.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => {
                    self.ended = true;
                    return Ok(());
                }
                Err(SymError::ResetRequired) => {
                    if let Dec::Symphonia(d) = &mut self.dec {
                        d.reset();
                    }
                    continue;
                }
                Err(SymError::DecodeError(_)) if bad_run < MAX_BAD_RUN => {
                    bad_run += 1;
                    continue;
                }
                Err(_) => {
                    self.ended = true;
                    return Ok(());
                }
            };
            if pkt.track_id != self.track {
                continue;
            }
            self.scratch.clear();
            let decoded: Result<usize, String> = match &mut self.dec {
                Dec::Symphonia(d) => d
                    .decode(&pkt)
                    .map(|buf| {
                        buf.copy_to_vec_interleaved(&mut self.scratch);
                        buf.spec().channels().count().max(1)
                    })
                    .map_err(|e| e.to_string()),
                Dec::HeAac(d) => d.decode(&pkt.data, &mut self.scratch).map_err(|e| e.to_string()),
            };
            let in_ch = match decoded {
                Ok(ch) => ch,
                // Damage in the middle: conceal the packet with silence of its length (the
                // timeline stays exact), and after a long run of them treat the rest as
                // silence too. A listener hears a gap, never a broken-off stream.
                Err(e) => {
                    bad_run += 1;
                    if bad_run > MAX_BAD_RUN {
                        tracing::debug!(error = %e, "undecodable from here: the rest is silence");
                        self.ended = true;
                        return Ok(());
                    }
                    let frames = pkt.dur.get().min(self.max_conceal) as usize;
                    if frames == 0 {
                        continue;
                    }
                    self.scratch.resize(frames * self.in_channels, 0.0);
                    self.in_channels
                }
            };
            let frames = self.scratch.len() / in_ch;
            if frames == 0 {
                continue;
            }
            let drop = self.skip.min(frames as u64) as usize;
            self.skip -= drop as u64;
            if drop == frames {
                continue;
            }
            self.in_channels = in_ch;
            self.pending.clear();
            self.pending_at = 0;
            mix_into(&self.scratch[drop * in_ch..], in_ch, self.out_channels, &mut self.pending);
            return Ok(());
        }
    }
}

/// Mixes interleaved `src` with `in_ch` channels into `out_ch` (1 or 2) channels.
/// Multichannel keeps front left/right and folds the centre in at -3 dB (ITU-R BS.775).
fn mix_into(src: &[f32], in_ch: usize, out_ch: usize, out: &mut Vec<f32>) {
    if in_ch == out_ch {
        out.extend_from_slice(src);
        return;
    }
    const C: f32 = std::f32::consts::FRAC_1_SQRT_2;
    for f in src.chunks_exact(in_ch) {
        match (in_ch, out_ch) {
            (1, 2) => out.extend_from_slice(&[f[0], f[0]]),
            (_, 1) => out.push(f.iter().sum::<f32>() / in_ch as f32),
            (2, 2) => out.extend_from_slice(&f[..2]),
            (_, _) => {
                let c = if in_ch >= 3 { f[2] * C } else { 0.0 };
                let g = 1.0 / (1.0 + C);
                out.extend_from_slice(&[(f[0] + c) * g, (f[1] + c) * g]);
            }
        }
    }
}
