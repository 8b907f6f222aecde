//! Resumable uploads (the state behind the tus protocol): [`UploadState`], kept one of two
//! ways, and what a finished upload became ([`Outcome`]).
//!
//! [`DiskUploads`], the single-node default, keeps one directory per upload under
//! `data/tus/<id>/`:
//!
//! - `info.json`: owner, declared length, file name, metadata, expiry (written once, atomically);
//! - `data`: the bytes received so far; its length *is* the offset, so a server killed at
//!   any moment resumes from what reached the file;
//! - `pending`: present while a chunk with a checksum is being written, holding the offset
//!   it started at. A chunk is only kept once verified, so after a crash the data file is
//!   cut back to that offset;
//! - `result.json`: what ingest made of the finished upload (a track id or an error), kept
//!   until expiry so a client that lost the final response can still learn it.
//!
//! [`SharedUploads`], for a cluster, keeps the same state in the catalog (so any node takes
//! the next chunk) and the bytes in the blob store, one chunk object per request: a chunk
//! reaches the store before the catalog counts it, so the offset never names bytes that
//! are not there. (Not S3 multipart parts: those must be 5 MiB but for the last, and tus
//! clients send chunks of any size.) A chunk is received into a local scratch file first;
//! a node that dies mid-chunk loses only that chunk, and the client resumes at the offset
//! the catalog holds.
//!
//! Knows nothing of HTTP (an outcome records the uploads service's reason, not a status).
//! All functions block.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use crate::catalog::UploadInfo;
use crate::catalog::{Catalog, CatalogError, UploadRecord};
use crate::domain::{TrackId, UserId, now_unix, random_hex};
use crate::store::{BlobStore, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ResumableError {
    #[error("upload not found")]
    NotFound,
    #[error("upload expired")]
    Expired,
    #[error("upload state I/O on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// Another writer moved the offset (only when a lock was lost meanwhile).
    #[error("the upload's offset moved while this chunk was written")]
    Moved,
    #[error("the upload's bytes are incomplete: {0}")]
    Incomplete(String),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

type Result<T> = std::result::Result<T, ResumableError>;

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ResumableError + '_ {
    move |source| ResumableError::Io { path: path.to_path_buf(), source }
}

/// What became of a finished upload.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Added (or already in the library: `created` false).
    Track { id: TrackId, created: bool },
    /// Refused, for a reason the uploads service gives again to whoever asks later.
    Rejected(Rejection),
}

/// Why a finished upload was refused: the file's fault or the account's, never the
/// server's (a server failure keeps the bytes for a retry instead).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    /// Not audio that can be stored: the probe's stable code (`not_audio`, `malformed`…).
    Media {
        code: String,
        message: String,
    },
    TooLarge {
        max: u64,
    },
    Quota {
        quota: u64,
    },
    /// The track was deleted while the upload finished.
    Deleted,
    /// Recorded by a version before this one, with the HTTP status it answered; read, never
    /// written, so uploads refused before an upgrade still say why until they expire.
    #[serde(untagged)]
    Legacy {
        status: u16,
        code: String,
        message: String,
    },
}

/// Where an upload's state is kept; both ways behave alike (the uploads service cannot
/// tell them apart). The caller holds the upload's lock around every chunk and finish.
pub trait UploadState: Send + Sync {
    /// Creates an upload and returns its info.
    fn create(&self, user: UserId, length: u64, file_name: &str, metadata: &str, ttl_secs: i64) -> Result<UploadInfo>;
    /// An upload's info and current offset (repairing an interrupted checksummed chunk).
    /// Foreign uploads are `NotFound`, like missing ones.
    fn get(&self, user: UserId, id: &str) -> Result<(UploadInfo, u64)>;
    /// What became of the upload, once finished.
    fn outcome(&self, id: &str) -> Result<Option<Outcome>>;
    /// Unfinished, unexpired uploads of `user` (for the per-user limit) and their declared bytes.
    fn unfinished(&self, user: UserId) -> Result<(usize, u64)>;
    /// Starts a chunk at `offset` (the current one): where its bytes go. `checked`: it
    /// carries a checksum, so it must be undone after a crash unless ended with `keep`.
    fn begin_chunk(&self, id: &str, offset: u64, checked: bool) -> Result<Chunk>;
    /// Keeps (`keep`) or drops what the chunk received; the new offset. `last`: the chunk
    /// completes the upload (whose bytes are ingested at once, so need no sync here).
    fn end_chunk(&self, chunk: Chunk, keep: bool, last: bool) -> Result<u64>;
    /// The complete upload's bytes as a local file (`None`: they are gone, ingested).
    fn assemble(&self, id: &str) -> Result<Option<Assembled>>;
    /// Records what ingest made of the upload and drops its bytes.
    fn finish(&self, id: &str, outcome: &Outcome) -> Result<()>;
    /// Terminates an upload: everything of it goes.
    fn remove(&self, id: &str) -> Result<()>;
    /// Removes expired uploads; how many went.
    fn sweep(&self) -> Result<usize>;
}

