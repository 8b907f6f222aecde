//! A seeded mutation fuzzer for the parsers that see untrusted bytes: the probe, the tag
//! reader, the structure guard, the layout split (head / coded audio / tail), cover
//! inspection and scaling, and one segment's decode and encode for what the probe accepts.
//! Stable Rust, no libFuzzer: seeds from `testdata/` (good, bad, damaged and hostile
//! files), mutated with bit flips, interesting values, chunk copies and deletions,
//! truncation and splices of two seeds.
//!
//! In CI it runs for `FUZZ_SECS` (default 20 s). `scripts/fuzz.sh SECS` runs it longer in
//! a release build. Every input is written to `target/fuzz/current` before it is parsed, so
//! an abort (which no test can catch) leaves it behind for the script to keep; a panic is
//! caught, saved to `target/fuzz/crashes/`, and fails the test. Inputs that ever crashed
//! are kept in `testdata/fuzz-regressions/`, which tests/hostile.rs uploads through the
//! real server.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tonearm::media::{Input, cover, guard, layout, probe, tags};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| !matches!(x.to_str(), Some("md" | "sh" | "py"))) {
                let b = std::fs::read(&p).unwrap();
                if b.len() <= 2 << 20 {
                    out.push((p.extension().unwrap().to_string_lossy().into_owned(), b));
                }
            }
        }
    }
    out.sort();
    out
}

fn mutate(rng: &mut Rng, a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut x = a.to_vec();
    for _ in 0..1 + rng.below(8) {
        if x.is_empty() {
            x.push(0);
        }
        let at = rng.below(x.len());
        match rng.below(8) {
            0 => x[at] ^= 1 << rng.below(8),
            1 => x[at] = [0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE][rng.below(6)],
            2 => {
                // A 32-bit field set to an extreme (sizes, rates, counts).
                let v: u32 = [0, 1, u32::MAX, 0x7FFF_FFFF, 0x8000_0000, 65_535][rng.below(6)];
                let end = (at + 4).min(x.len());
                let n = end - at;
                x[at..end].copy_from_slice(&v.to_be_bytes()[..n]);
            }
            3 => {
                let len = rng.below(64.min(x.len() - at));
                let chunk = x[at..at + len].to_vec();
                let to = rng.below(x.len());
                x.splice(to..to, chunk);
            }
            4 => {
                let len = rng.below(256.min(x.len() - at));
                x.drain(at..at + len);
            }
            5 => x.truncate(at),
            6 => {
                // Splice another seed's tail at this point.
                let from = rng.below(b.len());
                x.truncate(at);
                x.extend_from_slice(&b[from..]);
            }
            _ => {
                let n = rng.below(32);
                let to = rng.below(x.len());
                let junk: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                x.splice(to..to, junk);
            }
        }
    }
    x.truncate(4 << 20);
    x
}

/// Everything the server does with an untrusted upload, short of storing it.
fn parse(bytes: &[u8], ext: &str, decode: bool) {
    let input = Input::Bytes(bytes::Bytes::copy_from_slice(bytes));
    let _ = guard::check(&input);
    let _ = layout::audio_region(&input);
    let (_, cover) = tags::read(&input, 32 << 20);
    if let Some(c) = cover
        && cover::inspect(&c.data).is_ok()
    {
        let _ = cover::scale_to_jpeg(&c.data, 64);
    }
    if cover::inspect(bytes).is_ok() {
        let _ = cover::scale_to_jpeg(bytes, 64);
    }
    let props = probe::probe(&input, ext);
    if let (Ok(p), true) = (props, decode) {
        let info = tonearm::media::decode::SourceInfo {
            container: p.container.clone(),
            codec: p.codec.clone(),
            sample_rate: p.sample_rate,
            channels: p.channels,
            frames: p.frames,
            priming: p.priming,
        };
        let data = bytes::Bytes::copy_from_slice(bytes);
        let open = move || -> std::io::Result<Box<dyn symphonia::core::io::MediaSource>> { Ok(Box::new(std::io::Cursor::new(data.clone()))) };
        let rung = tonearm::package::Rung { codec: tonearm::encode::Codec::Aac, bitrate: 96_000 };
        let _ = tonearm::package::produce(&open, ext, &info, &rung, 0..1, &mut |_, _| true);
    }
}

fn rss_peak_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok()))
        .map_or(0, |kb| kb / 1024)
}

#[test]
fn mutated_inputs_never_crash_the_parsers() {
    // On a thread with the stack the server's parsing threads have.
    std::thread::Builder::new().stack_size(tonearm::media::PARSER_STACK).spawn(fuzz).unwrap().join().unwrap();
}

fn fuzz() {
    let secs: u64 = std::env::var("FUZZ_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let seed: u64 = std::env::var("FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5EED_0001);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz");
    std::fs::create_dir_all(dir.join("crashes")).unwrap();
    let seeds = seeds();
    assert!(seeds.len() > 20, "seeds from testdata");
    let mut rng = Rng(seed);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let (mut runs, mut crashes) = (0u64, Vec::<PathBuf>::new());
    // Seeds as they are first, then mutations until the time is up.
    let mut queue: Vec<(String, Vec<u8>)> = seeds.clone();
    while Instant::now() < deadline || !queue.is_empty() {
        let (ext, input) = match queue.pop() {
            Some(x) => x,
            None => {
                let (ext, a) = &seeds[rng.below(seeds.len())];
                let (_, b) = &seeds[rng.below(seeds.len())];
                (ext.clone(), mutate(&mut rng, a, b))
            }
        };
        std::fs::write(dir.join("current"), &input).unwrap();
        let decode = runs % 16 == 0;
        let r = std::panic::catch_unwind(|| parse(&input, &ext, decode));
        if r.is_err() {
            let name = dir.join("crashes").join(format!("{}.{ext}", blake3::hash(&input).to_hex()));
            std::fs::write(&name, &input).unwrap();
            crashes.push(name);
        }
        runs += 1;
    }
    let peak = rss_peak_mb();
    eprintln!("fuzz: {runs} inputs in {secs} s (seed {seed:#x}), {} panics, peak RSS {peak} MB", crashes.len());
    assert!(crashes.is_empty(), "parsers panicked on: {crashes:?}");
    assert!(peak < 2048, "peak RSS {peak} MB");
}
