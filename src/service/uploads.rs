//! Uploads, one state machine however the file arrives: in one request, resumably (the
//! state behind tus, kept by `ingest::resumable`), or instantly (a file the store already
//! holds, after proof of possession). Every way shares the same steps and rules: a clean
//! file name, the per-user limit of bodies in flight, the quota (counting unfinished
//! resumable uploads), the per-upload writer lock, chunk checksums, ingest once, and an
//! outcome recorded as this service's own reason ([`Rejection`]) so a client that lost the
//! final answer learns it later.
//!
//! Depends on `ingest`, the catalog, `store` and `coord`; knows nothing of HTTP: bodies
//! arrive as streams of bytes. Writing a body never blocks the executor (a blocking thread
//! writes, fed through a bounded channel); the other methods block unless `async`.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::catalog::{AddOutcome, Catalog, CatalogError, NewMedia, Track, User};
use crate::config::UploadConfig;
use crate::coord::{Coordination, Held, Taken};
use crate::domain::{TrackId, UserId, random_hex};
use crate::ingest::resumable::{Outcome, Rejection, ResumableError, UploadInfo, UploadState};
use crate::ingest::{Ingest, IngestError};
use crate::store::{BlobStore, StoreError, open_parts_range};

/// Ranges per instant-upload challenge, and the most bytes of each.
const RANGES: usize = 4;
const RANGE_MAX: u64 = 64 * 1024;
const CHALLENGE_TTL_SECS: i64 = 300;
/// Open challenges per user.
const MAX_CHALLENGES: usize = 32;
/// How much of an unread body is consumed before an early error is answered.
const DISCARD_MAX: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{0}")]
    BadFilename(&'static str),
    #[error("the file is larger than the limit of {0} bytes")]
    TooLarge(u64),
    #[error("this upload would exceed your storage quota of {0} bytes")]
    Quota(u64),
    #[error("at most {0} uploads at once per user; retry when one has finished")]
    TooManyBodies(usize),
    #[error("at most {0} unfinished uploads per user; finish or delete one")]
    TooManyUnfinished(usize),
    #[error("at most {MAX_CHALLENGES} open challenges per user")]
    TooManyChallenges,
    #[error("the upload did not complete: {0}")]
    Interrupted(String),
    #[error("another request is writing to this upload; retry shortly")]
    Busy,
    #[error("the upload's offset is {current}, not {given}")]
    OffsetMismatch { current: u64, given: u64 },
    #[error("the chunk does not match its checksum; it was discarded, resend it")]
    ChecksumMismatch,
    #[error("checksum algorithm {0} is not supported (sha1, sha256)")]
    UnsupportedChecksum(String),
    #[error("upload not found")]
    NoSuchUpload,
    #[error("this upload expired; start a new one")]
    Expired,
    #[error("this upload was processed but its outcome was lost; look for the track in your library")]
    OutcomeLost,
    #[error("challenge not found")]
    NoSuchChallenge,
    #[error("the challenge expired; ask for a new one")]
    ChallengeExpired,
    #[error("possession not proven: upload the file")]
    ProofFailed,
    #[error("sha256 must be 64 hex digits")]
    BadHash,
    #[error("size must be positive")]
    BadSize,
    /// The file (or the account) was refused; also what a finished upload answers later.
    #[error("{}", rejection_message(.0))]
    Rejected(Rejection),
    #[error(transparent)]
    Ingest(IngestError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    State(#[from] ResumableError),
    #[error("{0}")]
    Internal(String),
}

fn rejection_message(r: &Rejection) -> String {
    match r {
        Rejection::Media { message, .. } => message.clone(),
        Rejection::TooLarge { max } => UploadError::TooLarge(*max).to_string(),
        Rejection::Quota { quota } => UploadError::Quota(*quota).to_string(),
        Rejection::Deleted => "the track was deleted while this upload finished; upload it again".into(),
        Rejection::Legacy { message, .. } => message.clone(),
    }
}

impl From<IngestError> for UploadError {
    /// The file's faults become a [`Rejection`]; the server's stay ingest errors.
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::TooLarge(max) | IngestError::Store(StoreError::TooLarge(max)) => UploadError::Rejected(Rejection::TooLarge { max }),
            IngestError::Probe(p) => UploadError::Rejected(Rejection::Media { code: p.code().to_string(), message: p.to_string() }),
            other => UploadError::Ingest(other),
        }
    }
}