/// A chunk being received: bytes are written to `path` (appended when `append`).
pub struct Chunk {
    pub path: PathBuf,
    pub append: bool,
    id: String,
    start: u64,
    checked: bool,
    /// `path` is a scratch file of this chunk alone, removed when the chunk ends.
    scratch: bool,
}

impl Drop for Chunk {
    fn drop(&mut self) {
        if self.scratch {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A complete upload as one local file, removed on drop when it is a copy.
pub struct Assembled {
    pub path: PathBuf,
    copy: bool,
}

impl Drop for Assembled {
    fn drop(&mut self) {
        if self.copy {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Ids are ours (32 lowercase hex digits); anything else names nothing.
fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn new_info(user: UserId, length: u64, file_name: &str, metadata: &str, ttl_secs: i64) -> UploadInfo {
    let now = now_unix();
    UploadInfo {
        id: random_hex::<16>(),
        user,
        length,
        file_name: file_name.to_string(),
        metadata: metadata.to_string(),
        created_at: now,
        expires_at: now + ttl_secs,
    }
}

/// Uploads on the local disk, one directory each (see the module's header).
pub struct DiskUploads {
    root: PathBuf,
}

impl DiskUploads {
    pub fn open(root: impl Into<PathBuf>) -> Result<DiskUploads> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(io_err(&root))?;
        Ok(DiskUploads { root })
    }

    fn dir(&self, id: &str) -> Option<PathBuf> {
        valid_id(id).then(|| self.root.join(id))
    }

    fn all(&self) -> impl Iterator<Item = (UploadInfo, PathBuf)> + '_ {
        fs::read_dir(&self.root).into_iter().flatten().flatten().filter_map(|e| {
            let dir = e.path();
            let info: UploadInfo = serde_json::from_slice(&fs::read(dir.join("info.json")).ok()?).ok()?;
            Some((info, dir))
        })
    }
}

impl UploadState for DiskUploads {
    fn create(&self, user: UserId, length: u64, file_name: &str, metadata: &str, ttl_secs: i64) -> Result<UploadInfo> {
        let info = new_info(user, length, file_name, metadata, ttl_secs);
        let dir = self.root.join(&info.id);
        fs::create_dir(&dir).map_err(io_err(&dir))?;
        let data = dir.join("data");
        File::create(&data).map_err(io_err(&data))?;
        write_atomically(&dir.join("info.json"), &serde_json::to_vec(&info).unwrap_or_default(), true)?;
        Ok(info)
    }

    fn get(&self, user: UserId, id: &str) -> Result<(UploadInfo, u64)> {
        let dir = self.dir(id).ok_or(ResumableError::NotFound)?;
        let info_path = dir.join("info.json");
        let raw = match fs::read(&info_path) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(ResumableError::NotFound),
            Err(e) => return Err(io_err(&info_path)(e)),
        };
        let info: UploadInfo = serde_json::from_slice(&raw).map_err(|e| io_err(&info_path)(io::Error::other(e)))?;
        if info.user != user {
            return Err(ResumableError::NotFound);
        }
        if info.expires_at <= now_unix() {
            return Err(ResumableError::Expired);
        }
        let data = dir.join("data");
        let pending = dir.join("pending");
        if let Ok(p) = fs::read_to_string(&pending)
            && let Ok(start) = p.trim().parse::<u64>()
        {
            let f = OpenOptions::new().write(true).open(&data).map_err(io_err(&data))?;
            f.set_len(start).map_err(io_err(&data))?;
            f.sync_all().map_err(io_err(&data))?;
            let _ = fs::remove_file(&pending);
        }
        let offset = match fs::metadata(&data) {
            Ok(m) => m.len(),
            // Finished and ingested: the bytes went to the store.
            Err(e) if e.kind() == io::ErrorKind::NotFound => info.length,
            Err(e) => return Err(io_err(&data)(e)),
        };
        Ok((info, offset))
    }

    fn outcome(&self, id: &str) -> Result<Option<Outcome>> {
        let Some(dir) = self.dir(id) else { return Ok(None) };
        Ok(fs::read(dir.join("result.json")).ok().and_then(|raw| serde_json::from_slice(&raw).ok()))
    }

    fn unfinished(&self, user: UserId) -> Result<(usize, u64)> {
        let now = now_unix();
        Ok(self
            .all()
            .filter(|(info, dir)| info.user == user && info.expires_at > now && !dir.join("result.json").exists())
            .fold((0, 0), |(n, b), (info, _)| (n + 1, b + info.length)))
    }

    fn begin_chunk(&self, id: &str, offset: u64, checked: bool) -> Result<Chunk> {
        let dir = self.dir(id).ok_or(ResumableError::NotFound)?;
        if checked {
            write_atomically(&dir.join("pending"), offset.to_string().as_bytes(), true)?;
        }
        Ok(Chunk { path: dir.join("data"), append: true, id: id.to_string(), start: offset, checked, scratch: false })
    }

    fn end_chunk(&self, chunk: Chunk, keep: bool, last: bool) -> Result<u64> {
        let data = &chunk.path;
        let f = OpenOptions::new().write(true).open(data).map_err(io_err(data))?;
        if !keep {
            f.set_len(chunk.start).map_err(io_err(data))?;
        }
        // The offset an append reports must survive a power cut; the last one need not
        // sync: ingest makes the file durable in the store at once (and this copy then goes).
        if !(keep && last) {
            f.sync_data().map_err(io_err(data))?;
        }
        if chunk.checked
            && let Some(dir) = self.dir(&chunk.id)
        {
            let pending = dir.join("pending");
            fs::remove_file(&pending).map_err(io_err(&pending))?;
        }
        Ok(f.metadata().map_err(io_err(data))?.len())
    }

    fn assemble(&self, id: &str) -> Result<Option<Assembled>> {
        let path = self.dir(id).ok_or(ResumableError::NotFound)?.join("data");
        Ok(path.exists().then_some(Assembled { path, copy: false }))
    }

    /// The record is not synced: on ext4 that would first flush the upload's bytes, just
    /// before they are deleted. The track itself is durable in the catalog; a record lost
    /// to a power cut makes the next `HEAD` ingest the bytes again (the same track) or, if
    /// they are gone too, report the outcome as lost.
    fn finish(&self, id: &str, outcome: &Outcome) -> Result<()> {
        let dir = self.dir(id).ok_or(ResumableError::NotFound)?;
        write_atomically(&dir.join("result.json"), &serde_json::to_vec(outcome).unwrap_or_default(), false)?;
        let data = dir.join("data");
        match fs::remove_file(&data) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&data)(e)),
        }
    }

