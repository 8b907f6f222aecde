//! The hot-segment cache and the transcode scheduler: the one place that decides when to
//! encode. Owns the byte-budgeted cache ([`lru`]), single flight (one encode per segment no
//! matter how many ask), bounded concurrency with refusal instead of unbounded queueing,
//! read-ahead of the next segments, and the counters behind `/metrics` ([`metrics`]).
//!
//! Keys are (content hash of the audio, rung, segment index, [`FORMAT_VERSION`]), never a
//! user or track id, so one encode serves everyone who owns the same audio. Encoding runs on
//! a dedicated rayon pool; async callers wait on a shared future and never block the
//! executor. Depends on `package`, `media` and the `BlobStore` trait; knows nothing of HTTP.

mod lru;
pub mod metrics;
pub mod shm;

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use symphonia::core::io::MediaSource;
use tokio::sync::oneshot;

use crate::domain::{ContentHash, Part};
use crate::media::SeekSource;
use crate::media::decode::SourceInfo;
use crate::package::{self, FORMAT_VERSION, Rung, Timeline};
use crate::store::{BlobStore, open_parts};
use lru::Slru;
use metrics::{Gauges, Metrics};

#[derive(Debug, Clone, thiserror::Error)]
pub enum StreamError {
    #[error("transcoding is at capacity; retry in {0} s")]
    Busy(u32),
    #[error("segment {0} does not exist")]
    NoSuchSegment(u32),
    #[error("transcoding failed: {0}")]
    Failed(String),
}

/// A stored original as the pipeline needs it.
#[derive(Debug, Clone)]
pub struct MediaRef {
    /// What the rendition depends on: the coded audio blob (shared by copies that differ
    /// only in tags) with the timeline the probe read. Segments are cached under it.
    pub key: ContentHash,
    /// The original's blobs, in order.
    pub parts: Vec<Part>,
    pub info: SourceInfo,
    /// The original file name's extension, a hint for the demuxer.
    pub ext: String,
    /// A station's originals, played back to back (empty for one original, which is
    /// `parts`).
    pub items: Arc<[MediaRef]>,
    /// Loudness normalisation in dB (0: none); part of `key`.
    pub gain_db: f32,
}

impl MediaRef {
    /// The cache identity of `audio` decoded as `info` says (tag-only differences in the
    /// container may change the priming read from it, so that is part of the key).
    pub fn audio_key(audio: &ContentHash, info: &SourceInfo) -> ContentHash {
        let mut h = blake3::Hasher::new();
        h.update(&audio.0);
        h.update(&info.frames.to_le_bytes());
        h.update(&info.priming.to_le_bytes());
        h.update(&info.sample_rate.to_le_bytes());
        h.update(&info.channels.to_le_bytes());
        ContentHash(*h.finalize().as_bytes())
    }

    /// Originals played back to back as one source (a radio station of an album or a
    /// playlist): cached under the ordered list of their keys.
    pub fn station(items: Vec<MediaRef>) -> MediaRef {
        let mut h = blake3::Hasher::new();
        h.update(b"tonearm-station-v1");
        for m in &items {
            h.update(&m.key.0);
        }
        let info = package::Sequence::joined(items.iter().map(|m| &m.info));
        MediaRef { key: ContentHash(*h.finalize().as_bytes()), parts: Vec::new(), info, ext: String::new(), items: items.into(), gain_db: 0.0 }
    }

    /// The same audio brought up or down by `db` (loudness normalisation): its own cache
    /// identity, so normalised and plain segments never mix.
    pub fn with_gain(&self, db: f32) -> MediaRef {
        let mut h = blake3::Hasher::new();
        h.update(&self.key.0);
        h.update(b"gain");
        h.update(&((db * 100.0).round() as i32).to_le_bytes());
        MediaRef { key: ContentHash(*h.finalize().as_bytes()), gain_db: db, ..self.clone() }
    }

