//! Content-addressed blob storage: the stored original files and cover images, named by the
//! BLAKE3 hash of their bytes.
//!
//! Owns: the [`BlobStore`] trait and its implementations: local disk ([`LocalStore`]) and
//! any S3-compatible object store ([`S3Store`]). Knows nothing of users, tracks, the catalog or HTTP.
//! All methods block: call them from rayon or `spawn_blocking`, never from async code.
//!
//! Writing is two-phase so that a batch can be made durable with one sync:
//! [`BlobStore::stage`] streams bytes into a private temporary while hashing them, and
//! [`BlobStore::commit`] makes the staged bytes durable, then visible under their hash.
//! A crash at any point leaves either nothing or a complete blob under its final name;
//! a blob the catalog never came to reference is an orphan that a sweep may remove.

mod local;
mod s3;

pub use local::LocalStore;
pub use s3::{S3Settings, S3Store};

use std::io::{self, Read, Seek};
use std::ops::Range;
use std::path::PathBuf;

use crate::domain::ContentHash;
pub use crate::domain::Part;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("blob {0} not found")]
    NotFound(ContentHash),
    #[error("range {start}..{end} outside blob of {len} bytes")]
    BadRange { start: u64, end: u64, len: u64 },
    #[error("blob store I/O on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("reading the source: {0}")]
    Source(io::Error),
    #[error("source is larger than the limit of {0} bytes")]
    TooLarge(u64),
    /// The object store cannot be reached or answered with a failure; a retry may work.
    #[error("object store unavailable: {0}")]
    Unavailable(String),
    #[error("blob {hash} holds {found} bytes, expected {expected}")]
    WrongSize { hash: ContentHash, found: u64, expected: u64 },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A readable, seekable blob (a plain `File` for the local store).
pub trait BlobReader: Read + Seek + Send + Sync {
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Bytes written and hashed but not yet visible. Dropping it without committing discards it.
#[derive(Debug)]
pub struct StagedBlob {
    pub hash: ContentHash,
    pub size: u64,
    /// Implementation-private location of the staged bytes.
    pub(crate) temp: Option<PathBuf>,
}

impl Drop for StagedBlob {
    fn drop(&mut self) {
        if let Some(t) = self.temp.take() {
            let _ = std::fs::remove_file(t);
        }
    }
}

/// What a commit did with one staged blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    pub hash: ContentHash,
    pub size: u64,
    /// False when the store already had these bytes (the staged copy was discarded).
    pub created: bool,
}

pub trait BlobStore: Send + Sync {
    /// Streams `src` into a private temporary while hashing it. `max_len` bounds the size.
    fn stage(&self, src: &mut dyn Read, max_len: u64) -> Result<StagedBlob>;

    /// Stages the file at `path`. The default streams it through [`BlobStore::stage`]; a
    /// store may copy it more cheaply, provided the hash describes the bytes it stored.
    fn stage_file(&self, path: &std::path::Path, max_len: u64) -> Result<StagedBlob> {
        let mut f = std::fs::File::open(path).map_err(StoreError::Source)?;
        self.stage(&mut f, max_len)
    }

    /// Makes every staged blob durable, then visible under its hash, in that order.
    fn commit(&self, staged: Vec<StagedBlob>) -> Result<Vec<Committed>>;

    /// Stages and commits one blob.
    fn put(&self, src: &mut dyn Read, max_len: u64) -> Result<Committed> {
        let s = self.stage(src, max_len)?;
        let mut c = self.commit(vec![s])?;
        c.pop().ok_or_else(|| StoreError::Source(io::Error::other("commit returned nothing")))
    }

    /// Opens a blob for reading.
    fn open(&self, hash: &ContentHash) -> Result<Box<dyn BlobReader>>;

    /// Opens `range` of a blob (end exclusive); the range must lie inside the blob.
    fn open_range(&self, hash: &ContentHash, range: Range<u64>) -> Result<Box<dyn Read + Send>> {
        let mut r = self.open(hash)?;
        let len = r.len();
        if range.start > range.end || range.end > len {
            return Err(StoreError::BadRange { start: range.start, end: range.end, len });
        }
        r.seek(io::SeekFrom::Start(range.start)).map_err(StoreError::Source)?;
        Ok(Box::new(r.take(range.end - range.start)))
    }

    fn exists(&self, hash: &ContentHash) -> Result<bool>;

    /// Opens a blob whose length the caller knows (the catalog records every part's), so
    /// a remote store need not ask for it first. A blob of another length is `WrongSize`.
    fn open_known(&self, hash: &ContentHash, len: u64) -> Result<Box<dyn BlobReader>> {
        let r = self.open(hash)?;
        if r.len() != len {
            return Err(StoreError::WrongSize { hash: *hash, found: r.len(), expected: len });
        }
        Ok(r)
    }

