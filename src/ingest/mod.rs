//! Ingest: turns one audio file into a stored blob plus a catalog entry for one user.
//! The same path serves `tonearm import`, uploads (one request or tus) and instant uploads.
//!
//! Owns the acceptance rules (size limit, probe verdict, cover choice) and the order of
//! effects: probe first (nothing is written for a rejected file), stage the bytes, then
//! commit a batch: the store makes the blobs durable before the catalog refers to them.
//! Depends on `store`, `catalog` and `media`; knows nothing of HTTP.

mod import;
pub mod resumable;
pub mod verify;

pub use import::{ImportOptions, ImportReport, Rejected, import};

use std::collections::HashMap;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::catalog::{AddOutcome, Catalog, CatalogError, NewCover, NewMedia, NewTrack, SourceFile};
use crate::coord::Coordination;
use crate::domain::{ContentHash, Part, TrackId, UserId};
use crate::media::{Input, cover, layout, probe, tags};
use crate::store::{BlobStore, StagedBlob, StoreError, open_parts};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("file is larger than the limit of {0} bytes")]
    TooLarge(u64),
    #[error(transparent)]
    Probe(#[from] probe::ProbeError),
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

impl IngestError {
    /// Stable machine-readable reason, shown in import summaries and API errors.
    pub fn code(&self) -> &'static str {
        match self {
            IngestError::TooLarge(_) | IngestError::Store(StoreError::TooLarge(_)) => "too_large",
            IngestError::Probe(p) => p.code(),
            IngestError::Read { .. } => "unreadable",
            IngestError::Store(_) => "storage",
            IngestError::Catalog(_) => "catalog",
        }
    }

    /// Whether the file is at fault (reject it) rather than the server (stop).
    pub fn is_rejection(&self) -> bool {
        matches!(self, IngestError::TooLarge(_) | IngestError::Probe(_) | IngestError::Read { .. })
            || matches!(self, IngestError::Store(StoreError::TooLarge(_) | StoreError::Source(_)))
    }
}

/// A probed file whose bytes are staged but not yet visible.
pub struct Prepared {
    /// The file's parts (head, audio, tail), staged; empty when the store has them already.
    parts: Vec<StagedBlob>,
    cover: Option<StagedBlob>,
    pub track: NewTrack,
}

pub struct Ingest {
    store: Arc<dyn BlobStore>,
    catalog: Arc<dyn Catalog>,
    max_file_bytes: u64,
    max_cover_bytes: u64,
    sidecars: Mutex<HashMap<PathBuf, Option<PathBuf>>>,
    /// Its gate [`GATE`]: commits share it; deletes take it alone, so a blob another commit
    /// is about to refer to is never removed from the store between that commit's two steps.
    coord: Arc<dyn Coordination>,
}

/// The gate that orders deletes against commits.
pub const GATE: &str = "ingest";

/// Files up to this size are read into memory once instead of being opened three times.
const IN_MEMORY_MAX: u64 = 16 << 20;

/// Side-car cover names, best first (compared case-insensitively).
const SIDECARS: &[&str] = &[
    "cover.jpg",
    "cover.jpeg",
    "cover.png",
    "folder.jpg",
    "folder.jpeg",
    "folder.png",
    "front.jpg",
    "front.jpeg",
    "front.png",
    "album.jpg",
    "album.png",
    "cover.webp",
    "folder.webp",
];

impl Ingest {
    pub fn new(store: Arc<dyn BlobStore>, catalog: Arc<dyn Catalog>, coord: Arc<dyn Coordination>, max_file_bytes: u64, max_cover_bytes: u64) -> Ingest {
        Ingest { store, catalog, max_file_bytes, max_cover_bytes, sidecars: Mutex::new(HashMap::new()), coord }
    }

    pub fn catalog(&self) -> &Arc<dyn Catalog> {
        &self.catalog
    }

    pub fn max_file_bytes(&self) -> u64 {
        self.max_file_bytes
    }