    /// The linear factor of `gain_db`.
    pub fn gain(&self) -> f32 {
        10f32.powf(self.gain_db / 20.0)
    }

    pub fn timeline(&self) -> Timeline {
        Timeline::for_source(self.info.frames, self.info.sample_rate)
    }
}

/// A queued encoder session: the segments it will produce, when a player needs the first
/// of them, and the work.
struct Job {
    key: Key,
    deadline: Instant,
    run: Box<dyn FnOnce() + Send>,
}

/// Queued jobs by urgency: what players wait for, earliest playback deadline first, then
/// read-ahead in order.
#[derive(Default)]
struct JobQueue {
    urgent: Vec<Job>,
    ahead: std::collections::VecDeque<Job>,
}

impl JobQueue {
    fn pop(&mut self) -> Option<Job> {
        let next = self.urgent.iter().enumerate().min_by_key(|(_, j)| j.deadline).map(|(i, _)| i);
        match next {
            Some(i) => Some(self.urgent.swap_remove(i)),
            None => self.ahead.pop_front(),
        }
    }
}

/// How far ahead a player that asks for segment `k` is assumed to be buffered: the audio
/// before `k`, up to what players keep (hls.js fills about this much before it waits). A
/// player starting (segment 0) has nothing: its segment goes before a playing one's.
const ASSUMED_BUFFER_SECS: f64 = 10.0;

fn deadline(m: &MediaRef, k: u32) -> Instant {
    let ahead = (m.timeline().start(k) as f64 / f64::from(crate::encode::OUTPUT_RATE)).min(ASSUMED_BUFFER_SECS);
    Instant::now() + std::time::Duration::from_secs_f64(ahead)
}

/// Segment index used for the init segment in cache keys.
const INIT: u32 = u32::MAX;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    hash: ContentHash,
    rung: Rung,
    index: u32,
    version: u32,
}

impl Key {
    fn new(hash: ContentHash, rung: Rung, index: u32) -> Key {
        Key { hash, rung, index, version: FORMAT_VERSION }
    }
}

type Waiter = Shared<BoxFuture<'static, Result<Bytes, StreamError>>>;

pub struct StreamSettings {
    pub cache_bytes: u64,
    pub threads: usize,
    pub max_jobs: usize,
    pub prefetch: u32,
}

pub struct Streamer {
    store: Arc<dyn BlobStore>,
    cache: Mutex<Slru<Key>>,
    inflight: Mutex<HashMap<Key, Waiter>>,
    pool: rayon::ThreadPool,
    /// Jobs waiting for a transcode thread: a player's segment before anyone's read-ahead
    /// (each `pool.spawn` runs whichever job is most urgent when a thread frees up).
    queue: Mutex<JobQueue>,
    /// Jobs queued or running (admission control).
    jobs: AtomicUsize,
    running: AtomicUsize,
    /// Segment jobs queued or running (progressive streams' slots not counted).
    segment_jobs: AtomicUsize,
    threads: usize,
    max_jobs: usize,
    prefetch: u32,
    budget: u64,
    pub metrics: Metrics,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave them inconsistent (every update is
    // a single insert/remove), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Holds one transcode slot (for progressive streams); released on drop.
pub struct Slot {
    streamer: Arc<Streamer>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.streamer.jobs.fetch_sub(1, Relaxed);
        self.streamer.running.fetch_sub(1, Relaxed);
    }
}

impl Streamer {
    pub fn new(store: Arc<dyn BlobStore>, s: StreamSettings) -> io::Result<Arc<Streamer>> {
        let threads = s.threads.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .stack_size(crate::media::PARSER_STACK)
            .num_threads(threads)
            .thread_name(|i| format!("transcode-{i}"))
            .build()
            .map_err(io::Error::other)?;
        Ok(Arc::new(Streamer {
            store,
            cache: Mutex::new(Slru::new(s.cache_bytes)),
            inflight: Mutex::new(HashMap::new()),
            pool,
            queue: Mutex::new(JobQueue::default()),
            jobs: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            segment_jobs: AtomicUsize::new(0),
            threads,
            max_jobs: if s.max_jobs == 0 { 64 * threads } else { s.max_jobs },
            prefetch: s.prefetch,
            budget: s.cache_bytes,
            metrics: Metrics::default(),
        }))
    }