    fn remove(&self, id: &str) -> Result<()> {
        let dir = self.dir(id).ok_or(ResumableError::NotFound)?;
        fs::remove_dir_all(&dir).map_err(io_err(&dir))
    }

    /// Also removes directories without a readable `info.json` older than an hour (a
    /// crash during creation).
    fn sweep(&self) -> Result<usize> {
        let now = now_unix();
        let mut n = 0;
        for e in fs::read_dir(&self.root).into_iter().flatten().flatten() {
            let dir = e.path();
            let expired = match fs::read(dir.join("info.json")).ok().and_then(|r| serde_json::from_slice::<UploadInfo>(&r).ok()) {
                Some(info) => info.expires_at <= now,
                None => e.metadata().ok().and_then(|m| m.modified().ok()).and_then(|m| m.elapsed().ok()).is_some_and(|age| age.as_secs() > 3600),
            };
            if expired && fs::remove_dir_all(&dir).is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }
}

/// Expired uploads removed per sweep query.
const SWEEP_BATCH: usize = 500;

/// Uploads in the catalog, their bytes in the store (see the module's header).
pub struct SharedUploads {
    catalog: Arc<dyn Catalog>,
    store: Arc<dyn BlobStore>,
    /// This node's scratch (chunks arriving, uploads assembled for ingest).
    scratch: PathBuf,
}

impl SharedUploads {
    pub fn new(catalog: Arc<dyn Catalog>, store: Arc<dyn BlobStore>, scratch: impl Into<PathBuf>) -> SharedUploads {
        SharedUploads { catalog, store, scratch: scratch.into() }
    }