    /// Probes and stages one file. `source` is recorded for re-import skipping; `folder`
    /// groups albums that have no album artist; `file_name` is the user's name for it.
    ///
    /// The file is stored as parts: its tag-bearing head and tail, and the coded audio
    /// between them ([`layout::audio_region`]), so that copies differing only in tags share
    /// the audio blob. The parts are staged (BLAKE3 each) while a second thread takes the
    /// whole file's SHA-256.
    pub fn prepare(&self, path: &Path, user: UserId, file_name: &str, source: Option<SourceFile>, folder: Option<String>) -> Result<Prepared, IngestError> {
        let read_err = |source| IngestError::Read { path: path.to_path_buf(), source };
        let meta = std::fs::metadata(path).map_err(read_err)?;
        if meta.len() > self.max_file_bytes {
            return Err(IngestError::TooLarge(self.max_file_bytes));
        }
        let ext = Path::new(file_name).extension().and_then(|e| e.to_str()).unwrap_or("");
        // Small files are read once and parsed from memory; large ones are read in place.
        let input = if meta.len() <= IN_MEMORY_MAX { Input::Bytes(std::fs::read(path).map_err(read_err)?.into()) } else { Input::File(path.to_path_buf()) };
        let t0 = std::time::Instant::now();
        let props = probe::probe(&input, ext)?;
        let t_probe = t0.elapsed();
        let (tags, embedded) = tags::read(&input, self.max_cover_bytes);
        let t_tags = t0.elapsed() - t_probe;
        let len = input.len().map_err(read_err)?;
        let region = layout::audio_region(&input);
        let ranges: Vec<Range<u64>> = match &region {
            Some(r) => [0..r.start, r.clone(), r.end..len].into_iter().filter(|r| r.end > r.start).collect(),
            None => std::iter::once(0..len).collect(),
        };
        let src: Box<dyn Read> = match &input {
            Input::File(p) => Box::new(std::fs::File::open(p).map_err(read_err)?),
            other => other.reader().map_err(read_err)?,
        };
        // Two passes over the (cached) bytes at once: this thread stages the parts (each
        // hashed with BLAKE3, which also names the file: `Part::identity`), the other takes
        // the SHA-256 of the whole file that instant uploads look files up by.
        let (sha256, staged) = std::thread::scope(|sc| {
            let sha = sc.spawn(|| -> std::io::Result<[u8; 32]> {
                let mut src = input.reader()?;
                let mut h = <sha2::Sha256 as sha2::Digest>::new();
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let n = src.read(&mut buf)?;
                    if n == 0 {
                        return Ok(sha2::Digest::finalize(h).into());
                    }
                    sha2::Digest::update(&mut h, &buf[..n]);
                }
            });
            let staged = self.stage_ranges(src, &ranges);
            (sha.join(), staged)
        });
        let sha256 = sha256.map_err(|_| read_err(std::io::Error::other("hashing thread panicked")))?.map_err(read_err)?;
        let staged = staged?;
        let unchanged = std::fs::metadata(path).is_ok_and(|m| m.len() == meta.len() && m.modified().ok() == meta.modified().ok());
        if !unchanged {
            return Err(read_err(std::io::Error::other("the file changed while it was read")));
        }
        let audio = match &region {
            Some(a) => ranges.iter().position(|r| r == a).map(|i| staged[i].hash),
            None => staged.first().map(|b| b.hash),
        };
        tracing::debug!(bytes = len, probe = ?t_probe, tags = ?t_tags, stage = ?(t0.elapsed() - t_probe - t_tags), parts = staged.len(), "prepared");
        let parts: Vec<Part> = staged.iter().map(|b| Part { hash: b.hash, len: b.size }).collect();
        let hash = Part::identity(&parts);
        let audio = audio.unwrap_or(hash);
        let cover_bytes = match embedded {
            Some(c) => Some(c.data),
            None => self.sidecar_bytes(path),
        };
        let (cover, new_cover) = self.stage_cover(cover_bytes)?;
        let media = NewMedia { hash, size: len, props, sha256: Some(sha256), parts, audio };
        let track = NewTrack { user, media, tags, cover: new_cover, file_name: file_name.to_string(), source, folder };
        Ok(Prepared { parts: staged, cover, track })
    }

    /// Stages `ranges` (consecutive, from 0) of `src` as one blob each.
    fn stage_ranges(&self, src: Box<dyn Read>, ranges: &[Range<u64>]) -> Result<Vec<StagedBlob>, IngestError> {
        let mut src = std::io::BufReader::with_capacity(1 << 20, src);
        let mut staged = Vec::with_capacity(ranges.len());
        for r in ranges {
            let want = r.end - r.start;
            let blob = self.store.stage(&mut (&mut src).take(want), self.max_file_bytes)?;
            if blob.size != want {
                return Err(IngestError::Store(StoreError::Source(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file changed while it was read",
                ))));
            }
            staged.push(blob);
        }
        Ok(staged)
    }

    /// A track for `user` made from a file the store already holds (an instant upload): its
    /// tags and cover are read from the stored bytes, which are the user's own bytes.
    pub fn prepare_stored(&self, media: NewMedia, user: UserId, file_name: &str) -> Result<Prepared, IngestError> {
        let store = self.store.clone();
        let parts = media.parts.clone();
        let open = move || -> std::io::Result<Box<dyn symphonia::core::io::MediaSource>> {
            let r = open_parts(store.as_ref(), &parts).map_err(std::io::Error::other)?;
            let len = r.len();
            Ok(Box::new(crate::media::SeekSource::new(r, len)))
        };
        let input = Input::Opener(Arc::new(open), media.size);
        let (tags, embedded) = tags::read(&input, self.max_cover_bytes);
        let (cover, new_cover) = self.stage_cover(embedded.map(|c| c.data))?;
        let track = NewTrack { user, media, tags, cover: new_cover, file_name: file_name.to_string(), source: None, folder: None };
        Ok(Prepared { parts: Vec::new(), cover, track })
    }

    fn stage_cover(&self, bytes: Option<Vec<u8>>) -> Result<(Option<StagedBlob>, Option<NewCover>), IngestError> {
        match bytes.and_then(|b| cover::inspect(&b).ok().map(|i| (b, i))) {
            Some((bytes, info)) => {
                let hash = ContentHash::of(&bytes);
                let staged = if self.store.exists(&hash)? { None } else { Some(self.store.stage(&mut bytes.as_slice(), u64::MAX)?) };
                let nc = NewCover { hash, size: bytes.len() as u64, mime: info.mime.to_string(), width: info.width, height: info.height };
                Ok((staged, Some(nc)))
            }
            None => Ok((None, None)),
        }
    }

    /// Makes a batch durable and adds it to the catalog in one transaction.
    pub fn commit(&self, batch: Vec<Prepared>) -> Result<Vec<AddOutcome>, IngestError> {
        let mut staged = Vec::with_capacity(batch.len() * 3);
        let mut tracks = Vec::with_capacity(batch.len());
        for p in batch {
            staged.extend(p.parts);
            staged.extend(p.cover);
            tracks.push(p.track);
        }
        let _shared = self.coord.gate(GATE, false);
        let t0 = std::time::Instant::now();
        let committed: std::collections::HashSet<ContentHash> = self.store.commit(staged)?.into_iter().map(|c| c.hash).collect();
        tracing::debug!(took = ?t0.elapsed(), "store commit");
        // Parts not staged here (an instant upload refers to stored ones) must still be
        // there: a delete that freed them has finished (the gate), so check.
        for t in &tracks {
            for p in t.media.parts.iter().filter(|p| !committed.contains(&p.hash)) {
                if !self.store.exists(&p.hash)? {
                    return Err(IngestError::Store(StoreError::NotFound(p.hash)));
                }
            }
        }
        Ok(self.catalog.add_tracks(&tracks)?)
    }

    /// Removes tracks from `user`'s library, then the blobs nobody refers to any more.
    /// Returns the number of blobs and bytes freed.
    pub fn delete_tracks(&self, user: UserId, ids: &[TrackId]) -> Result<(usize, u64), IngestError> {
        let _alone = self.coord.gate(GATE, true);
        let freed = self.catalog.delete_tracks(user, ids)?;
        self.delete_blobs(&freed)
    }

    /// Deletes a user and their library, then the blobs nobody refers to any more.
    pub fn delete_user(&self, username: &str) -> Result<(usize, u64), IngestError> {
        let _alone = self.coord.gate(GATE, true);
        let freed = self.catalog.delete_user(username)?;
        self.delete_blobs(&freed)
    }

    fn delete_blobs(&self, freed: &[ContentHash]) -> Result<(usize, u64), IngestError> {
        let (mut n, mut bytes) = (0, 0);
        for h in freed {
            // Another process (an import) may have added a reference since the commit.
            if self.catalog.blob_referenced(h)? {
                continue;
            }
            if let Some(len) = delete_counted(self.store.as_ref(), h)? {
                n += 1;
                bytes += len;
            }
        }
        Ok((n, bytes))
    }

    /// The first side-car image in the file's folder (looked up once per folder).
    fn sidecar_bytes(&self, path: &Path) -> Option<Vec<u8>> {
        let dir = path.parent()?.to_path_buf();
        let found = {
            let cached = self.sidecars.lock().ok()?.get(&dir).cloned();
            match cached {
                Some(f) => f,
                None => {
                    let f = find_sidecar(&dir);
                    if let Ok(mut m) = self.sidecars.lock() {
                        m.insert(dir, f.clone());
                    }
                    f
                }
            }
        }?;
        let meta = std::fs::metadata(&found).ok()?;
        if meta.len() > self.max_cover_bytes {
            return None;
        }
        std::fs::read(found).ok()
    }
}