    /// Opens a stored original (its parts, in order) for the decoder.
    pub fn opener(&self, parts: Vec<Part>) -> impl Fn() -> io::Result<Box<dyn MediaSource>> + Send + Sync + use<> {
        let store = self.store.clone();
        move || {
            let r = open_parts(store.as_ref(), &parts).map_err(io::Error::other)?;
            let len = r.len();
            Ok(Box::new(SeekSource::new(r, len)) as Box<dyn MediaSource>)
        }
    }

    fn try_acquire(&self, limit: usize) -> bool {
        self.jobs.fetch_update(Relaxed, Relaxed, |n| (n < limit).then_some(n + 1)).is_ok()
    }

    /// Whether segment jobs are queued or running (background work waits for this).
    pub fn busy(&self) -> bool {
        self.segment_jobs.load(Relaxed) > 0
    }

    /// A transcode slot for a long-running progressive stream, or `Busy`.
    pub fn progressive_slot(self: &Arc<Self>) -> Result<Slot, StreamError> {
        if !self.try_acquire(self.max_jobs) {
            self.metrics.rejected.fetch_add(1, Relaxed);
            return Err(StreamError::Busy(2));
        }
        self.running.fetch_add(1, Relaxed);
        self.metrics.progressive_streams.fetch_add(1, Relaxed);
        Ok(Slot { streamer: self.clone() })
    }

    /// The init segment of `rung` (cheap: no audio is encoded).
    pub async fn init(self: &Arc<Self>, m: &MediaRef, rung: Rung) -> Result<Bytes, StreamError> {
        let key = Key::new(m.key, rung, INIT);
        let cached = lock(&self.cache).get(&key);
        if let Some(b) = cached {
            return Ok(b);
        }
        let info = m.info.clone();
        let bytes = tokio::task::spawn_blocking(move || package::init_segment(&info, &rung))
            .await
            .map_err(|e| StreamError::Failed(e.to_string()))?
            .map_err(|e| StreamError::Failed(e.to_string()))?;
        let bytes = shm::share(bytes);
        lock(&self.cache).insert(key, bytes.clone());
        Ok(bytes)
    }

    /// Segment `k` of `rung`: from the cache, from an encode already in flight, or from a
    /// new encode job (refused with `Busy` when saturated). Then prepares the next ones.
    pub async fn segment(self: &Arc<Self>, m: &MediaRef, rung: Rung, k: u32) -> Result<Bytes, StreamError> {
        if k >= m.timeline().segment_count() {
            return Err(StreamError::NoSuchSegment(k));
        }
        let key = Key::new(m.key, rung, k);
        let waiter = {
            let mut inflight = lock(&self.inflight);
            // Bound first: the cache guard must be gone before `prefetch_after` locks again.
            let cached = lock(&self.cache).get(&key);
            if let Some(b) = cached {
                drop(inflight);
                self.metrics.hits.fetch_add(1, Relaxed);
                self.prefetch_after(m, rung, k);
                return Ok(b);
            }
            if let Some(w) = inflight.get(&key) {
                self.metrics.coalesced.fetch_add(1, Relaxed);
                // A player now waits for it: a queued read-ahead becomes urgent.
                self.promote(m, rung, k);
                w.clone()
            } else {
                if !self.try_acquire(self.max_jobs) {
                    self.metrics.rejected.fetch_add(1, Relaxed);
                    return Err(StreamError::Busy(1));
                }
                self.metrics.misses.fetch_add(1, Relaxed);
                self.start_job(&mut inflight, m, rung, k..k + 1, true)
            }
        };
        let r = waiter.await;
        if r.is_ok() {
            self.prefetch_after(m, rung, k);
        }
        r
    }

