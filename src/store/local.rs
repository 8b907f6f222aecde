//! Local-disk [`BlobStore`]: `blobs/ab/<hash>` under the data directory (256 shards, as git
//! does: a second level would create a directory per blob in a young store, and every new
//! directory costs a metadata write that the batch sync must flush).
//!
//! Staged bytes go to `blobs/tmp/` (same filesystem, so the final rename is atomic). A commit
//! calls `syncfs` once for the whole batch before renaming, and once after, so the contents
//! are on disk before any name points at them and the names are on disk before the catalog
//! refers to them (a commit of a few blobs, an upload, syncs those files and directories
//! instead). Leftover temporaries are removed when the store opens.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{BlobReader, BlobStore, Committed, Result, StagedBlob, StoreError};
use crate::domain::ContentHash;

const CHUNK: usize = 256 * 1024;
/// Commits of up to this many blobs sync file by file instead of the whole filesystem.
const FSYNC_EACH_MAX: usize = 16;

pub struct LocalStore {
    root: PathBuf,
    tmp: PathBuf,
    counter: AtomicU64,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

/// Whether a process with this id is running (Linux: `/proc/<pid>` exists).
fn process_alive(pid: u32) -> bool {
    pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists()
}

impl BlobReader for File {
    fn len(&self) -> u64 {
        self.metadata().map(|m| m.len()).unwrap_or(0)
    }
}

impl LocalStore {
    /// Opens (creating if needed) a store rooted at `root`, clearing stale temporaries.
    pub fn open(root: impl Into<PathBuf>) -> Result<LocalStore> {
        let root = root.into();
        let tmp = root.join("tmp");
        fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
        // Temporaries are named `<pid>-<n>`: only those of processes that are gone are
        // stale. Another process (an import running beside the server, or a `user add`
        // during an import) must keep its in-flight files.
        for entry in fs::read_dir(&tmp).map_err(io_err(&tmp))?.flatten() {
            let name = entry.file_name();
            let owner = name.to_str().and_then(|n| n.split('-').next()).and_then(|p| p.parse::<u32>().ok());
            if owner.is_none_or(|pid| !process_alive(pid)) {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(LocalStore { root, tmp, counter: AtomicU64::new(0) })
    }

    /// `chunks/<upload>/<chunk>` (a second-level name no hash parses as).
    fn chunk_path(&self, name: &str) -> Result<PathBuf> {
        if !super::chunk_name_ok(name) {
            return Err(super::bad_chunk_name(name));
        }
        Ok(self.root.join("chunks").join(name))
    }

    fn path_of(&self, h: &ContentHash) -> PathBuf {
        let hex = h.to_hex();
        self.root.join(&hex[0..2]).join(hex)
    }

    /// A new private temporary, and the guard that removes it unless committed.
    fn new_temp(&self) -> Result<(File, StagedBlob)> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let temp = self.tmp.join(format!("{}-{n}", std::process::id()));
        let out = OpenOptions::new().write(true).create_new(true).open(&temp).map_err(io_err(&temp))?;
        Ok((out, StagedBlob { hash: ContentHash([0; 32]), size: 0, temp: Some(temp) }))
    }

    /// Flushes everything written on this filesystem (one call for a whole batch).
    fn sync_fs(&self) -> Result<()> {
        let dir = File::open(&self.root).map_err(io_err(&self.root))?;
        // SAFETY: syncfs takes a valid open file descriptor and has no memory effects.
        let rc = unsafe { libc::syncfs(dir.as_raw_fd()) };
        if rc != 0 {
            return Err(StoreError::Io { path: self.root.clone(), source: io::Error::last_os_error() });
        }
        Ok(())
    }
}

impl BlobStore for LocalStore {
    fn stage(&self, src: &mut dyn Read, max_len: u64) -> Result<StagedBlob> {
        let (mut out, mut staged) = self.new_temp()?;
        let temp = staged.temp.clone().unwrap_or_default();
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; CHUNK];
        loop {
            let k = match src.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(StoreError::Source(e)),
            };
            staged.size += k as u64;
            if staged.size > max_len {
                return Err(StoreError::TooLarge(max_len));
            }
            hasher.update(&buf[..k]);
            out.write_all(&buf[..k]).map_err(io_err(&temp))?;
        }
        staged.hash = ContentHash(*hasher.finalize().as_bytes());
        Ok(staged)
    }

    /// Copies in the kernel (`copy_file_range`, as `cp` does), then hashes the copy: the
    /// hash describes exactly the stored bytes even if the source changes meanwhile.
    fn stage_file(&self, path: &Path, max_len: u64) -> Result<StagedBlob> {
        let mut src = File::open(path).map_err(StoreError::Source)?;
        if src.metadata().map_err(StoreError::Source)?.len() > max_len {
            return Err(StoreError::TooLarge(max_len));
        }
        let (mut out, mut staged) = self.new_temp()?;
        let temp = staged.temp.clone().unwrap_or_default();
        staged.size = io::copy(&mut src, &mut out).map_err(io_err(&temp))?;
        if staged.size > max_len {
            return Err(StoreError::TooLarge(max_len));
        }
        let back = File::open(&temp).map_err(io_err(&temp))?;
        let mut hasher = blake3::Hasher::new();
        hasher.update_reader(back).map_err(io_err(&temp))?;
        staged.hash = ContentHash(*hasher.finalize().as_bytes());
        Ok(staged)
    }

