//! [`BlobStore`] on any S3-compatible object store (AWS S3, Ceph radosgw, MinIO, Garage,
//! R2…) through `object_store`: blobs are objects `PREFIX/blobs/ab/<hash>`.
//!
//! - **Staging** is local, as the disk store's (`cache/originals/tmp/`), hashing while it
//!   writes; **commit** asks `HEAD` first and `PUT`s only what is missing (create-only,
//!   `If-None-Match: *`; multipart above [`MULTIPART_ABOVE`]). Correctness never rests on
//!   the server honouring the condition (Garage overwrites): the bytes are named by their
//!   hash, so an overwrite writes the same bytes, and `created` comes from the `HEAD`.
//!   S3 answers a PUT only once it is durable, so a blob is durable before the catalog
//!   names it.
//! - **Reads** of a blob not cached are ranged `GET`s behind a read-ahead window that
//!   grows while reading is sequential (the last 32 MiB of windows are shared by every
//!   reader, so the second open of a file for one segment costs no request); meanwhile
//!   the whole object is fetched into a bounded local cache of recently played originals
//!   (least recently opened evicted), so the next cold segment of that file reads from
//!   disk.
//! - Every call runs on this store's own small runtime, so the trait stays blocking (call
//!   it from a blocking thread, as every store). Requests time out and retry briefly; a
//!   store that cannot be reached is [`StoreError::Unavailable`].
//!
//! Owns: the object layout, the read-ahead, the originals cache. Knows no catalog.

use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig, WriteMultipart};

use super::{BlobReader, BlobStore, Committed, LocalStore, Result, StagedBlob, StoreError};
use crate::domain::ContentHash;

/// Blobs larger than this go up as multipart uploads, in parts of this size.
const MULTIPART_ABOVE: u64 = 8 << 20;
/// The read-ahead window: first request, and the most it grows to.
const WINDOW_MIN: u64 = 256 << 10;
const WINDOW_MAX: u64 = 4 << 20;
/// Bytes of recently fetched windows kept for other readers of the same blobs.
const RECENT_BYTES: u64 = 32 << 20;
/// Blobs of one commit stored at once.
const COMMITS_IN_FLIGHT: usize = 8;
/// Whole-object fetches into the cache running at once (more are skipped, not queued).
const MAX_FILLS: usize = 2;

/// Where the objects are and how to reach them.
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    pub bucket: String,
    /// Key prefix inside the bucket (may be empty).
    pub prefix: String,
    /// e.g. `http://127.0.0.1:9000`; empty for AWS itself.
    pub endpoint: String,
    pub region: String,
    /// Empty: from the usual AWS variables (`AWS_ACCESS_KEY_ID`, …).
    pub access_key_id: String,
    pub secret_access_key: String,
    pub allow_http: bool,
    /// Local directory of the staging area and the originals cache.
    pub cache_dir: PathBuf,
    /// Most bytes of originals kept in the cache.
    pub cache_bytes: u64,
}

impl S3Settings {
    /// Parses `s3://bucket[/prefix]` into the bucket and prefix.
    pub fn from_url(url: &str) -> Option<(String, String)> {
        let rest = url.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        (!bucket.is_empty()).then(|| (bucket.to_string(), prefix.trim_matches('/').to_string()))
    }
}

pub struct S3Store(Arc<Inner>);

struct Inner {
    rt: tokio::runtime::Runtime,
    s3: AmazonS3,
    prefix: String,
    /// `s3://bucket/prefix`, for messages.
    name: String,
    cache: LocalStore,
    cache_dir: PathBuf,
    cache_bytes: u64,
    /// Bytes in the cache (approximate between scans).
    cached: Mutex<u64>,
    fills: AtomicUsize,
    /// The last windows read from the object store, for other readers of the same blob.
    recent: Mutex<Recent>,
}

/// Windows recently fetched by ranged `GET`s: (blob, offset, bytes), newest last, at most
/// [`RECENT_BYTES`] in all.
#[derive(Default)]
struct Recent {
    windows: std::collections::VecDeque<(ContentHash, u64, Bytes)>,
    bytes: u64,
}

fn unavailable(name: &str, e: object_store::Error) -> StoreError {
    StoreError::Unavailable(format!("{name}: {e}"))
}

