//! Ingest: turns one audio file into a stored blob plus a catalog entry for one user.
//! The same path serves `tonearm import` and (later) uploads.
//!
//! Owns the acceptance rules (size limit, probe verdict, cover choice) and the order of
//! effects: probe first (nothing is written for a rejected file), stage the bytes, then
//! commit a batch: the store makes the blobs durable before the catalog refers to them.
//! Depends on `store`, `catalog` and `media`; knows nothing of HTTP.

mod import;

pub use import::{ImportOptions, ImportReport, Rejected, import};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::catalog::{AddOutcome, Catalog, CatalogError, NewCover, NewMedia, NewTrack, SourceFile};
use crate::domain::{ContentHash, UserId};
use crate::media::{Input, cover, probe, tags};
use crate::store::{BlobStore, StagedBlob, StoreError};

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
    audio: StagedBlob,
    cover: Option<StagedBlob>,
    pub track: NewTrack,
}

pub struct Ingest {
    store: Arc<dyn BlobStore>,
    catalog: Arc<dyn Catalog>,
    max_file_bytes: u64,
    max_cover_bytes: u64,
    sidecars: Mutex<HashMap<PathBuf, Option<PathBuf>>>,
}

/// Files up to this size are read into memory once instead of being opened three times.
const IN_MEMORY_MAX: u64 = 16 << 20;

/// Side-car cover names, best first (compared case-insensitively).
const SIDECARS: &[&str] = &[
    "cover.jpg", "cover.jpeg", "cover.png", "folder.jpg", "folder.jpeg", "folder.png", "front.jpg",
    "front.jpeg", "front.png", "album.jpg", "album.png", "cover.webp", "folder.webp",
];

impl Ingest {
    pub fn new(store: Arc<dyn BlobStore>, catalog: Arc<dyn Catalog>, max_file_bytes: u64, max_cover_bytes: u64) -> Ingest {
        Ingest { store, catalog, max_file_bytes, max_cover_bytes, sidecars: Mutex::new(HashMap::new()) }
    }

    pub fn catalog(&self) -> &Arc<dyn Catalog> {
        &self.catalog
    }

    /// Probes and stages one file. `source` is recorded for re-import skipping; `folder`
    /// groups albums that have no album artist; `file_name` is the user's name for it.
    pub fn prepare(&self, path: &Path, user: UserId, file_name: &str, source: Option<SourceFile>, folder: Option<String>) -> Result<Prepared, IngestError> {
        let read_err = |source| IngestError::Read { path: path.to_path_buf(), source };
        let meta = std::fs::metadata(path).map_err(read_err)?;
        if meta.len() > self.max_file_bytes {
            return Err(IngestError::TooLarge(self.max_file_bytes));
        }
        let ext = Path::new(file_name).extension().and_then(|e| e.to_str()).unwrap_or("");
        // Small files are read once and parsed from memory; large ones are read in place.
        let input = if meta.len() <= IN_MEMORY_MAX {
            Input::Bytes(std::fs::read(path).map_err(read_err)?.into())
        } else {
            Input::File(path.to_path_buf())
        };
        let props = probe::probe(&input, ext)?;
        let (tags, embedded) = tags::read(&input, self.max_cover_bytes);
        let audio = match &input {
            Input::Bytes(b) => self.store.stage(&mut b.as_ref(), self.max_file_bytes)?,
            Input::File(p) => self.store.stage_file(p, self.max_file_bytes)?,
        };
        let cover_bytes = match embedded {
            Some(c) => Some(c.data),
            None => self.sidecar_bytes(path),
        };
        let (cover, new_cover) = match cover_bytes.and_then(|b| cover::inspect(&b).ok().map(|i| (b, i))) {
            Some((bytes, info)) => {
                let hash = ContentHash::of(&bytes);
                let staged = if self.store.exists(&hash)? { None } else { Some(self.store.stage(&mut bytes.as_slice(), u64::MAX)?) };
                let nc = NewCover { hash, size: bytes.len() as u64, mime: info.mime.to_string(), width: info.width, height: info.height };
                (staged, Some(nc))
            }
            None => (None, None),
        };
        let media = NewMedia { hash: audio.hash, size: audio.size, props };
        let track = NewTrack { user, media, tags, cover: new_cover, file_name: file_name.to_string(), source, folder };
        Ok(Prepared { audio, cover, track })
    }

    /// Makes a batch durable and adds it to the catalog in one transaction.
    pub fn commit(&self, batch: Vec<Prepared>) -> Result<Vec<AddOutcome>, IngestError> {
        let mut staged = Vec::with_capacity(batch.len() * 2);
        let mut tracks = Vec::with_capacity(batch.len());
        for p in batch {
            staged.push(p.audio);
            staged.extend(p.cover);
            tracks.push(p.track);
        }
        self.store.commit(staged)?;
        Ok(self.catalog.add_tracks(&tracks)?)
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
            && best.as_ref().is_none_or(|(r, _)| rank < *r) {
                best = Some((rank, entry.path()));
            }
    }
    best.map(|(_, p)| p)
}

/// Deletes blobs the catalog does not reference (left by a crash between a catalog commit
/// that dropped the last reference and the file's removal, or by an import that died
/// between its store and catalog commits). Only blobs older than `min_age` are touched, so
/// an import running beside the server, between its two commits, keeps its files.
/// Returns the number of blobs and bytes removed.
pub fn sweep_orphans(store: &dyn BlobStore, catalog: &dyn Catalog, min_age: std::time::Duration) -> Result<(usize, u64), IngestError> {
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
        let len = store.open(&h).map(|r| r.len()).unwrap_or(0);
        if store.delete(&h)? {
            n += 1;
            bytes += len;
        }
    }
    Ok((n, bytes))
}
