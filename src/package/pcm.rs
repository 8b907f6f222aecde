//! LPCM streams (DLNA's `LPCM` profile: `audio/L16;rate=48000;channels=N`, 16-bit
//! big-endian samples, interleaved, no header; RFC 2586): the decoded, resampled PCM every
//! encode starts from, for renderers that play nothing compressed or that seek by time.
//!
//! Every byte has its place (frame `n` is bytes `n·2·channels..`), so the length is known
//! before anything is decoded and any byte range is made on its own, from the pieces of
//! 3.84 s it overlaps, each decoded from 0.32 s before it: a range is exactly the bytes a
//! full GET has there. Knows no cache, store or HTTP.

use std::ops::Range;

use super::pump::FramePump;
use super::{OpenSource, PackageError, Timeline, UNIT};
use crate::encode::OUTPUT_RATE;
use crate::media::decode::SourceInfo;

/// Frames per chunk handed to the sink.
const CHUNK_FRAMES: usize = 4800;

/// Bytes of one frame (all channels) of `src`'s stream.
pub fn frame_bytes(src: &SourceInfo) -> u64 {
    u64::from(src.out_channels()) * 2
}

/// The whole stream's length in bytes.
pub fn len(src: &SourceInfo) -> u64 {
    Timeline::for_source(src.frames, src.sample_rate).frames * frame_bytes(src)
}

/// The first byte of the frame at `secs` (the end for a time past it).
pub fn offset_at(src: &SourceInfo, secs: f64) -> u64 {
    let frame = (secs.max(0.0) * f64::from(OUTPUT_RATE)).round() as u64;
    (frame * frame_bytes(src)).min(len(src))
}

/// The MIME type of a stream of `channels` (a source's `out_channels`: one or two).
pub fn mime(channels: u16) -> &'static str {
    match channels {
        1 => "audio/L16;rate=48000;channels=1",
        _ => "audio/L16;rate=48000;channels=2",
    }
}

/// Bits per second of a stream of `channels`.
pub fn bitrate(channels: u16) -> u32 {
    OUTPUT_RATE * 16 * u32::from(channels)
}

/// Frames of one piece: the stream is made piece by piece, each decoded afresh from
/// [`PRE_ROLL`] before it (3.84 s, the HLS segment's length), so the bytes of a piece are the
/// same whichever range asked for them.
const PIECE: u64 = 12 * UNIT;
/// Decoded and dropped before a piece, so the resampler's state is that of a continuous
/// decode (its filter is a few milliseconds long); 0.32 s keeps the start on the grid.
const PRE_ROLL: u64 = UNIT;

/// Bytes `range` of the stream of `src`, scaled by `gain`, in chunks to `sink` (which
/// returns false to stop).
pub fn stream(
    open: OpenSource<'_>,
    ext: &str,
    src: &SourceInfo,
    gain: f32,
    range: Range<u64>,
    sink: &mut dyn FnMut(Vec<u8>) -> bool,
) -> Result<(), PackageError> {
    let total = len(src);
    let (start, end) = (range.start.min(total), range.end.min(total));
    if start >= end {
        return Ok(());
    }
    let fb = frame_bytes(src);
    let channels = src.out_channels() as usize;
    let (first, last) = (start / fb, (end - 1) / fb);
    for piece in first / PIECE..=last / PIECE {
        let (p0, p1) = (piece * PIECE, ((piece + 1) * PIECE).min(total / fb));
        let from = p0.saturating_sub(PRE_ROLL);
        // The grid point in source frames: 0.32 s is a whole number of frames at every rate
        // that is a multiple of 25 Hz.
        let src_start = (u128::from(from) * u128::from(src.sample_rate) / u128::from(OUTPUT_RATE)) as u64;
        let mut pump = FramePump::open(open, ext, src, src_start.min(src.frames))?;
        pump.set_gain(gain);
        let mut skip = first.max(p0) - from;
        while skip > 0 {
            let n = skip.min(CHUNK_FRAMES as u64) as usize;
            pump.next(n)?;
            skip -= n as u64;
        }
        let mut at = first.max(p0);
        let stop = (last + 1).min(p1);
        while at < stop {
            let frames = (stop - at).min(CHUNK_FRAMES as u64) as usize;
            let pcm = pump.next(frames)?;
            let mut bytes = Vec::with_capacity(frames * channels * 2);
            for &s in pcm {
                let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
                bytes.extend_from_slice(&v.to_be_bytes());
            }
            // Trim to the range's bytes (it may start or end inside a frame).
            let (b0, b1) = (at * fb, (at + frames as u64) * fb);
            let (a, b) = ((start.max(b0) - b0) as usize, (end.min(b1) - b0) as usize);
            at += frames as u64;
            if !sink(bytes[a..b].to_vec()) {
                return Ok(());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_wav::write_wav;
    use super::super::tests::source_info;
    use super::*;
    use symphonia::core::io::MediaSource;

    fn collect(path: &std::path::Path, src: &SourceInfo, range: Range<u64>) -> Vec<u8> {
        let open = || -> std::io::Result<Box<dyn MediaSource>> { Ok(Box::new(std::fs::File::open(path)?)) };
        let mut out = Vec::new();
        stream(&open, "wav", src, 1.0, range, &mut |b| {
            out.extend(b);
            true
        })
        .unwrap();
        out
    }

    #[test]
    fn ranges_are_the_bytes_of_the_whole_stream_across_pieces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tone.wav");
        let n = 44_100 * 9;
        let data: Vec<i16> = (0..n * 2).map(|i| ((0.4 * (std::f64::consts::TAU * 440.0 * (i / 2) as f64 / 44_100.0).sin()) * 32767.0) as i16).collect();
        write_wav(&path, 44_100, 2, &data);
        let src = source_info(&path);
        let whole = collect(&path, &src, 0..u64::MAX);
        assert_eq!(whole.len() as u64, len(&src));
        assert_eq!(len(&src), 48_000 * 9 * 4);
        let p = PIECE * 4;
        for (a, b) in [(0, 10), (p - 3, p + 5), (2 * p + 1, 2 * p + 999), (1_000_001, len(&src)), (len(&src) - 2, len(&src))] {
            assert_eq!(collect(&path, &src, a..b), &whole[a as usize..b as usize], "bytes {a}..{b}");
        }
        // The joins between pieces are where a continuous decode would be: a 440 Hz tone
        // changes by at most 2π·440/48000 of its amplitude per sample.
        let s = |i: usize| i16::from_be_bytes([whole[i * 4], whole[i * 4 + 1]]) as f64;
        let step = 0.4 * 32767.0 * std::f64::consts::TAU * 440.0 / 48_000.0 + 2.0;
        for join in [PIECE as usize, 2 * PIECE as usize] {
            assert!((s(join) - s(join - 1)).abs() <= step, "join at {join}: {} then {}", s(join - 1), s(join));
        }
        assert_eq!(offset_at(&src, 1.0), 192_000);
        assert_eq!(offset_at(&src, 100.0), len(&src));
    }
}
