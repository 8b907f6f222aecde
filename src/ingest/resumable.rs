//! Resumable uploads on disk (the state behind the tus protocol), one directory per upload
//! under `data/tus/<id>/`:
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
//! Knows nothing of HTTP (an outcome records the uploads service's reason, not a status).
//! All functions block.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::domain::{TrackId, UserId, now_unix};

#[derive(Debug, thiserror::Error)]
pub enum ResumableError {
    #[error("upload not found")]
    NotFound,
    #[error("upload expired")]
    Expired,
    #[error("upload state I/O on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

type Result<T> = std::result::Result<T, ResumableError>;

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ResumableError + '_ {
    move |source| ResumableError::Io { path: path.to_path_buf(), source }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UploadInfo {
    pub id: String,
    pub user: UserId,
    pub length: u64,
    pub file_name: String,
    /// The client's `Upload-Metadata` header, verbatim (returned on `HEAD`).
    pub metadata: String,
    pub created_at: i64,
    pub expires_at: i64,
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

pub struct Uploads {
    root: PathBuf,
}

impl Uploads {
    pub fn open(root: impl Into<PathBuf>) -> Result<Uploads> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(io_err(&root))?;
        Ok(Uploads { root })
    }

    fn dir(&self, id: &str) -> Option<PathBuf> {
        // Ids are ours (hex); anything else names nothing.
        (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())).then(|| self.root.join(id))
    }

    pub fn data_path(&self, id: &str) -> Option<PathBuf> {
        self.dir(id).map(|d| d.join("data"))
    }

    /// Creates an upload and returns its info.
    pub fn create(&self, user: UserId, length: u64, file_name: &str, metadata: &str, ttl_secs: i64) -> Result<UploadInfo> {
        let mut raw = [0u8; 16];
        rand::fill(&mut raw);
        let id: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let now = now_unix();
        let info = UploadInfo {
            id: id.clone(),
            user,
            length,
            file_name: file_name.to_string(),
            metadata: metadata.to_string(),
            created_at: now,
            expires_at: now + ttl_secs,
        };
        let dir = self.root.join(&id);
        fs::create_dir(&dir).map_err(io_err(&dir))?;
        let data = dir.join("data");
        File::create(&data).map_err(io_err(&data))?;
        write_atomically(&dir.join("info.json"), &serde_json::to_vec(&info).unwrap_or_default(), true)?;
        Ok(info)
    }

