//! Criterion benches for the streaming pipeline, in process, on a synthetic 30 s 44.1 kHz
//! stereo source (tones plus noise, written as WAV so no external tool is needed):
//! - cold first segment (0.96 s) and a cold mid-track segment (3.84 s, after a seek) per rung;
//! - a whole 30 s rendition in one encoder session per rung;
//! - packaging alone (fMP4 media segment of 180 packets);
//! - the background analysis of a stored file: the verification decode alone, and the
//!   EBU R128 measurement (its own decode plus the meter), per 30 s file;
//! - a seekable MP3 segment (one LAME session) against a seekable AAC piece (the rung's
//!   segment re-framed).
//!
//! `cargo bench --bench stream`. The side-by-side figures against ffmpeg and nginx come
//! from `scripts/bench-stream.py`.

use std::io;

#[path = "../tests/e2e/common/wav.rs"]
mod wav;
use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use symphonia::core::io::MediaSource;
use tonearm::encode::Codec;
use tonearm::media::decode::SourceInfo;
use tonearm::package::{self, Rung, Timeline, fmp4};

fn source(dir: &Path) -> PathBuf {
    let path = dir.join("music.wav");
    let rate = 44_100u32;
    let n = rate as usize * 30;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut data: Vec<i16> = Vec::with_capacity(n * 2);
    for i in 0..n {
        let t = i as f64 / rate as f64;
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let noise = ((seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.1;
        let note = 220.0 * (1.0 + (t / 2.0).floor() % 4.0 / 4.0);
        let v = 0.3 * (std::f64::consts::TAU * note * t).sin() + 0.15 * (std::f64::consts::TAU * note * 1.5 * t).sin() + noise;
        data.extend([v, v * 0.9 + noise].map(|x| (x * 32767.0) as i16));
    }
    wav::write_wav(&path, rate, 2, &data);
    path
}

fn rungs() -> [Rung; 4] {
    [
        Rung { codec: Codec::Aac, bitrate: 96_000 },
        Rung { codec: Codec::Aac, bitrate: 192_000 },
        Rung { codec: Codec::Opus, bitrate: 64_000 },
        Rung { codec: Codec::Opus, bitrate: 128_000 },
    ]
}

fn segments(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = source(dir.path());
    let p = tonearm::media::probe::probe_path(&path).unwrap();
    let src = SourceInfo { container: p.container, codec: p.codec, sample_rate: p.sample_rate, channels: p.channels, frames: p.frames, priming: p.priming };
    let open = || -> io::Result<Box<dyn MediaSource>> { Ok(Box::new(std::fs::File::open(&path)?)) };
    let count = Timeline::for_source(src.frames, src.sample_rate).segment_count();
    let mut g = c.benchmark_group("segment");
    g.sample_size(20);
    for rung in rungs() {
        for (name, range) in [("first", 0..1), ("mid", 4..5)] {
            g.bench_function(format!("{}/{name}", rung.id()), |b| {
                b.iter(|| package::produce(&open, "wav", &src, &rung, range.clone(), &mut |_, _| true).unwrap())
            });
        }
    }
    g.finish();
    let mut g = c.benchmark_group("rendition_30s");
    g.sample_size(10);
    for rung in rungs() {
        g.bench_function(rung.id(), |b| b.iter(|| package::produce(&open, "wav", &src, &rung, 0..count, &mut |_, _| true).unwrap()));
    }
    g.finish();
    let track = fmp4::TrackConfig {
        entry: fmp4::SampleEntry::Opus { pre_skip: 312 },
        channels: 2,
        timescale: 48_000,
        frame_len: 960,
        priming: 312,
        duration: 48_000 * 30,
    };
    let packets: Vec<Vec<u8>> = (0..192).map(|i| vec![i as u8; 320]).collect();
    c.bench_function("fmp4_media_segment_192_packets", |b| b.iter(|| fmp4::media_segment(&track, 2, 46_080, &packets)));
    let mut g = c.benchmark_group("analysis_30s");
    g.sample_size(10);
    let input = tonearm::media::Input::File(path.clone());
    g.bench_function("verify_decode", |b| b.iter(|| tonearm::media::probe::verify(&input, "wav").unwrap()));
    g.bench_function("loudness_r128", |b| b.iter(|| tonearm::media::loudness::measure(open().unwrap(), "wav", &src).unwrap()));
    g.finish();
    let mut g = c.benchmark_group("seekable");
    g.sample_size(20);
    let mp3 = package::seekable::Seekable::mp3(&src, 192);
    g.bench_function("mp3-192/mid", |b| b.iter(|| package::produce(&open, "wav", &src, &mp3.rung, 4..5, &mut |_, _| true).unwrap()));
    g.finish();
}

criterion_group!(benches, segments);
criterion_main!(benches);