fn find_sidecar(dir: &Path) -> Option<PathBuf> {
    let mut best: Option<(usize, PathBuf)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let name = entry.file_name().to_string_lossy().to_lowercase();
        if let Some(rank) = SIDECARS.iter().position(|s| *s == name)
            && best.as_ref().is_none_or(|(r, _)| rank < *r)
        {
            best = Some((rank, entry.path()));
        }
    }
    best.map(|(_, p)| p)
}

/// What [`check`] found.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub referenced: usize,
    pub stored: usize,
    /// Referenced by the catalog, absent from the store: a dangling reference.
    pub missing: Vec<ContentHash>,
    /// Present with a size other than the catalog's.
    pub wrong_size: Vec<ContentHash>,
    /// In the store, referenced by nothing.
    pub orphans: Vec<ContentHash>,
}

/// Compares the catalog's blob references with the store's contents.
pub fn check(store: &dyn BlobStore, catalog: &dyn Catalog) -> Result<CheckReport, IngestError> {
    let referenced = catalog.referenced_blobs_with_sizes()?;
    let stored: std::collections::HashSet<ContentHash> = store.list()?.into_iter().collect();
    let mut r = CheckReport { referenced: referenced.len(), stored: stored.len(), ..CheckReport::default() };
    let known: std::collections::HashSet<ContentHash> = referenced.iter().map(|(h, _)| *h).collect();
    for (h, size) in &referenced {
        match store.len_of(h)? {
            Some(len) if len == *size => {}
            Some(_) => r.wrong_size.push(*h),
            None => r.missing.push(*h),
        }
    }
    r.orphans = stored.into_iter().filter(|h| !known.contains(h)).collect();
    Ok(r)
}