    /// Segment `k` of `rung` if it is in the cache (counted as a hit, and read-ahead follows
    /// as after [`Streamer::segment`]); never starts an encode.
    pub fn cached_segment(self: &Arc<Self>, m: &MediaRef, rung: Rung, k: u32) -> Option<Bytes> {
        let b = lock(&self.cache).get(&Key::new(m.key, rung, k))?;
        self.metrics.hits.fetch_add(1, Relaxed);
        self.prefetch_after(m, rung, k);
        Some(b)
    }

    /// Registers every segment of `range` as in flight and queues one encoder session for
    /// them. The caller holds a job slot. Returns the waiter of the first segment.
    fn start_job(self: &Arc<Self>, inflight: &mut HashMap<Key, Waiter>, m: &MediaRef, rung: Rung, range: std::ops::Range<u32>, urgent: bool) -> Waiter {
        let mut senders = Vec::new();
        let mut first = None;
        for s in range.clone() {
            let (tx, rx) = oneshot::channel::<Result<Bytes, StreamError>>();
            let fut: Waiter = async move { rx.await.unwrap_or_else(|_| Err(StreamError::Failed("encode job ended".into()))) }.boxed().shared();
            first.get_or_insert_with(|| fut.clone());
            inflight.insert(Key::new(m.key, rung, s), fut);
            senders.push((s, tx));
        }
        self.metrics.encode_jobs.fetch_add(1, Relaxed);
        let this = self.clone();
        let key = Key::new(m.key, rung, range.start);
        let due = deadline(m, range.start);
        let m = m.clone();
        let run = Box::new(move || {
            this.running.fetch_add(1, Relaxed);
            this.run_job(&m, rung, range, senders);
            this.segment_jobs.fetch_sub(1, Relaxed);
            this.running.fetch_sub(1, Relaxed);
            this.jobs.fetch_sub(1, Relaxed);
        });
        self.segment_jobs.fetch_add(1, Relaxed);
        {
            let job = Job { deadline: due, key, run };
            let mut q = lock(&self.queue);
            if urgent { q.urgent.push(job) } else { q.ahead.push_back(job) }
        }
        let this = self.clone();
        self.pool.spawn(move || {
            let job = lock(&this.queue).pop();
            if let Some(job) = job {
                (job.run)();
            }
        });
        first.unwrap_or_else(|| async { Err(StreamError::Failed("empty job".into())) }.boxed().shared())
    }

    fn run_job(&self, m: &MediaRef, rung: Rung, range: std::ops::Range<u32>, senders: Vec<(u32, oneshot::Sender<Result<Bytes, StreamError>>)>) {
        let open = self.opener(m.parts.clone());
        let opens: Vec<_> = m.items.iter().map(|i| self.opener(i.parts.clone())).collect();
        let seq = if m.items.is_empty() {
            package::Sequence::one(&open, &m.ext, &m.info, m.gain())
        } else {
            package::Sequence::new(m.items.iter().zip(&opens).map(|(i, o)| package::Item { open: o, ext: &i.ext, info: &i.info, gain: i.gain() }).collect())
        };
        let started = Instant::now();
        let mut senders = senders.into_iter().peekable();
        let result = package::produce_sequence(&seq, &rung, range, &mut |k, bytes| {
            let bytes = shm::share(bytes);
            self.metrics.segments_encoded.fetch_add(1, Relaxed);
            self.metrics.segment_seconds.observe(started.elapsed().as_secs_f64());
            {
                let key = Key::new(m.key, rung, k);
                let mut inflight = lock(&self.inflight);
                lock(&self.cache).insert(key.clone(), bytes.clone());
                inflight.remove(&key);
            }
            while let Some((s, tx)) = senders.next_if(|(s, _)| *s <= k) {
                if s == k {
                    let _ = tx.send(Ok(bytes.clone()));
                }
            }
            true
        });
        if let Err(e) = &result {
            self.metrics.encode_errors.fetch_add(1, Relaxed);
            tracing::warn!(key = %m.key.to_hex(), rung = %rung.id(), error = %e, "encode failed");
        }
        let err = match result {
            Err(e) => StreamError::Failed(e.to_string()),
            Ok(()) => StreamError::Failed("segment was not produced".into()),
        };
        for (s, tx) in senders {
            lock(&self.inflight).remove(&Key::new(m.key, rung, s));
            let _ = tx.send(Err(err.clone()));
        }
    }