impl S3Store {
    pub fn open(s: S3Settings) -> Result<S3Store> {
        let name = format!("s3://{}/{}", s.bucket, s.prefix);
        let mut b = AmazonS3Builder::from_env().with_bucket_name(&s.bucket).with_allow_http(s.allow_http);
        if !s.endpoint.is_empty() {
            b = b.with_endpoint(&s.endpoint);
        }
        if !s.region.is_empty() {
            b = b.with_region(&s.region);
        }
        if !s.access_key_id.is_empty() {
            b = b.with_access_key_id(&s.access_key_id).with_secret_access_key(&s.secret_access_key);
        }
        let retry = RetryConfig { max_retries: 2, retry_timeout: Duration::from_secs(5), ..RetryConfig::default() };
        let client = ClientOptions::new().with_connect_timeout(Duration::from_secs(2)).with_timeout(Duration::from_secs(60)).with_allow_http(s.allow_http);
        let s3 = b.with_retry(retry).with_client_options(client).build().map_err(|e| StoreError::Unavailable(format!("{name}: {e}")))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("s3")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Io { path: s.cache_dir.clone(), source: e })?;
        let cache = LocalStore::open(&s.cache_dir)?;
        let prefix = if s.prefix.is_empty() { String::new() } else { format!("{}/", s.prefix) };
        let inner = Inner {
            rt,
            s3,
            prefix,
            name,
            cache,
            cache_dir: s.cache_dir,
            cache_bytes: s.cache_bytes,
            cached: Mutex::new(0),
            fills: AtomicUsize::new(0),
            recent: Mutex::default(),
        };
        *lock(&inner.cached) = inner.scan_cache();
        // Reachable, with working credentials: a listing of one key fails fast otherwise.
        let probe = ObjectPath::from(format!("{}blobs", inner.prefix));
        inner.rt.block_on(async { inner.s3.list(Some(&probe)).next().await.transpose() }).map_err(|e| unavailable(&inner.name, e))?;
        Ok(S3Store(Arc::new(inner)))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    fn key(&self, h: &ContentHash) -> ObjectPath {
        let hex = h.to_string();
        ObjectPath::from(format!("{}blobs/{}/{hex}", self.prefix, &hex[..2]))
    }

    /// The object's size, or `None` when there is none.
    fn head(&self, h: &ContentHash) -> Result<Option<u64>> {
        self.rt.block_on(self.head_async(h))
    }

    async fn head_async(&self, h: &ContentHash) -> Result<Option<u64>> {
        match self.s3.head(&self.key(h)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(unavailable(&self.name, e)),
        }
    }

    fn get_range(&self, h: &ContentHash, range: std::ops::Range<u64>) -> io::Result<Bytes> {
        let (start, end, t0) = (range.start, range.end, std::time::Instant::now());
        let got = self.rt.block_on(self.s3.get_range(&self.key(h), range)).map_err(|e| io::Error::other(format!("{}: {e}", self.name)));
        tracing::trace!(blob = %h, start, end, took = ?t0.elapsed(), "ranged GET");
        got
    }

    /// A window of `h` fetched lately that holds byte `pos`: its offset and bytes.
    fn recent_window(&self, h: &ContentHash, pos: u64) -> Option<(u64, Bytes)> {
        let recent = lock(&self.recent);
        recent.windows.iter().rev().find(|(wh, at, b)| wh == h && pos >= *at && pos < at + b.len() as u64).map(|(_, at, b)| (*at, b.clone()))
    }

    fn keep_window(&self, h: ContentHash, at: u64, bytes: Bytes) {
        let mut recent = lock(&self.recent);
        recent.bytes += bytes.len() as u64;
        recent.windows.push_back((h, at, bytes));
        while recent.bytes > RECENT_BYTES
            && let Some((_, _, old)) = recent.windows.pop_front()
        {
            recent.bytes -= old.len() as u64;
        }
    }

    /// Stores one staged blob unless the bucket has it: whether it was created.
    async fn commit_one(&self, s: &StagedBlob) -> Result<bool> {
        if self.head_async(&s.hash).await?.is_some() {
            return Ok(false);
        }
        let temp = s.temp.clone().unwrap_or_default();
        self.put_file(&self.key(&s.hash), &temp, s.size, PutMode::Create).await
    }