/// Copies every blob `catalog` references from `from` into `to` (`tonearm migrate
/// --to-store`), skipping those `to` already holds with the right length, so a copy
/// resumes where it stopped. Each copy is checked against its hash before it is
/// committed. `progress` hears (blobs done, blobs). Returns (copied, already there).
pub fn copy_blobs(catalog: &dyn Catalog, from: &dyn BlobStore, to: &dyn BlobStore, progress: &dyn Fn(u64, u64)) -> Result<(u64, u64), IngestError> {
    let referenced = catalog.referenced_blobs_with_sizes()?;
    let total = referenced.len() as u64;
    let (mut copied, mut there) = (0, 0);
    for (i, (h, size)) in referenced.iter().enumerate() {
        if to.len_of(h)? == Some(*size) {
            there += 1;
        } else {
            let mut src = from.open(h)?;
            let staged = to.stage(&mut src, *size)?;
            if staged.hash != *h || staged.size != *size {
                return Err(IngestError::Store(StoreError::WrongSize { hash: *h, found: staged.size, expected: *size }));
            }
            to.commit(vec![staged])?;
            copied += 1;
        }
        progress(i as u64 + 1, total);
    }
    Ok((copied, there))
}

impl Ingest {
    /// Deletes blobs the catalog does not reference (left by a crash between a catalog
    /// commit that dropped the last reference and the file's removal, or by an import that
    /// died between its store and catalog commits). Only blobs older than `min_age` are
    /// touched, so an import in another process (on SQLite, whose gate is per process),
    /// between its two commits, keeps its files. Each deletion takes the gate alone and
    /// looks again, so a commit here or on another node that is about to refer to a blob
    /// it found already stored keeps it. Returns the number of blobs and bytes removed.
    pub fn sweep_orphans(&self, min_age: std::time::Duration) -> Result<(usize, u64), IngestError> {
        let (store, catalog) = (self.store.as_ref(), self.catalog.as_ref());
        let referenced: std::collections::HashSet<ContentHash> = catalog.referenced_blobs()?.into_iter().collect();
        let now = std::time::SystemTime::now();
        let (mut n, mut bytes) = (0, 0);
        for h in store.list()? {
            if referenced.contains(&h) {
                continue;
            }
            let old_enough = store.modified(&h)?.and_then(|m| now.duration_since(m).ok()).is_some_and(|age| age >= min_age);
            if !old_enough {
                continue;
            }
            let _alone = self.coord.gate(GATE, true);
            if catalog.blob_referenced(&h)? {
                continue;
            }
            if let Some(len) = delete_counted(store, &h)? {
                n += 1;
                bytes += len;
            }
        }
        Ok((n, bytes))
    }
}

/// Deletes a blob; its length if it was there.
fn delete_counted(store: &dyn BlobStore, h: &ContentHash) -> Result<Option<u64>, IngestError> {
    let len = store.open(h).map(|r| r.len()).unwrap_or(0);
    Ok(store.delete(h)?.then_some(len))
}