    fn record(&self, id: &str) -> Result<UploadRecord> {
        if !valid_id(id) {
            return Err(ResumableError::NotFound);
        }
        self.catalog.upload(id)?.ok_or(ResumableError::NotFound)
    }

    fn scratch_file(&self, id: &str, what: &str) -> Result<PathBuf> {
        fs::create_dir_all(&self.scratch).map_err(io_err(&self.scratch))?;
        Ok(self.scratch.join(format!("tus-{id}-{what}-{}", random_hex::<6>())))
    }
}

/// A chunk's name in the store: the upload, then its first byte's offset.
fn chunk_name(id: &str, start: u64) -> String {
    format!("{id}/{start:016x}")
}

impl UploadState for SharedUploads {
    fn create(&self, user: UserId, length: u64, file_name: &str, metadata: &str, ttl_secs: i64) -> Result<UploadInfo> {
        let info = new_info(user, length, file_name, metadata, ttl_secs);
        let record = UploadRecord { info, received: 0, outcome: None };
        self.catalog.create_upload(&record)?;
        Ok(record.info)
    }

    fn get(&self, user: UserId, id: &str) -> Result<(UploadInfo, u64)> {
        let r = self.record(id)?;
        if r.info.user != user {
            return Err(ResumableError::NotFound);
        }
        if r.info.expires_at <= now_unix() {
            return Err(ResumableError::Expired);
        }
        Ok((r.info, r.received))
    }

    fn outcome(&self, id: &str) -> Result<Option<Outcome>> {
        let Some(raw) = self.record(id)?.outcome else { return Ok(None) };
        serde_json::from_str(&raw).map(Some).map_err(|e| ResumableError::Incomplete(format!("unreadable outcome: {e}")))
    }

    fn unfinished(&self, user: UserId) -> Result<(usize, u64)> {
        let (n, bytes) = self.catalog.unfinished_uploads(user, now_unix())?;
        Ok((n as usize, bytes))
    }

    fn begin_chunk(&self, id: &str, offset: u64, checked: bool) -> Result<Chunk> {
        let path = self.scratch_file(id, &offset.to_string())?;
        File::create(&path).map_err(io_err(&path))?;
        Ok(Chunk { path, append: false, id: id.to_string(), start: offset, checked, scratch: true })
    }

    fn end_chunk(&self, chunk: Chunk, keep: bool, _last: bool) -> Result<u64> {
        let len = fs::metadata(&chunk.path).map(|m| m.len()).unwrap_or(0);
        if !keep || len == 0 {
            return Ok(chunk.start);
        }
        // In the store first: the catalog's offset never names bytes that are not there.
        // A chunk stored but never counted (a crash in between) is overwritten by the
        // retry at the same offset, or removed with the upload.
        self.store.put_chunk(&chunk_name(&chunk.id, chunk.start), &chunk.path)?;
        if !self.catalog.add_upload_chunk(&chunk.id, chunk.start, len)? {
            return Err(ResumableError::Moved);
        }
        Ok(chunk.start + len)
    }