    /// Uploads the file at `path` (`size` bytes) as `key`: one `PUT` in `mode`, or a
    /// multipart upload above [`MULTIPART_ABOVE`]. `false`: `mode` was create-only and the
    /// object was there.
    async fn put_file(&self, key: &ObjectPath, path: &std::path::Path, size: u64, mode: PutMode) -> Result<bool> {
        use tokio::io::AsyncReadExt;
        let read_err = |e| StoreError::Io { path: path.to_path_buf(), source: e };
        if size <= MULTIPART_ABOVE {
            let bytes = tokio::fs::read(path).await.map_err(read_err)?;
            let opts = PutOptions { mode, ..PutOptions::default() };
            return match self.s3.put_opts(key, PutPayload::from(bytes), opts).await {
                Ok(_) => Ok(true),
                // Someone stored these bytes meanwhile (a server that honours the condition).
                Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => Ok(false),
                Err(e) => Err(unavailable(&self.name, e)),
            };
        }
        let mut f = tokio::fs::File::open(path).await.map_err(read_err)?;
        let upload = self.s3.put_multipart(key).await.map_err(|e| unavailable(&self.name, e))?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, MULTIPART_ABOVE as usize);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).await.map_err(|e| StoreError::Io { path: path.to_path_buf(), source: e })?;
            if n == 0 {
                break;
            }
            w.wait_for_capacity(4).await.map_err(|e| unavailable(&self.name, e))?;
            w.write(&buf[..n]);
        }
        w.finish().await.map_err(|e| unavailable(&self.name, e))?;
        Ok(true)
    }

    /// `PREFIX/chunks/<upload>/<chunk>`.
    fn chunk_key(&self, name: &str) -> Result<ObjectPath> {
        if !super::chunk_name_ok(name) {
            return Err(super::bad_chunk_name(name));
        }
        Ok(ObjectPath::from(format!("{}chunks/{name}", self.prefix)))
    }

    /// Bytes in the cache directory's blobs.
    fn scan_cache(&self) -> u64 {
        walk(&self.cache_dir).iter().map(|(_, len, _)| len).sum()
    }

    /// Drops the least recently opened cached originals until the cache fits its budget.
    fn evict(&self) {
        let mut used = lock(&self.cached);
        if *used <= self.cache_bytes {
            return;
        }
        let mut files = walk(&self.cache_dir);
        files.sort_by_key(|(_, _, at)| *at);
        let mut total: u64 = files.iter().map(|(_, l, _)| l).sum();
        for (path, len, _) in files {
            if total <= self.cache_bytes {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
        *used = total;
    }

    /// Fetches a whole object into the cache, in the background (skipped when
    /// [`MAX_FILLS`] are running or it would take more than a quarter of the budget).
    fn fill(self: &Arc<Self>, h: ContentHash, len: u64) {
        if len > self.cache_bytes / 4 || self.fills.fetch_add(1, Ordering::SeqCst) >= MAX_FILLS {
            self.fills.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        let this = self.clone();
        std::thread::spawn(move || {
            let fetched = (|| -> Result<()> {
                let mut reader = RangeReader::new(this.clone(), h, len, WINDOW_MAX);
                let staged = this.cache.stage(&mut reader, len)?;
                if staged.hash != h || staged.size != len {
                    return Err(StoreError::WrongSize { hash: h, found: staged.size, expected: len });
                }
                this.cache.commit(vec![staged])?;
                *lock(&this.cached) += len;
                Ok(())
            })();
            if let Err(e) = fetched {
                tracing::debug!(error = %e, blob = %h, "could not cache an original");
            }
            this.evict();
            this.fills.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

impl Inner {
    /// The cached copy, marked recently used for eviction.
    fn cached(&self, hash: &ContentHash) -> Option<Box<dyn BlobReader>> {
        let f = self.cache.open(hash).ok()?;
        let path = self.cache_dir.join(&hash.to_string()[..2]).join(hash.to_string());
        if let Ok(file) = std::fs::File::options().write(true).open(&path) {
            let _ = file.set_modified(SystemTime::now());
        }
        Some(f)
    }

    /// A reader from the object store, and the whole original fetched into the cache in
    /// the background (measured: a cold first segment costs a third of what it costs when
    /// the fetch waits for a second open, because producing one segment opens the file
    /// more than once).
    fn remote(self: &Arc<Self>, hash: ContentHash, len: u64) -> Box<dyn BlobReader> {
        self.fill(hash, len);
        Box::new(RangeReader::new(self.clone(), hash, len, WINDOW_MIN))
    }
}

/// (path, length, last opened) of every cached blob (`tmp/` excluded).
fn walk(dir: &std::path::Path) -> Vec<(PathBuf, u64, SystemTime)> {
    let mut out = Vec::new();
    let Ok(shards) = std::fs::read_dir(dir) else { return out };
    for shard in shards.flatten() {
        if shard.file_name() == "tmp" {
            continue;
        }
        let Ok(files) = std::fs::read_dir(shard.path()) else { continue };
        for f in files.flatten() {
            if let Ok(m) = f.metadata() {
                out.push((f.path(), m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
            }
        }
    }
    out
}

/// A blob read by ranged GETs, through a read-ahead buffer.
struct RangeReader {
    inner: Arc<Inner>,
    hash: ContentHash,
    len: u64,
    pos: u64,
    buf: Bytes,
    /// Offset of `buf`'s first byte.
    buf_at: u64,
    window: u64,
}

impl RangeReader {
    fn new(inner: Arc<Inner>, hash: ContentHash, len: u64, window: u64) -> RangeReader {
        RangeReader { inner, hash, len, pos: 0, buf: Bytes::new(), buf_at: 0, window }
    }
}

impl Read for RangeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || out.is_empty() {
            return Ok(0);
        }
        let in_buf = self.pos >= self.buf_at && self.pos < self.buf_at + self.buf.len() as u64;
        if !in_buf && let Some((at, bytes)) = self.inner.recent_window(&self.hash, self.pos) {
            // Another reader of this blob fetched it a moment ago (the same file opened
            // twice for one segment, a parser probing its head and tail again).
            (self.buf, self.buf_at) = (bytes, at);
        } else if !in_buf {
            // Sequential (right after the buffer): grow the window; a seek starts small again.
            let sequential = self.pos == self.buf_at + self.buf.len() as u64 && !self.buf.is_empty();
            self.window = if sequential { (self.window * 2).min(WINDOW_MAX) } else { WINDOW_MIN };
            // After a seek, the window starts a quarter before the position too: parsers
            // probing a file's end step backwards (ID3v1, then APE, then Lyrics3 footers).
            let start = if sequential { self.pos } else { self.pos.saturating_sub(self.window / 4) };
            let end = (self.pos + self.window.max(out.len() as u64)).min(self.len);
            self.buf = self.inner.get_range(&self.hash, start..end)?;
            self.buf_at = start;
            self.inner.keep_window(self.hash, start, self.buf.clone());
            if self.buf.is_empty() {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "object shorter than its length"));
            }
        }
        let start = (self.pos - self.buf_at) as usize;
        let n = out.len().min(self.buf.len() - start);
        out[..n].copy_from_slice(&self.buf[start..start + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for RangeReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

impl BlobReader for RangeReader {
    fn len(&self) -> u64 {
        self.len
    }
}

impl S3Store {
    /// A reader straight from the object store, never from the cache.
    #[cfg(test)]
    fn uncached(&self, hash: &ContentHash) -> RangeReader {
        let len = self.0.head(hash).ok().flatten().unwrap_or(0);
        RangeReader::new(self.0.clone(), *hash, len, WINDOW_MIN)
    }
}

impl BlobStore for S3Store {
    fn stage(&self, src: &mut dyn Read, max_len: u64) -> Result<StagedBlob> {
        self.0.cache.stage(src, max_len)
    }

    fn stage_file(&self, path: &std::path::Path, max_len: u64) -> Result<StagedBlob> {
        self.0.cache.stage_file(path, max_len)
    }

    /// [`COMMITS_IN_FLIGHT`] blobs at a time (each a `HEAD` and maybe a `PUT`: a batch of
    /// an import is bound by round trips, not bytes).
    fn commit(&self, staged: Vec<StagedBlob>) -> Result<Vec<Committed>> {
        let inner = &self.0;
        let created: Vec<Result<bool>> =
            inner.rt.block_on(futures_util::stream::iter(staged.iter()).map(|s| inner.commit_one(s)).buffered(COMMITS_IN_FLIGHT).collect());
        // The staged copies go when `staged` drops (that removes the temporaries).
        staged.iter().zip(created).map(|(s, c)| Ok(Committed { hash: s.hash, size: s.size, created: c? })).collect()
    }

    fn open(&self, hash: &ContentHash) -> Result<Box<dyn BlobReader>> {
        if let Some(f) = self.0.cached(hash) {
            return Ok(f);
        }
        let len = self.0.head(hash)?.ok_or(StoreError::NotFound(*hash))?;
        Ok(self.0.remote(*hash, len))
    }

    /// No `HEAD`: the length is known, and a wrong one shows as a short read.
    fn open_known(&self, hash: &ContentHash, len: u64) -> Result<Box<dyn BlobReader>> {
        if let Some(f) = self.0.cached(hash)
            && f.len() == len
        {
            return Ok(f);
        }
        Ok(self.0.remote(*hash, len))
    }

    fn exists(&self, hash: &ContentHash) -> Result<bool> {
        Ok(self.0.head(hash)?.is_some())
    }

    fn len_of(&self, hash: &ContentHash) -> Result<Option<u64>> {
        self.0.head(hash)
    }

    fn delete(&self, hash: &ContentHash) -> Result<bool> {
        let _ = self.0.cache.delete(hash);
        if self.0.head(hash)?.is_none() {
            return Ok(false);
        }
        self.0.rt.block_on(self.0.s3.delete(&self.0.key(hash))).map_err(|e| unavailable(&self.0.name, e))?;
        Ok(true)
    }

    fn list(&self) -> Result<Vec<ContentHash>> {
        let prefix = ObjectPath::from(format!("{}blobs", self.0.prefix));
        let metas: Vec<object_store::ObjectMeta> = self
            .0
            .rt
            .block_on(async { self.0.s3.list(Some(&prefix)).collect::<Vec<_>>().await })
            .into_iter()
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| unavailable(&self.0.name, e))?;
        Ok(metas.iter().filter_map(|m| m.location.filename().and_then(|n| n.parse().ok())).collect())
    }

    /// Unknown without listing the whole bucket: the catalog's figures are the totals.
    fn physical_bytes(&self) -> Result<Option<u64>> {
        Ok(None)
    }

    fn modified(&self, hash: &ContentHash) -> Result<Option<SystemTime>> {
        match self.0.rt.block_on(self.0.s3.head(&self.0.key(hash))) {
            Ok(meta) => Ok(Some(meta.last_modified.into())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(unavailable(&self.0.name, e)),
        }
    }

    fn put_chunk(&self, name: &str, path: &std::path::Path) -> Result<()> {
        let key = self.0.chunk_key(name)?;
        let size = std::fs::metadata(path).map_err(|e| StoreError::Io { path: path.to_path_buf(), source: e })?.len();
        self.0.rt.block_on(self.0.put_file(&key, path, size, PutMode::Overwrite))?;
        let _ = std::fs::remove_file(path);
        Ok(())
    }

    fn read_chunk(&self, name: &str, out: &mut dyn io::Write) -> Result<Option<u64>> {
        let key = self.0.chunk_key(name)?;
        let inner = &self.0;
        inner.rt.block_on(async {
            let got = match inner.s3.get(&key).await {
                Ok(got) => got,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(unavailable(&inner.name, e)),
            };
            let mut body = got.into_stream();
            let mut n = 0u64;
            while let Some(bytes) = body.next().await {
                let bytes = bytes.map_err(|e| unavailable(&inner.name, e))?;
                out.write_all(&bytes).map_err(StoreError::Source)?;
                n += bytes.len() as u64;
            }
            Ok(Some(n))
        })
    }

    fn delete_chunks(&self, upload: &str) -> Result<()> {
        self.0.chunk_key(&format!("{upload}/0"))?;
        let prefix = ObjectPath::from(format!("{}chunks/{upload}", self.0.prefix));
        let inner = &self.0;
        inner.rt.block_on(async {
            let keys: Vec<object_store::ObjectMeta> = inner
                .s3
                .list(Some(&prefix))
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| unavailable(&inner.name, e))?;
            for m in keys {
                match inner.s3.delete(&m.location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(unavailable(&inner.name, e)),
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Settings for the test server `TONEARM_TEST_S3` names (`http://KEY:SECRET@HOST:PORT/BUCKET`,
    /// set by `scripts/test.sh`), under a prefix of the test's own.
    pub(crate) fn settings(cache_dir: &std::path::Path) -> S3Settings {
        let url = std::env::var("TONEARM_TEST_S3").expect("TONEARM_TEST_S3 names the S3 test server (scripts/test.sh starts radosgw and sets it)");
        let rest = url.strip_prefix("http://").expect("http://KEY:SECRET@HOST:PORT/BUCKET");
        let (creds, rest) = rest.split_once('@').unwrap();
        let (key, secret) = creds.split_once(':').unwrap();
        let (host, bucket) = rest.split_once('/').unwrap();
        S3Settings {
            bucket: bucket.into(),
            prefix: format!("unit-{}-{}", std::process::id(), rand::random::<u32>()),
            endpoint: format!("http://{host}"),
            region: "us-east-1".into(),
            access_key_id: key.into(),
            secret_access_key: secret.into(),
            allow_http: true,
            cache_dir: cache_dir.to_path_buf(),
            cache_bytes: 64 << 20,
        }
    }

    fn bytes(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[0] ^ seed).collect()
    }

    #[test]
    fn blobs_go_up_once_and_read_back_whole_ranged_and_seeking() {
        let dir = tempfile::tempdir().unwrap();
        let store = S3Store::open(settings(dir.path())).unwrap();
        let small = bytes(300_000, 1);
        let c = store.put(&mut small.as_slice(), u64::MAX).unwrap();
        assert!(c.created);
        assert!(!store.put(&mut small.as_slice(), u64::MAX).unwrap().created, "the same bytes are not sent twice");
        // Above the multipart threshold.
        let big = bytes(9 << 20 | 12_345, 2);
        let b = store.put(&mut big.as_slice(), u64::MAX).unwrap();
        assert!(b.created && store.exists(&b.hash).unwrap());
        assert!(store.modified(&b.hash).unwrap().is_some());

        let mut all = Vec::new();
        S3Store(store.0.clone()).uncached(&b.hash).read_to_end(&mut all).unwrap();
        assert!(all == big, "whole read through the read-ahead");
        let mut part = Vec::new();
        store.open_range(&b.hash, 5_000_000..5_100_000).unwrap().read_to_end(&mut part).unwrap();
        assert_eq!(part, &big[5_000_000..5_100_000]);
        let mut r = S3Store(store.0.clone()).uncached(&b.hash);
        r.seek(SeekFrom::Start(9 << 20)).unwrap();
        let mut tail = Vec::new();
        r.read_to_end(&mut tail).unwrap();
        assert_eq!(tail, &big[9 << 20..]);

        let mut listed = store.list().unwrap();
        listed.sort();
        let mut want = vec![c.hash, b.hash];
        want.sort();
        assert_eq!(listed, want);
        assert!(store.delete(&c.hash).unwrap());
        assert!(!store.delete(&c.hash).unwrap());
        assert!(!store.exists(&c.hash).unwrap());
        assert!(matches!(store.open(&c.hash), Err(StoreError::NotFound(_))));
        assert_eq!(store.physical_bytes().unwrap(), None);
    }

    #[test]
    fn a_played_original_is_cached_locally_and_evicted_past_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings(dir.path());
        s.cache_bytes = 8 << 20;
        let store = S3Store::open(s).unwrap();
        let one = store.put(&mut bytes(1 << 20, 3).as_slice(), u64::MAX).unwrap();
        drop(store.open_known(&one.hash, 1 << 20).unwrap());
        let cached = || store.0.cache.exists(&one.hash).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !cached() {
            assert!(std::time::Instant::now() < deadline, "cached in the background");
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut back = Vec::new();
        store.open(&one.hash).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, bytes(1 << 20, 3));
        // Four more of 2 MiB (9 MiB in all): the least recently opened go.
        for seed in 4..8 {
            let h = store.put(&mut bytes(2 << 20, seed).as_slice(), u64::MAX).unwrap().hash;
            drop(store.open(&h).unwrap());
            std::thread::sleep(Duration::from_millis(300));
        }
        while store.0.fills.load(Ordering::SeqCst) > 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
        let kept = store.0.scan_cache();
        assert!((4 << 20..=8 << 20).contains(&kept), "within the budget, and used: {kept}");
        assert!(!store.0.cache.exists(&one.hash).unwrap(), "the least recently opened went first");
    }

    #[test]
    fn an_unreachable_store_fails_fast_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut s = settings(dir.path());
        s.endpoint = format!("http://127.0.0.1:{port}");
        let t = std::time::Instant::now();
        assert!(matches!(S3Store::open(s), Err(StoreError::Unavailable(_))));
        assert!(t.elapsed() < Duration::from_secs(30));
    }
}