    /// A blob's length (`None`: not stored), without reading it.
    fn len_of(&self, hash: &ContentHash) -> Result<Option<u64>> {
        match self.open(hash) {
            Ok(r) => Ok(Some(r.len())),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes a blob; `Ok(false)` when it was not there.
    fn delete(&self, hash: &ContentHash) -> Result<bool>;

    /// Every blob the store holds (for sweeps and audits).
    fn list(&self) -> Result<Vec<ContentHash>>;

    /// Total bytes of all blobs, where the store can tell without listing every blob
    /// (`None`: an object store; the catalog's totals are the figures).
    fn physical_bytes(&self) -> Result<Option<u64>>;

    /// When a blob was last written (its commit time), if the store knows.
    fn modified(&self, hash: &ContentHash) -> Result<Option<std::time::SystemTime>>;

    /// Keeps the file at `path` as the upload chunk `name` (`<upload>/<chunk>`, lowercase
    /// hex and one `/`), replacing one of that name; durable when this returns. Chunks are
    /// the bytes of unfinished resumable uploads: named by the caller, apart from the
    /// content-addressed blobs and never listed as one. The file may be moved (it is
    /// gone afterwards).
    fn put_chunk(&self, name: &str, path: &std::path::Path) -> Result<()>;

    /// Writes the chunk `name` to `out`; its length (`None`: there is no such chunk).
    fn read_chunk(&self, name: &str, out: &mut dyn io::Write) -> Result<Option<u64>>;

    /// Removes every chunk of `upload`.
    fn delete_chunks(&self, upload: &str) -> Result<()>;
}

/// Whether `name` is a chunk name ([`BlobStore::put_chunk`]): `<hex>/<hex>`.
pub(crate) fn chunk_name_ok(name: &str) -> bool {
    let hex = |s: &str| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    name.split_once('/').is_some_and(|(u, c)| hex(u) && hex(c))
}

fn bad_chunk_name(name: &str) -> StoreError {
    StoreError::Source(io::Error::new(io::ErrorKind::InvalidInput, format!("{name:?} is not an upload chunk name")))
}

/// Opens a file kept as `parts` as one seekable reader.
pub fn open_parts(store: &dyn BlobStore, parts: &[Part]) -> Result<Box<dyn BlobReader>> {
    let mut readers = Vec::with_capacity(parts.len());
    let mut start = 0;
    for p in parts {
        let r = store.open_known(&p.hash, p.len)?;
        readers.push((r, start, p.len));
        start += p.len;
    }
    if readers.len() == 1
        && let Some((r, _, _)) = readers.pop()
    {
        return Ok(r);
    }
    Ok(Box::new(Concat { parts: readers, pos: 0, len: start, current: None }))
}

/// `range` (end exclusive) of a file kept as `parts`.
pub fn open_parts_range(store: &dyn BlobStore, parts: &[Part], range: Range<u64>) -> Result<Box<dyn Read + Send>> {
    let mut r = open_parts(store, parts)?;
    let len = r.len();
    if range.start > range.end || range.end > len {
        return Err(StoreError::BadRange { start: range.start, end: range.end, len });
    }
    r.seek(io::SeekFrom::Start(range.start)).map_err(StoreError::Source)?;
    Ok(Box::new(r.take(range.end - range.start)))
}

/// Several blobs read as one.
struct Concat {
    /// Reader, offset of its first byte in the whole, length.
    parts: Vec<(Box<dyn BlobReader>, u64, u64)>,
    pos: u64,
    len: u64,
    /// The part whose reader is positioned at `pos`.
    current: Option<usize>,
}

impl Read for Concat {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.len {
            let Some(i) = self.parts.iter().position(|(_, s, l)| self.pos < s + l) else { return Ok(0) };
            let (r, s, l) = &mut self.parts[i];
            if self.current != Some(i) {
                r.seek(io::SeekFrom::Start(self.pos - *s))?;
                self.current = Some(i);
            }
            let want = buf.len().min((*s + *l - self.pos) as usize);
            let n = r.read(&mut buf[..want])?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "blob shorter than recorded"));
            }
            self.pos += n as u64;
            if self.pos == *s + *l {
                self.current = None;
            }
            return Ok(n);
        }
        Ok(0)
    }
}

impl Seek for Concat {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        let target = match to {
            io::SeekFrom::Start(n) => Some(n),
            io::SeekFrom::End(d) => self.len.checked_add_signed(d),
            io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target = target.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        if target != self.pos {
            self.pos = target;
            self.current = None;
        }
        Ok(target)
    }
}

impl BlobReader for Concat {
    fn len(&self) -> u64 {
        self.len
    }
}