impl UploadError {
    /// What a finished upload records, if this error is the file's or the account's fault.
    fn rejection(&self) -> Option<Rejection> {
        match self {
            UploadError::Rejected(r) => Some(r.clone()),
            UploadError::TooLarge(max) => Some(Rejection::TooLarge { max: *max }),
            UploadError::Quota(quota) => Some(Rejection::Quota { quota: *quota }),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, UploadError>;

/// A file added to a library: the track, and whether it is new there (`false`: the user
/// already had these exact bytes).
#[derive(Debug, Clone)]
pub struct Added {
    pub track: Track,
    pub created: bool,
}

/// The last path component of a client-supplied name, without control characters. The
/// name is data (the track's `file_name` and the container hint); it never names a file.
pub fn clean_name(raw: &str) -> Option<String> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let name: String = last.chars().filter(|c| !c.is_control()).collect::<String>().trim().to_string();
    (!name.is_empty() && name != "." && name != ".." && name.len() <= 255).then_some(name)
}

/// A chunk's declared digest, checked against the bytes as they are written.
pub enum Checksum {
    Sha1(sha1::Sha1, Vec<u8>),
    Sha256(sha2::Sha256, Vec<u8>),
}

impl Checksum {
    pub fn new(algorithm: &str, digest: Vec<u8>) -> Result<Checksum> {
        match algorithm {
            "sha1" => Ok(Checksum::Sha1(sha1::Sha1::new(), digest)),
            "sha256" => Ok(Checksum::Sha256(sha2::Sha256::new(), digest)),
            other => Err(UploadError::UnsupportedChecksum(other.to_string())),
        }
    }

    fn matches(self) -> bool {
        match self {
            Checksum::Sha1(h, want) => h.finalize().as_slice() == want.as_slice(),
            Checksum::Sha256(h, want) => h.finalize().as_slice() == want.as_slice(),
        }
    }
}

/// Sees every byte [`Uploads::receive`] writes, on the writer thread.
trait ChunkHash: Send + 'static {
    fn update(&mut self, bytes: &[u8]);
}

impl ChunkHash for () {
    fn update(&mut self, _: &[u8]) {}
}

impl ChunkHash for Option<Checksum> {
    fn update(&mut self, b: &[u8]) {
        match self {
            Some(Checksum::Sha1(h, _)) => h.update(b),
            Some(Checksum::Sha256(h, _)) => h.update(b),
            None => {}
        }
    }
}

/// A directory that is removed with everything in it when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An instant-upload challenge as kept by the coordination seam.
#[derive(Serialize, Deserialize)]
struct Challenge {
    sha256: [u8; 32],
    size: u64,
    filename: String,
    ranges: Vec<(u64, u64)>,
}

/// What a client is asked to prove: the SHA-256 of each range of the file.
#[derive(Debug, Clone)]
pub struct ChallengeAsk {
    pub id: String,
    pub ranges: Vec<(u64, u64)>,
    pub expires_in: i64,
}

/// A resumable upload's state: its info, the offset that reached the disk, and its
/// outcome once finished.
#[derive(Debug, Clone)]
pub struct Resumable {
    pub info: UploadInfo,
    pub offset: u64,
    pub outcome: Option<Outcome>,
}

/// What [`Uploads::new`] is built from.
pub struct UploadParts {
    pub catalog: Arc<dyn Catalog>,
    pub store: Arc<dyn BlobStore>,
    pub ingest: Arc<Ingest>,
    pub coord: Arc<dyn Coordination>,
    pub resumable: Arc<dyn UploadState>,
    /// Where one-request uploads are written while they arrive (one private directory each).
    pub scratch_dir: PathBuf,
    pub max_bytes: u64,
    pub limits: UploadConfig,
}

#[derive(Clone)]
pub struct Uploads(Arc<UploadParts>);

/// 32 bytes from 64 hex digits (a SHA-256 as clients send it), spaces around allowed.
fn hex32(s: &str) -> Option<[u8; 32]> {
    s.trim().parse::<crate::domain::ContentHash>().ok().map(|h| h.0)
}

fn random_below(n: u64) -> u64 {
    let mut b = [0u8; 8];
    rand::fill(&mut b);
    if n == 0 { 0 } else { u64::from_le_bytes(b) % n }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| UploadError::Internal(format!("worker task failed: {e}")))?
}