    fn commit(&self, mut staged: Vec<StagedBlob>) -> Result<Vec<Committed>> {
        if staged.is_empty() {
            return Ok(Vec::new());
        }
        // A few blobs (an upload): sync each one and the directories naming them, so other
        // dirty data on the filesystem (the upload's own scratch copy) is not flushed too.
        // A batch (an import): one `syncfs` is cheaper than hundreds of `fsync`s.
        let few = staged.len() <= FSYNC_EACH_MAX;
        if few {
            for s in &staged {
                if let Some(temp) = &s.temp
                    && !self.path_of(&s.hash).exists()
                {
                    File::open(temp).and_then(|f| f.sync_data()).map_err(io_err(temp))?;
                }
            }
        } else {
            self.sync_fs()?;
        }
        let mut done = Vec::with_capacity(staged.len());
        let mut dirs: Vec<PathBuf> = Vec::new();
        for s in staged.iter_mut() {
            let dest = self.path_of(&s.hash);
            let Some(temp) = s.temp.take() else { continue };
            let created = if dest.exists() {
                let _ = fs::remove_file(&temp);
                false
            } else {
                if let Some(parent) = dest.parent() {
                    fs::create_dir_all(parent).map_err(io_err(parent))?;
                    if !dirs.iter().any(|d| d == parent) {
                        dirs.push(parent.to_path_buf());
                    }
                }
                fs::rename(&temp, &dest).map_err(io_err(&dest))?;
                true
            };
            done.push(Committed { hash: s.hash, size: s.size, created });
        }
        if done.iter().any(|c| c.created) {
            if few {
                // The shard directories hold the new names; the root holds new shards.
                dirs.push(self.root.clone());
                for d in &dirs {
                    File::open(d).and_then(|f| f.sync_all()).map_err(io_err(d))?;
                }
            } else {
                self.sync_fs()?;
            }
        }
        Ok(done)
    }