    /// An upload's info and current offset, after repairing an interrupted checksummed chunk.
    /// Foreign uploads are `NotFound`, like missing ones.
    pub fn get(&self, user: UserId, id: &str) -> Result<(UploadInfo, u64)> {
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

    /// Marks the start of a checksummed chunk at `offset` (undone by [`Uploads::get`] after
    /// a crash unless [`Uploads::end_chunk`] ran).
    pub fn begin_chunk(&self, id: &str, offset: u64) -> Result<()> {
        let dir = self.dir(id).ok_or(ResumableError::NotFound)?;
        write_atomically(&dir.join("pending"), offset.to_string().as_bytes(), true)
    }

    /// Keeps (`keep`) or cuts back to `start` the chunk begun with [`Uploads::begin_chunk`].
    pub fn end_chunk(&self, id: &str, start: u64, keep: bool) -> Result<()> {
        let dir = self.dir(id).ok_or(ResumableError::NotFound)?;
        let data = dir.join("data");
        let f = OpenOptions::new().write(true).open(&data).map_err(io_err(&data))?;
        if !keep {
            f.set_len(start).map_err(io_err(&data))?;
        }
        f.sync_data().map_err(io_err(&data))?;
        let pending = dir.join("pending");
        fs::remove_file(&pending).map_err(io_err(&pending))
    }

    pub fn outcome(&self, id: &str) -> Option<Outcome> {
        let p = self.dir(id)?.join("result.json");
        serde_json::from_slice(&fs::read(p).ok()?).ok()
    }

    /// Records what ingest made of the upload and drops its bytes. The record is not
    /// synced: on ext4 that would first flush the upload's bytes, just before they are
    /// deleted. The track itself is durable in the catalog; a record lost to a power cut
    /// makes the next `HEAD` ingest the bytes again (the same track) or, if they are gone
    /// too, report the outcome as lost.
    pub fn finish(&self, id: &str, outcome: &Outcome) -> Result<()> {
        let dir = self.dir(id).ok_or(ResumableError::NotFound)?;
        write_atomically(&dir.join("result.json"), &serde_json::to_vec(outcome).unwrap_or_default(), false)?;
        let data = dir.join("data");
        match fs::remove_file(&data) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&data)(e)),
        }
    }

    /// Terminates an upload: everything of it goes.
    pub fn remove(&self, id: &str) -> Result<()> {
        let dir = self.dir(id).ok_or(ResumableError::NotFound)?;
        fs::remove_dir_all(&dir).map_err(io_err(&dir))
    }

    /// Unfinished uploads of `user` (for the per-user limit) and their declared bytes.
    pub fn unfinished(&self, user: UserId) -> (usize, u64) {
        let now = now_unix();
        self.all()
            .filter(|(info, dir)| info.user == user && info.expires_at > now && !dir.join("result.json").exists())
            .fold((0, 0), |(n, b), (info, _)| (n + 1, b + info.length))
    }

    fn all(&self) -> impl Iterator<Item = (UploadInfo, PathBuf)> + '_ {
        fs::read_dir(&self.root).into_iter().flatten().flatten().filter_map(|e| {
            let dir = e.path();
            let info: UploadInfo = serde_json::from_slice(&fs::read(dir.join("info.json")).ok()?).ok()?;
            Some((info, dir))
        })
    }

    /// Removes expired uploads and directories without a readable `info.json` older than
    /// an hour (a crash during creation). Returns how many went.
    pub fn sweep(&self) -> usize {
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
        n
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

    #[test]
    fn offsets_survive_and_unverified_chunks_are_cut_back() {
        let dir = tempfile::tempdir().unwrap();
        let u = Uploads::open(dir.path()).unwrap();
        let info = u.create(UserId(1), 100, "a.flac", "filename YS5mbGFj", 60).unwrap();
        assert!(matches!(u.get(UserId(2), &info.id), Err(ResumableError::NotFound)));
        assert!(matches!(u.get(UserId(1), "../../etc"), Err(ResumableError::NotFound)));
        let data = u.data_path(&info.id).unwrap();
        fs::write(&data, [1u8; 40]).unwrap();
        // A checksummed chunk in flight when the process died.
        u.begin_chunk(&info.id, 40).unwrap();
        fs::write(&data, [1u8; 70]).unwrap();
        let reopened = Uploads::open(dir.path()).unwrap();
        assert_eq!(reopened.get(UserId(1), &info.id).unwrap().1, 40);
        assert_eq!(reopened.unfinished(UserId(1)), (1, 100));
        reopened.finish(&info.id, &Outcome::Track { id: TrackId(5), created: true }).unwrap();
        assert_eq!(reopened.get(UserId(1), &info.id).unwrap().1, 100);
        assert_eq!(reopened.outcome(&info.id), Some(Outcome::Track { id: TrackId(5), created: true }));
        assert_eq!(reopened.unfinished(UserId(1)), (0, 0));
        // A refusal recorded by an older version still reads back.
        let legacy: Outcome = serde_json::from_str(r#"{"rejected":{"status":422,"code":"not_audio","message":"not audio"}}"#).unwrap();
        assert_eq!(legacy, Outcome::Rejected(Rejection::Legacy { status: 422, code: "not_audio".into(), message: "not audio".into() }));
        let now: Outcome = serde_json::from_str(&serde_json::to_string(&Outcome::Rejected(Rejection::Quota { quota: 9 })).unwrap()).unwrap();
        assert_eq!(now, Outcome::Rejected(Rejection::Quota { quota: 9 }));
        let old = u.create(UserId(1), 10, "b.mp3", "", -1).unwrap();
        assert!(matches!(u.get(UserId(1), &old.id), Err(ResumableError::Expired)));
        assert_eq!(u.sweep(), 1);
        assert!(matches!(u.get(UserId(1), &old.id), Err(ResumableError::NotFound)));
    }
}
