//! Progressive streams: one continuous encode from any start time to the end, as a byte
//! stream a plain HTTP response can carry: ADTS for AAC, Ogg for Opus, raw MPEG frames for
//! MP3. The sink receives chunks of about half a second as they are ready and returns false
//! to stop (the listener went away).

use super::ogg::{self, OggWriter};
use super::{OpenSource, PackageError, Timeline};
use crate::encode::{self, Codec};
use crate::media::decode::SourceInfo;
use super::pump::FramePump;

/// Packets gathered into one chunk (Ogg page) before it goes out: about 0.5 s.
const CHUNK_PACKETS: usize = 25;

/// What a progressive stream will contain.
#[derive(Debug, Clone, Copy)]
pub struct StreamPlan {
    /// Source frame the stream starts at.
    pub src_start: u64,
    /// Playable seconds from the start point to the end.
    pub duration: f64,
}

pub fn plan(src: &SourceInfo, offset_secs: f64) -> StreamPlan {
    let offset = if offset_secs.is_finite() { offset_secs.max(0.0) } else { 0.0 };
    let src_start = ((offset * f64::from(src.sample_rate)) as u64).min(src.frames);
    StreamPlan { src_start, duration: (src.frames - src_start) as f64 / f64::from(src.sample_rate.max(1)) }
}

pub fn stream(
    open: OpenSource<'_>,
    ext: &str,
    src: &SourceInfo,
    codec: Codec,
    bitrate: u32,
    plan: StreamPlan,
    sink: &mut dyn FnMut(Vec<u8>) -> bool,
) -> Result<(), PackageError> {
    let channels = src.out_channels() as usize;
    let mut enc = encode::new_encoder(codec, bitrate, channels, true)?;
    let f = enc.frame_len();
    let delay = u64::from(enc.delay());
    let frames = Timeline::for_source(src.frames - plan.src_start, src.sample_rate).frames;
    let mut pump = FramePump::open(open, ext, src, plan.src_start)?;
    let mut packets = Vec::new();
    match codec {
        Codec::Opus => {
            let mut ogg = OggWriter::new(rand::random());
            let head = ogg::opus_head(channels as u8, delay as u16, src.sample_rate);
            let mut first = ogg.page(&[head], 0, ogg::HEADER_BOS);
            first.extend(ogg.page(&[ogg::opus_tags()], 0, 0));
            if !sink(first) {
                return Ok(());
            }
            let total = (frames + delay).div_ceil(f as u64);
            let mut done = 0u64;
            while done < total {
                enc.encode(pump.next(f)?, &mut packets)?;
                done += 1;
                if packets.len() >= CHUNK_PACKETS || done == total {
                    let last = done == total;
                    // RFC 7845 §4: the granule counts decoded samples including the pre-skip;
                    // the last one ends at the playable length.
                    let granule = if last { delay + frames } else { done * f as u64 };
                    let page = ogg.page(&packets, granule, if last { ogg::HEADER_EOS } else { 0 });
                    packets.clear();
                    if !sink(page) {
                        return Ok(());
                    }
                }
            }
        }
        Codec::Aac => {
            let total = (frames + delay).div_ceil(f as u64);
            for done in 1..=total {
                enc.encode(pump.next(f)?, &mut packets)?;
                if packets.len() >= CHUNK_PACKETS || done == total {
                    if !sink(packets.concat()) {
                        return Ok(());
                    }
                    packets.clear();
                }
            }
        }
        Codec::Mp3 => {
            // LAME takes any number of samples and pads the end itself.
            let mut left = frames;
            let mut n = 0;
            while left > 0 {
                let take = (f as u64).min(left) as usize;
                let pcm = pump.next(take)?;
                enc.encode(pcm, &mut packets)?;
                left -= take as u64;
                n += 1;
                if n % CHUNK_PACKETS == 0 && !packets.is_empty() {
                    if !sink(packets.concat()) {
                        return Ok(());
                    }
                    packets.clear();
                }
            }
            enc.finish(&mut packets)?;
            if !packets.is_empty() && !sink(packets.concat()) {
                return Ok(());
            }
        }
    }
    Ok(())
}