    fn open(&self, hash: &ContentHash) -> Result<Box<dyn BlobReader>> {
        let p = self.path_of(hash);
        match File::open(&p) {
            Ok(f) => Ok(Box::new(f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StoreError::NotFound(*hash)),
            Err(e) => Err(StoreError::Io { path: p, source: e }),
        }
    }

    fn exists(&self, hash: &ContentHash) -> Result<bool> {
        Ok(self.path_of(hash).exists())
    }

    fn delete(&self, hash: &ContentHash) -> Result<bool> {
        let p = self.path_of(hash);
        match fs::remove_file(&p) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::Io { path: p, source: e }),
        }
    }

    fn list(&self) -> Result<Vec<ContentHash>> {
        let mut out = Vec::new();
        for entry in walkdir::WalkDir::new(&self.root).min_depth(2).max_depth(2) {
            let entry = entry.map_err(|e| StoreError::Io { path: self.root.clone(), source: e.into() })?;
            if let Some(Ok(h)) = entry.file_name().to_str().map(str::parse::<ContentHash>) {
                out.push(h);
            }
        }
        Ok(out)
    }

    fn modified(&self, hash: &ContentHash) -> Result<Option<std::time::SystemTime>> {
        match std::fs::metadata(self.path_of(hash)) {
            Ok(m) => Ok(m.modified().ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Io { path: self.path_of(hash), source: e }),
        }
    }

    fn put_chunk(&self, name: &str, path: &Path) -> Result<()> {
        let to = self.chunk_path(name)?;
        let dir = to.parent().unwrap_or(&self.root);
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        // Moved where the filesystem allows (the data dir's scratch is on the same one).
        if fs::rename(path, &to).is_err() {
            fs::copy(path, &to).map_err(io_err(&to))?;
            let _ = fs::remove_file(path);
        }
        File::open(&to).and_then(|f| f.sync_all()).map_err(io_err(&to))?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))
    }

    fn read_chunk(&self, name: &str, out: &mut dyn Write) -> Result<Option<u64>> {
        let from = self.chunk_path(name)?;
        let mut f = match File::open(&from) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&from)(e)),
        };
        io::copy(&mut f, out).map(Some).map_err(io_err(&from))
    }

    fn delete_chunks(&self, upload: &str) -> Result<()> {
        let dir = self.chunk_path(&format!("{upload}/0"))?.parent().map(Path::to_path_buf).unwrap_or_default();
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(&dir)(e)),
            _ => Ok(()),
        }
    }

    fn physical_bytes(&self) -> Result<Option<u64>> {
        let mut total = 0;
        for entry in walkdir::WalkDir::new(&self.root).min_depth(2).max_depth(2).into_iter().flatten() {
            total += entry.metadata().map(|m| m.len()).unwrap_or(0);
        }
        Ok(Some(total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, LocalStore) {
        let d = tempfile::tempdir().unwrap();
        let s = LocalStore::open(d.path().join("blobs")).unwrap();
        (d, s)
    }

    #[test]
    fn put_is_content_addressed_and_deduplicated() {
        let (_d, s) = store();
        let a = s.put(&mut &b"hello world"[..], u64::MAX).unwrap();
        let b = s.put(&mut &b"hello world"[..], u64::MAX).unwrap();
        assert_eq!(a.hash, ContentHash::of(b"hello world"));
        assert!(a.created && !b.created);
        assert_eq!(s.list().unwrap(), vec![a.hash]);
        let mut back = Vec::new();
        s.open(&a.hash).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, b"hello world");
        // Nothing is left in tmp.
        assert_eq!(fs::read_dir(&s.tmp).unwrap().count(), 0);
    }

    #[test]
    fn ranged_reads() {
        let (_d, s) = store();
        let c = s.put(&mut &b"0123456789"[..], u64::MAX).unwrap();
        let mut out = String::new();
        s.open_range(&c.hash, 2..5).unwrap().read_to_string(&mut out).unwrap();
        assert_eq!(out, "234");
        assert!(matches!(s.open_range(&c.hash, 5..11), Err(StoreError::BadRange { .. })));
    }

    #[test]
    fn dropped_stage_and_oversize_leave_nothing() {
        let (_d, s) = store();
        drop(s.stage(&mut &b"abc"[..], u64::MAX).unwrap());
        assert!(matches!(s.stage(&mut &[0u8; 100][..], 10), Err(StoreError::TooLarge(10))));
        assert_eq!(fs::read_dir(&s.tmp).unwrap().count(), 0);
        assert!(s.list().unwrap().is_empty());
    }

    #[test]
    fn stage_file_hashes_what_it_stored() {
        let (d, s) = store();
        let src = d.path().join("src.bin");
        let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        fs::write(&src, &bytes).unwrap();
        let staged = s.stage_file(&src, u64::MAX).unwrap();
        assert_eq!((staged.hash, staged.size), (ContentHash::of(&bytes), bytes.len() as u64));
        let c = s.commit(vec![staged]).unwrap();
        let mut back = Vec::new();
        s.open(&c[0].hash).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, bytes);
        assert!(matches!(s.stage_file(&src, 10), Err(StoreError::TooLarge(10))));
        assert_eq!(fs::read_dir(&s.tmp).unwrap().count(), 0);
    }

    #[test]
    fn open_keeps_live_processes_temporaries() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("blobs");
        let s = LocalStore::open(&root).unwrap();
        let live = s.stage(&mut &b"in flight"[..], u64::MAX).unwrap();
        // A temporary of a process that no longer exists (pid beyond pid_max).
        fs::write(root.join("tmp").join("4294967295-0"), b"stale").unwrap();
        let _again = LocalStore::open(&root).unwrap();
        let left: Vec<_> = fs::read_dir(root.join("tmp")).unwrap().flatten().map(|e| e.path()).collect();
        assert_eq!(left, vec![live.temp.clone().unwrap()]);
        assert!(s.commit(vec![live]).unwrap()[0].created);
    }

    #[test]
    fn delete_and_exists() {
        let (_d, s) = store();
        let c = s.put(&mut &b"x"[..], u64::MAX).unwrap();
        assert!(s.exists(&c.hash).unwrap());
        assert!(s.delete(&c.hash).unwrap());
        assert!(!s.delete(&c.hash).unwrap());
        assert!(matches!(s.open(&c.hash), Err(StoreError::NotFound(_))));
    }

    #[test]
    fn parts_read_and_seek_as_one_file() {
        use std::io::{Read, Seek, SeekFrom};
        let (_d, s) = store();
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let parts: Vec<crate::store::Part> = [&bytes[..10], &bytes[10..9_000], &bytes[9_000..]]
            .iter()
            .map(|p| {
                let c = s.put(&mut &p[..], u64::MAX).unwrap();
                crate::store::Part { hash: c.hash, len: c.size }
            })
            .collect();
        let mut r = crate::store::open_parts(&s, &parts).unwrap();
        assert_eq!(r.len(), 10_000);
        let mut all = Vec::new();
        r.read_to_end(&mut all).unwrap();
        assert_eq!(all, bytes);
        r.seek(SeekFrom::Start(8_995)).unwrap();
        let mut across = [0u8; 10];
        r.read_exact(&mut across).unwrap();
        assert_eq!(&across, &bytes[8_995..9_005]);
        r.seek(SeekFrom::End(-3)).unwrap();
        let mut tail = Vec::new();
        r.read_to_end(&mut tail).unwrap();
        assert_eq!(tail, &bytes[9_997..]);
        let mut ranged = crate::store::open_parts_range(&s, &parts, 5..15).unwrap();
        let mut mid = Vec::new();
        ranged.read_to_end(&mut mid).unwrap();
        assert_eq!(mid, &bytes[5..15]);
        let wrong = [crate::store::Part { hash: parts[0].hash, len: 11 }];
        assert!(matches!(crate::store::open_parts(&s, &wrong), Err(StoreError::WrongSize { .. })));
    }
}