    /// Moves a queued read-ahead job holding segment `k` to the urgent queue.
    fn promote(&self, m: &MediaRef, rung: Rung, k: u32) {
        let mut q = lock(&self.queue);
        // Read-ahead sessions start at most `prefetch` segments before `k`.
        let hit = q.ahead.iter().position(|j| j.key.hash == m.key && j.key.rung == rung && j.key.index <= k && k <= j.key.index + self.prefetch);
        if let Some(mut job) = hit.and_then(|i| q.ahead.remove(i)) {
            job.deadline = deadline(m, k);
            q.urgent.push(job);
        }
    }

    /// After segment `k` was served, prepares the next `prefetch` segments in one encoder
    /// session, but only with an idle thread: read-ahead never causes a 429. The job is
    /// queued by a task of its own, which a connection's single-threaded runtime runs once
    /// the answer is written: read-ahead never delays the response that caused it.
    fn prefetch_after(self: &Arc<Self>, m: &MediaRef, rung: Rung, k: u32) {
        if self.prefetch == 0 || self.read_ahead_range(&lock(&self.inflight), m, rung, k).is_none() {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                let (this, m) = (self.clone(), m.clone());
                rt.spawn(async move { this.start_read_ahead(&m, rung, k) });
            }
            Err(_) => self.start_read_ahead(m, rung, k),
        }
    }

    /// The first run of segments after `k` (within `prefetch`) neither cached nor in flight.
    fn read_ahead_range(&self, inflight: &HashMap<Key, Waiter>, m: &MediaRef, rung: Rung, k: u32) -> Option<std::ops::Range<u32>> {
        let count = m.timeline().segment_count();
        let last = k.saturating_add(self.prefetch).min(count.saturating_sub(1));
        let missing = |s: u32| {
            let key = Key::new(m.key, rung, s);
            !inflight.contains_key(&key) && !lock(&self.cache).contains(&key)
        };
        let start = (k + 1..=last).find(|&s| missing(s))?;
        let mut end = start + 1;
        while end <= last && missing(end) {
            end += 1;
        }
        Some(start..end)
    }

    fn start_read_ahead(self: &Arc<Self>, m: &MediaRef, rung: Rung, k: u32) {
        let mut inflight = lock(&self.inflight);
        let Some(range) = self.read_ahead_range(&inflight, m, rung, k) else { return };
        if !self.try_acquire(self.threads) {
            return;
        }
        self.metrics.prefetch_jobs.fetch_add(1, Relaxed);
        drop(self.start_job(&mut inflight, m, rung, range, false));
    }

    pub fn render_metrics(&self) -> String {
        let (bytes, entries, evictions) = {
            let c = lock(&self.cache);
            (c.bytes(), c.entries() as u64, c.evictions)
        };
        let running = self.running.load(Relaxed) as u64;
        let jobs = self.jobs.load(Relaxed) as u64;
        self.metrics.render(&Gauges {
            cache_bytes: bytes,
            cache_budget: self.budget,
            cache_entries: entries,
            evictions,
            jobs_queued: jobs.saturating_sub(running),
            jobs_running: running,
            max_jobs: self.max_jobs as u64,
        })
    }
}