    fn assemble(&self, id: &str) -> Result<Option<Assembled>> {
        let r = self.record(id)?;
        let chunks = self.catalog.upload_chunks(id)?;
        let path = self.scratch_file(id, "whole")?;
        // Removed again on any failure below.
        let whole = Assembled { path, copy: true };
        let mut out = io::BufWriter::new(File::create(&whole.path).map_err(io_err(&whole.path))?);
        let mut at = 0;
        for c in &chunks {
            if c.start != at {
                return Err(ResumableError::Incomplete(format!("a gap at byte {at}")));
            }
            // Gone: removed after the outcome was recorded.
            let Some(n) = self.store.read_chunk(&chunk_name(id, c.start), &mut out)? else { return Ok(None) };
            if n != c.len {
                return Err(ResumableError::Incomplete(format!("the chunk at byte {at} holds {n} bytes, not {}", c.len)));
            }
            at += n;
        }
        if at != r.info.length {
            return Err(ResumableError::Incomplete(format!("{at} of {} bytes received", r.info.length)));
        }
        out.flush().map_err(io_err(&whole.path))?;
        drop(out);
        Ok(Some(whole))
    }

    /// The outcome is recorded before the chunks go, so a failure in between leaves
    /// chunks that the sweep removes when the upload expires, never a lost outcome.
    fn finish(&self, id: &str, outcome: &Outcome) -> Result<()> {
        let raw = serde_json::to_string(outcome).unwrap_or_default();
        self.catalog.set_upload_outcome(id, &raw)?;
        if let Err(e) = self.store.delete_chunks(id) {
            tracing::warn!(upload = id, error = %e, "could not remove a finished upload's chunks; the sweep will");
        }
        Ok(())
    }

    fn remove(&self, id: &str) -> Result<()> {
        if !valid_id(id) {
            return Err(ResumableError::NotFound);
        }
        self.store.delete_chunks(id)?;
        Ok(self.catalog.delete_upload(id)?)
    }

