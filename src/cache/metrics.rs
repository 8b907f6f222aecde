//! Counters and histograms for `GET /metrics`, rendered in the Prometheus text format
//! (version 0.0.4). Lock-free: atomics only.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Upper bounds (seconds) of the encode-time histogram buckets.
const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// Sum in microseconds.
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, secs: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.counts[i].fetch_add(1, Relaxed);
            }
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_us.fetch_add((secs * 1e6) as u64, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {}", self.counts[i].load(Relaxed));
        }
        let n = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {n}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_us.load(Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {n}");
    }
}

#[derive(Default)]
pub struct Metrics {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    /// Requests that joined an encode already in flight (single flight).
    pub coalesced: AtomicU64,
    /// Cold requests refused with 429.
    pub rejected: AtomicU64,
    /// Segments produced by the encoder (each one encode).
    pub segments_encoded: AtomicU64,
    pub encode_jobs: AtomicU64,
    pub prefetch_jobs: AtomicU64,
    pub encode_errors: AtomicU64,
    pub progressive_streams: AtomicU64,
    /// Time from the start of a job to each segment it produced.
    pub segment_seconds: Histogram,
}

/// Gauges read at render time.
pub struct Gauges {
    pub cache_bytes: u64,
    pub cache_budget: u64,
    pub cache_entries: u64,
    pub evictions: u64,
    pub jobs_queued: u64,
    pub jobs_running: u64,
    pub max_jobs: u64,
}

impl Metrics {
    pub fn render(&self, g: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        let mut counter = |name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        counter("tonearm_segment_cache_hits_total", "Segment requests answered from the hot-segment cache.", self.hits.load(Relaxed));
        counter("tonearm_segment_cache_misses_total", "Segment requests that needed an encode.", self.misses.load(Relaxed));
        counter("tonearm_segment_coalesced_total", "Segment requests that joined an encode already in flight.", self.coalesced.load(Relaxed));
        counter("tonearm_transcode_rejected_total", "Cold requests refused with 429 because transcoding was saturated.", self.rejected.load(Relaxed));
        counter("tonearm_segments_encoded_total", "Segments produced by the encoder.", self.segments_encoded.load(Relaxed));
        counter("tonearm_encode_jobs_total", "Encode jobs started (one encoder session each).", self.encode_jobs.load(Relaxed));
        counter("tonearm_prefetch_jobs_total", "Encode jobs started to prepare segments ahead.", self.prefetch_jobs.load(Relaxed));
        counter("tonearm_encode_errors_total", "Encode jobs that failed.", self.encode_errors.load(Relaxed));
        counter("tonearm_progressive_streams_total", "Progressive (single-response) transcodes started.", self.progressive_streams.load(Relaxed));
        counter("tonearm_segment_cache_evictions_total", "Segments evicted from the cache.", g.evictions);
        let mut gauge = |name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        gauge("tonearm_segment_cache_bytes", "Bytes held by the hot-segment cache.", g.cache_bytes);
        gauge("tonearm_segment_cache_budget_bytes", "Byte budget of the hot-segment cache.", g.cache_budget);
        gauge("tonearm_segment_cache_entries", "Segments held by the hot-segment cache.", g.cache_entries);
        gauge("tonearm_transcode_queue_depth", "Transcode jobs waiting for a thread.", g.jobs_queued);
        gauge("tonearm_transcode_running", "Transcode jobs running.", g.jobs_running);
        gauge("tonearm_transcode_max_jobs", "Jobs (queued or running) beyond which cold work gets 429.", g.max_jobs);
        self.segment_seconds.render(&mut out, "tonearm_segment_encode_seconds", "Time to produce a segment, from the start of its encode job.");
        out
    }
}