/// Reads and discards up to [`DISCARD_MAX`] bytes of a body an early error leaves unread,
/// so the client (still sending) receives the error instead of a reset connection.
pub async fn discard<S, E>(body: S)
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Send + Unpin,
{
    let mut body = body;
    let mut seen = 0u64;
    let read = async {
        while let Some(Ok(chunk)) = body.next().await {
            seen += chunk.len() as u64;
            if seen > DISCARD_MAX {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), read).await;
}

/// Runs `f`, or discards `body` and returns `f`'s error.
async fn or_discard<T, S, E>(r: Result<T>, body: S) -> Result<(T, S)>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Send + Unpin,
{
    match r {
        Ok(v) => Ok((v, body)),
        Err(e) => {
            discard(body).await;
            Err(e)
        }
    }
}

impl Uploads {
    pub fn new(parts: UploadParts) -> Uploads {
        Uploads(Arc::new(parts))
    }

    pub fn max_bytes(&self) -> u64 {
        self.0.max_bytes
    }

    /// One of the user's [`UploadConfig::max_concurrent_per_user`] bodies in flight.
    fn in_flight(&self, user: UserId) -> Result<Held> {
        let n = self.0.limits.max_concurrent_per_user;
        self.0.coord.try_slot(&format!("upload-body:{user}"), n).ok_or(UploadError::TooManyBodies(n))
    }

    /// Refuses `len` more bytes that would take `u` past their quota. Blocks.
    fn check_quota(&self, u: &User, len: u64) -> Result<()> {
        if let Some(quota) = u.quota_bytes {
            let used = self.0.catalog.user_bytes(u.id)?;
            if used + len > quota {
                return Err(UploadError::Quota(quota));
            }
        }
        Ok(())
    }

    /// Streams a body into a file, at most `limit` bytes, feeding every byte to `hash`.
    /// The file is written (and `hash` runs) on a blocking thread fed through a bounded
    /// channel, so the executor only moves buffers and a slow disk slows the sender.
    /// Returns the bytes written, the outcome, and `hash` back; a body longer than `limit`
    /// is `TooLarge(max_reported)` after writing nothing past the limit.
    async fn receive<S, E, H>(&self, body: S, path: PathBuf, append: bool, limit: u64, hash: H) -> (u64, Result<()>, Option<H>)
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
        H: ChunkHash,
    {
        use std::io::Write;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(32);
        let writer = tokio::task::spawn_blocking(move || -> (std::io::Result<()>, H) {
            let mut hash = hash;
            let file = if append { std::fs::OpenOptions::new().append(true).open(&path) } else { std::fs::File::create(&path) };
            let result = file.and_then(|f| {
                let mut out = std::io::BufWriter::with_capacity(1 << 20, f);
                while let Some(chunk) = rx.blocking_recv() {
                    out.write_all(&chunk)?;
                    hash.update(&chunk);
                }
                out.flush()
            });
            (result, hash)
        });
        let mut body = body;
        let mut len = 0u64;
        let mut outcome = Ok(());
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    outcome = Err(UploadError::Interrupted(e.to_string()));
                    break;
                }
            };
            if len + chunk.len() as u64 > limit {
                outcome = Err(UploadError::TooLarge(self.0.max_bytes));
                break;
            }
            len += chunk.len() as u64;
            if tx.send(chunk).await.is_err() {
                break; // the writer failed; its error is reported below
            }
        }
        drop(tx);
        match writer.await {
            Ok((Ok(()), hash)) => (len, outcome, Some(hash)),
            Ok((Err(e), _)) => (len, Err(UploadError::Internal(format!("writing upload: {e}"))), None),
            Err(e) => (len, Err(UploadError::Internal(format!("upload writer failed: {e}"))), None),
        }
    }

    /// The outcome of ingest as the library now holds it. Blocks.
    fn added(&self, user: UserId, outcome: Option<AddOutcome>) -> Result<Added> {
        let (id, created) = match outcome {
            Some(AddOutcome::Added(id)) => (id, true),
            Some(AddOutcome::AlreadyPresent(id)) => (id, false),
            None => return Err(UploadError::Internal("ingest returned nothing".into())),
        };
        // Deleted by a request that raced this one: the upload did land, then went.
        let track = self.0.catalog.track(user, id)?.ok_or(UploadError::Rejected(Rejection::Deleted))?;
        Ok(Added { track, created })
    }

    /// Ingests the file at `path` into `u`'s library, as `tonearm import` would. Blocks.
    fn ingest_file(&self, u: &User, path: &std::path::Path, name: &str) -> Result<Added> {
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        self.check_quota(u, len)?;
        let prepared = self.0.ingest.prepare(path, u.id, name, None, None)?;
        let outcome = self.0.ingest.commit(vec![prepared])?;
        self.added(u.id, outcome.first().copied())
    }

    /// A whole file in one body, named `name` (only its last component is kept).
    pub async fn upload<S, E>(&self, u: &User, name: Option<&str>, body: S) -> Result<Added>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
    {
        let checked = match name.and_then(clean_name) {
            Some(name) => {
                let (this, uid) = (self.clone(), u.id);
                blocking(move || this.in_flight(uid)).await.map(|slot| (name, slot))
            }
            None => Err(UploadError::BadFilename("give the file's name as ?filename=NAME (it selects the format hint)")),
        };
        let ((name, in_flight), body) = or_discard(checked, body).await?;
        let dir = self.0.scratch_dir.join(random_hex::<12>());
        tokio::fs::create_dir_all(&dir).await.map_err(|e| UploadError::Internal(format!("creating upload directory: {e}")))?;
        let scratch = Scratch(dir);
        let path = scratch.0.join("upload");
        let t0 = std::time::Instant::now();
        let (len, written, _) = self.receive(body, path.clone(), false, self.0.max_bytes, ()).await;
        written?;
        tracing::debug!(bytes = len, took = ?t0.elapsed(), "upload received");
        let (this, u) = (self.clone(), u.clone());
        // The slot and the scratch directory go when ingest ends, even if the client left.
        blocking(move || {
            let r = this.ingest_file(&u, &path, &name);
            drop((scratch, in_flight));
            r
        })
        .await
    }

    /// Refuses a file longer than the upload limit (checked before anything else about it).
    pub fn check_length(&self, length: u64) -> Result<()> {
        if length > self.0.max_bytes {
            return Err(UploadError::TooLarge(self.0.max_bytes));
        }
        Ok(())
    }

    /// Starts a resumable upload of `length` bytes named `name`. Blocks.
    pub fn create(&self, u: &User, length: u64, name: &str, metadata: &str) -> Result<UploadInfo> {
        self.check_length(length)?;
        let name = clean_name(name).ok_or(UploadError::BadFilename("the file name is empty or not a name"))?;
        let (open, reserved) = self.0.resumable.unfinished(u.id)?;
        let max_open = self.0.limits.max_unfinished_per_user;
        if open >= max_open {
            return Err(UploadError::TooManyUnfinished(max_open));
        }
        self.check_quota(u, reserved + length)?;
        let ttl = (self.0.limits.expiry_hours * 3600) as i64;
        Ok(self.0.resumable.create(u.id, length, &name, metadata, ttl)?)
    }

    /// A resumable upload's state; a complete upload whose ingest never ran (the server
    /// stopped first) is ingested now, unless another request is finishing it. Blocks.
    pub fn status(&self, u: &User, id: &str) -> Result<Resumable> {
        let (info, offset) = self.get(u.id, id)?;
        let mut outcome = self.0.resumable.outcome(&info.id)?;
        if outcome.is_none()
            && offset >= info.length
            && let Some(_lock) = self.0.coord.try_lock(&lock_name(&info.id))
        {
            let _ = self.finish(u, &info);
            outcome = self.0.resumable.outcome(&info.id)?;
        }
        Ok(Resumable { info, offset, outcome })
    }

    /// A resumable upload's info and offset (`NoSuchUpload` for someone else's). Blocks.
    pub fn get(&self, user: UserId, id: &str) -> Result<(UploadInfo, u64)> {
        self.0.resumable.get(user, id).map_err(|e| match e {
            ResumableError::NotFound => UploadError::NoSuchUpload,
            ResumableError::Expired => UploadError::Expired,
            other => UploadError::State(other),
        })
    }

    /// Appends `body` at `offset` (which must be the upload's current offset), verifies the
    /// chunk's checksum (a mismatching chunk is cut off again), and ingests the file when
    /// its last byte arrived. One writer per upload (`Busy` for a second). Returns the new
    /// offset and, once finished, the track.
    pub async fn append<S, E>(&self, u: &User, id: &str, offset: u64, checksum: Option<Checksum>, body: S) -> Result<(UploadInfo, u64, Option<TrackId>)>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
    {
        let (this, uid, id) = (self.clone(), u.id, id.to_string());
        let ready = blocking(move || {
            // Someone else's or a missing upload is that before it is busy.
            this.get(uid, &id)?;
            let lock = this.0.coord.try_lock(&lock_name(&id)).ok_or(UploadError::Busy)?;
            let in_flight = this.in_flight(uid)?;
            // Read again under the lock: the offset another request left is the one that counts.
            let (info, current) = this.get(uid, &id)?;
            if offset != current {
                return Err(UploadError::OffsetMismatch { current, given: offset });
            }
            Ok((lock, in_flight, info, current))
        })
        .await;
        let ((lock, in_flight, info, current), body) = or_discard(ready, body).await?;
        if current < info.length {
            let checked = checksum.is_some();
            let (r, id) = (self.0.resumable.clone(), info.id.clone());
            let chunk = blocking(move || Ok(r.begin_chunk(&id, current, checked)?)).await?;
            let (path, append) = (chunk.path.clone(), chunk.append);
            let (written, result, checksum) = self.receive(body, path, append, info.length - current, checksum).await;
            // A chunk without a checksum keeps what arrived, even when cut short.
            let ok = result.is_ok() && checksum.flatten().is_none_or(Checksum::matches);
            let keep = ok || !checked;
            let last = current + written >= info.length;
            let r = self.0.resumable.clone();
            let offset = blocking(move || Ok(r.end_chunk(chunk, keep, last)?)).await?;
            if checked && result.is_ok() && !ok {
                return Err(UploadError::ChecksumMismatch);
            }
            result?;
            if offset < info.length {
                return Ok((info, offset, None));
            }
        }
        // The lock and the slot go when ingest ends, even if the client left meanwhile: a
        // second request cannot ingest the same upload at the same time.
        let (this, u, info2) = (self.clone(), u.clone(), info.clone());
        let track = blocking(move || {
            let r = this.finish(&u, &info2);
            drop((lock, in_flight));
            r
        })
        .await?;
        Ok((info.clone(), info.length, Some(track)))
    }

    /// Ingests a complete upload once, recording the outcome; returns the track or the
    /// refusal. The caller holds the upload's lock. Blocks.
    fn finish(&self, u: &User, info: &UploadInfo) -> Result<TrackId> {
        match self.0.resumable.outcome(&info.id)? {
            Some(Outcome::Track { id, .. }) => return Ok(id),
            Some(Outcome::Rejected(r)) => return Err(UploadError::Rejected(r)),
            None => {}
        }
        // Gone: ingested, but the record of it was lost (a power cut before it reached the disk).
        let whole = self.0.resumable.assemble(&info.id)?.ok_or(UploadError::OutcomeLost)?;
        let outcome = match self.ingest_file(u, &whole.path, &info.file_name) {
            Ok(added) => Outcome::Track { id: added.track.id, created: added.created },
            Err(e) => match e.rejection() {
                Some(r) => Outcome::Rejected(r),
                // A server-side failure is not the file's fault: keep the bytes for a retry.
                None => return Err(e),
            },
        };
        self.0.resumable.finish(&info.id, &outcome)?;
        match outcome {
            Outcome::Track { id, .. } => Ok(id),
            Outcome::Rejected(r) => Err(UploadError::Rejected(r)),
        }
    }

    /// Ends a resumable upload: everything of it goes. Blocks.
    pub fn terminate(&self, u: &User, id: &str) -> Result<()> {
        self.get(u.id, id)?;
        let _lock = self.0.coord.try_lock(&lock_name(id)).ok_or(UploadError::Busy)?;
        Ok(self.0.resumable.remove(id)?)
    }

    /// Step 1 of an instant upload: a challenge of random byte ranges. The answer is the
    /// same whether or not the server holds the file, so the hash alone reveals nothing.
    pub fn ask(&self, u: &User, sha256: &str, size: u64, filename: &str) -> Result<ChallengeAsk> {
        let sha256 = hex32(sha256).ok_or(UploadError::BadHash)?;
        let filename = clean_name(filename).ok_or(UploadError::BadFilename("filename is empty or not a name"))?;
        if size == 0 {
            return Err(UploadError::BadSize);
        }
        if size > self.0.max_bytes {
            return Err(UploadError::TooLarge(self.0.max_bytes));
        }
        let len = size.min(RANGE_MAX);
        let ranges: Vec<(u64, u64)> = (0..RANGES).map(|_| (random_below(size - len + 1), len)).collect();
        let id = random_hex::<16>();
        let c = Challenge { sha256, size, filename, ranges: ranges.clone() };
        let value = serde_json::to_vec(&c).map_err(|e| UploadError::Internal(e.to_string()))?;
        self.0.coord.put_once("instant", u.id, &id, value, CHALLENGE_TTL_SECS, MAX_CHALLENGES).map_err(|_| UploadError::TooManyChallenges)?;
        Ok(ChallengeAsk { id, ranges, expires_in: CHALLENGE_TTL_SECS })
    }

    /// Step 2: adds the file when every proof (hex SHA-256 of each range) matches the
    /// stored bytes; otherwise `ProofFailed`, the same for a wrong proof and for a file
    /// the server does not have. A challenge answers once. Blocks.
    pub fn prove(&self, u: &User, id: &str, proofs: &[String]) -> Result<Added> {
        // Single use: taken out whatever the outcome. Someone else's is as good as missing.
        let c: Challenge = match self.0.coord.take_once("instant", u.id, id) {
            None => return Err(UploadError::NoSuchChallenge),
            Some(Taken::Expired) => return Err(UploadError::ChallengeExpired),
            Some(Taken::Live(v)) => serde_json::from_slice(&v).map_err(|e| UploadError::Internal(e.to_string()))?,
        };
        let media = self.0.catalog.media_by_sha256(&c.sha256, c.size)?;
        let actual = c
            .ranges
            .iter()
            .map(|&(off, len)| {
                let mut h = sha2::Sha256::new();
                match &media {
                    Some(m) => {
                        let mut r = open_parts_range(self.0.store.as_ref(), &m.parts, off..off + len)?;
                        let mut buf = vec![0u8; len as usize];
                        r.read_exact(&mut buf).map_err(|e| UploadError::Internal(e.to_string()))?;
                        h.update(&buf);
                    }
                    // No such file: hash as much, so both answers take about as long.
                    None => h.update(vec![0u8; len as usize]),
                }
                Ok(<[u8; 32]>::from(h.finalize()))
            })
            .collect::<Result<Vec<[u8; 32]>>>()?;
        let claimed: Vec<Option<[u8; 32]>> = proofs.iter().map(|h| hex32(h)).collect();
        let proven = claimed.len() == actual.len() && claimed.iter().zip(&actual).all(|(c, a)| c.as_ref() == Some(a));
        let Some(media) = media.filter(|_| proven) else {
            return Err(UploadError::ProofFailed);
        };
        self.add_stored(u, media, &c.filename)
    }

    /// Adds a file the store already holds to `u`'s library. Blocks.
    fn add_stored(&self, u: &User, media: NewMedia, name: &str) -> Result<Added> {
        self.check_quota(u, media.size)?;
        let prepared = self.0.ingest.prepare_stored(media, u.id, name)?;
        let outcome = self.0.ingest.commit(vec![prepared])?;
        self.added(u.id, outcome.first().copied())
    }
}