    fn sweep(&self) -> Result<usize> {
        let mut n = 0;
        loop {
            let expired = self.catalog.expired_uploads(now_unix(), SWEEP_BATCH)?;
            for id in &expired {
                self.store.delete_chunks(id)?;
                self.catalog.delete_upload(id)?;
            }
            n += expired.len();
            if expired.len() < SWEEP_BATCH {
                return Ok(n);
            }
        }
    }
}

/// Writes `bytes` to `path` through a temporary and a rename (readers see the old or the
/// new contents, never a part), synced to disk when `durable`.
fn write_atomically(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    if durable {
        f.sync_all().map_err(io_err(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(io_err(path))?;
    if durable
        && let Some(dir) = path.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Receives `bytes` as one chunk at the upload's offset, as the uploads service does.
    fn send(u: &dyn UploadState, id: &str, bytes: &[u8], checked: bool, keep: bool) -> u64 {
        let (info, offset) = u.get(UserId(1), id).unwrap();
        let chunk = u.begin_chunk(id, offset, checked).unwrap();
        let mut f = OpenOptions::new().append(chunk.append).write(true).open(&chunk.path).unwrap();
        f.write_all(bytes).unwrap();
        drop(f);
        u.end_chunk(chunk, keep, offset + bytes.len() as u64 >= info.length).unwrap()
    }

    /// The same story told to each way of keeping uploads.
    fn each(f: impl Fn(&dyn UploadState, &Path)) {
        let dir = tempfile::tempdir().unwrap();
        f(&DiskUploads::open(dir.path().join("tus")).unwrap(), dir.path());
        let dir = tempfile::tempdir().unwrap();
        let catalog: Arc<dyn Catalog> = Arc::new(crate::catalog::open_sqlite(dir.path().join("catalog.db")).unwrap());
        let store: Arc<dyn BlobStore> = Arc::new(crate::store::LocalStore::open(dir.path().join("blobs")).unwrap());
        f(&SharedUploads::new(catalog, store, dir.path().join("scratch")), dir.path());
    }

    #[test]
    fn chunks_add_up_and_refused_ones_leave_nothing() {
        each(|u, root| {
            let info = u.create(UserId(1), 100, "a.flac", "filename YS5mbGFj", 60).unwrap();
            assert!(matches!(u.get(UserId(2), &info.id), Err(ResumableError::NotFound)));
            assert!(matches!(u.get(UserId(1), "../../etc"), Err(ResumableError::NotFound)));
            assert_eq!(send(u, &info.id, &[1; 40], false, true), 40);
            assert_eq!(send(u, &info.id, &[9; 30], true, false), 40, "a chunk that failed its checksum is dropped");
            assert_eq!(u.get(UserId(1), &info.id).unwrap().1, 40);
            assert_eq!(u.unfinished(UserId(1)).unwrap(), (1, 100));
            assert_eq!(send(u, &info.id, &[2; 60], true, true), 100);
            let whole = u.assemble(&info.id).unwrap().unwrap();
            let bytes = fs::read(&whole.path).unwrap();
            assert_eq!((bytes.len(), &bytes[..40], &bytes[40..]), (100, &[1u8; 40][..], &[2u8; 60][..]));
            drop(whole);
            u.finish(&info.id, &Outcome::Track { id: TrackId(5), created: true }).unwrap();
            assert_eq!(u.get(UserId(1), &info.id).unwrap().1, 100);
            assert_eq!(u.outcome(&info.id).unwrap(), Some(Outcome::Track { id: TrackId(5), created: true }));
            assert!(u.assemble(&info.id).unwrap().is_none(), "the bytes went once ingested");
            assert_eq!(u.unfinished(UserId(1)).unwrap(), (0, 0));
            let old = u.create(UserId(1), 10, "b.mp3", "", -1).unwrap();
            assert!(matches!(u.get(UserId(1), &old.id), Err(ResumableError::Expired)));
            assert_eq!(u.sweep().unwrap(), 1);
            assert!(matches!(u.get(UserId(1), &old.id), Err(ResumableError::NotFound)));
            let gone = u.create(UserId(1), 10, "c.mp3", "", 60).unwrap();
            send(u, &gone.id, &[3; 4], false, true);
            u.remove(&gone.id).unwrap();
            assert!(matches!(u.get(UserId(1), &gone.id), Err(ResumableError::NotFound)));
            // Nothing of a chunk stays behind in this node's scratch.
            let scratch: Vec<_> = walkdir::WalkDir::new(root).into_iter().flatten().filter(|e| e.file_name().to_string_lossy().starts_with("tus-")).collect();
            assert!(scratch.is_empty(), "{scratch:?}");
        });
    }

    #[test]
    fn a_checksummed_chunk_cut_short_by_a_crash_is_cut_back() {
        let dir = tempfile::tempdir().unwrap();
        let u = DiskUploads::open(dir.path()).unwrap();
        let info = u.create(UserId(1), 100, "a.flac", "", 60).unwrap();
        send(&u, &info.id, &[1; 40], false, true);
        // A checksummed chunk in flight when the process died: never ended.
        let chunk = u.begin_chunk(&info.id, 40, true).unwrap();
        fs::write(&chunk.path, [1u8; 70]).unwrap();
        std::mem::forget(chunk);
        let reopened = DiskUploads::open(dir.path()).unwrap();
        assert_eq!(reopened.get(UserId(1), &info.id).unwrap().1, 40);
    }

    #[test]
    fn refusals_recorded_by_older_versions_still_read_back() {
        let legacy: Outcome = serde_json::from_str(r#"{"rejected":{"status":422,"code":"not_audio","message":"not audio"}}"#).unwrap();
        assert_eq!(legacy, Outcome::Rejected(Rejection::Legacy { status: 422, code: "not_audio".into(), message: "not audio".into() }));
        let now: Outcome = serde_json::from_str(&serde_json::to_string(&Outcome::Rejected(Rejection::Quota { quota: 9 })).unwrap()).unwrap();
        assert_eq!(now, Outcome::Rejected(Rejection::Quota { quota: 9 }));
    }
}