fn lock_name(id: &str) -> String {
    format!("tus:{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_data_not_paths() {
        assert_eq!(clean_name("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(clean_name("C:\\music\\a.flac").as_deref(), Some("a.flac"));
        assert_eq!(clean_name("..").as_deref(), None);
        assert_eq!(clean_name("dir/").as_deref(), None);
        assert_eq!(clean_name("Björk – Jóga.flac").as_deref(), Some("Björk – Jóga.flac"));
    }

    #[test]
    fn hashes_are_64_hex_digits() {
        assert_eq!(hex32(&"ab".repeat(32)), Some([0xab; 32]));
        assert_eq!(hex32("abc"), None);
        assert_eq!(hex32(&"zz".repeat(32)), None);
        assert_eq!(hex32(&"é".repeat(32)), None);
    }

    #[test]
    fn the_file_s_faults_are_recorded_and_the_server_s_are_not() {
        assert_eq!(UploadError::from(IngestError::TooLarge(9)).rejection(), Some(Rejection::TooLarge { max: 9 }));
        assert_eq!(UploadError::Quota(5).rejection(), Some(Rejection::Quota { quota: 5 }));
        assert_eq!(UploadError::Internal("disk".into()).rejection(), None);
        assert_eq!(UploadError::from(IngestError::Catalog(CatalogError::Invalid("x".into()))).rejection(), None);
    }
}
