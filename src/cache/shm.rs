//! Encoded segments in sealed memory files, so that they leave by `sendfile(2)` as nginx's
//! files do, not by a copy from user memory into every socket (a 73 kB segment's copy was a
//! quarter of a warm request's CPU).
//!
//! [`share`] puts a segment's bytes in its own `memfd`, sealed against any change, mapped
//! read-only, and returns them as [`Bytes`] whose owner keeps the file open and mapped.
//! [`lookup`] tells a socket writer whether a slice lies in such a file and where, so it
//! can send it with `sendfile` (the kernel then passes page references to TCP; the pages
//! can never change, because the file is sealed and never reused). Everything else is
//! ordinary memory.
//!
//! One file descriptor per shared segment: [`set_capacity`] caps how many exist (beyond
//! the cap, or off Linux, segments stay in ordinary memory). Knows nothing of HTTP.

use bytes::Bytes;

/// Segments smaller than this are not worth a file.
const MIN_BYTES: usize = 4096;

#[cfg(target_os = "linux")]
mod imp {
    use std::collections::BTreeMap;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::sync::RwLock;
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    use bytes::Bytes;

    /// Address of the mapping → (length, file).
    static REGISTRY: RwLock<BTreeMap<usize, (usize, RawFd)>> = RwLock::new(BTreeMap::new());
    static LIVE: AtomicUsize = AtomicUsize::new(0);
    static CAPACITY: AtomicUsize = AtomicUsize::new(0);

    pub fn set_capacity(n: usize) {
        CAPACITY.store(n, Relaxed);
    }

    /// A sealed, read-only mapped memfd holding one segment.
    struct Mapped {
        ptr: *const u8,
        len: usize,
        _fd: OwnedFd,
    }

    // SAFETY: the mapping is read-only and immutable (sealed) for its whole life, so shared
    // references from any thread are sound; it is unmapped only in `drop`.
    unsafe impl Send for Mapped {}
    unsafe impl Sync for Mapped {}

    impl AsRef<[u8]> for Mapped {
        fn as_ref(&self) -> &[u8] {
            // SAFETY: `ptr` maps `len` readable bytes until `drop`.
            unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
        }
    }

    impl Drop for Mapped {
        fn drop(&mut self) {
            if let Ok(mut r) = REGISTRY.write() {
                r.remove(&(self.ptr as usize));
            }
            // SAFETY: unmapping the region mapped in `share`, which nothing references now.
            unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
            LIVE.fetch_sub(1, Relaxed);
        }
    }

    pub fn share(data: &[u8]) -> Option<Bytes> {
        let cap = CAPACITY.load(Relaxed);
        if LIVE.fetch_add(1, Relaxed) >= cap {
            LIVE.fetch_sub(1, Relaxed);
            return None;
        }
        let r = map(data);
        if r.is_none() {
            LIVE.fetch_sub(1, Relaxed);
        }
        r
    }

    fn map(data: &[u8]) -> Option<Bytes> {
        // SAFETY: plain system calls on a file descriptor this function owns; the mapping
        // is checked before use and owned by the returned `Mapped`.
        unsafe {
            let fd = libc::memfd_create(c"tonearm-segment".as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING);
            if fd < 0 {
                return None;
            }
            let fd = OwnedFd::from_raw_fd(fd);
            let mut done = 0;
            while done < data.len() {
                let n = libc::pwrite(fd.as_raw_fd(), data[done..].as_ptr().cast(), data.len() - done, done as libc::off_t);
                if n <= 0 {
                    return None;
                }
                done += n as usize;
            }
            let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
            if libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) != 0 {
                return None;
            }
            let ptr = libc::mmap(std::ptr::null_mut(), data.len(), libc::PROT_READ, libc::MAP_SHARED, fd.as_raw_fd(), 0);
            if ptr == libc::MAP_FAILED {
                return None;
            }
            let raw = fd.as_raw_fd();
            let m = Mapped { ptr: ptr as *const u8, len: data.len(), _fd: fd };
            if let Ok(mut r) = REGISTRY.write() {
                r.insert(ptr as usize, (data.len(), raw));
            }
            Some(Bytes::from_owner(m))
        }
    }

    /// The file and offset holding all of `buf`, if it lies in a shared segment. The file
    /// stays open as long as the caller holds the `Bytes` that `buf` borrows from.
    pub fn lookup(buf: &[u8]) -> Option<(RawFd, u64)> {
        if LIVE.load(Relaxed) == 0 || buf.is_empty() {
            return None;
        }
        let at = buf.as_ptr() as usize;
        let r = REGISTRY.read().ok()?;
        let (&start, &(len, fd)) = r.range(..=at).next_back()?;
        (at + buf.len() <= start + len).then_some((fd, (at - start) as u64))
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub fn set_capacity(_: usize) {}
    pub fn share(_: &[u8]) -> Option<bytes::Bytes> {
        None
    }
    pub fn lookup(_: &[u8]) -> Option<(i32, u64)> {
        None
    }
}

pub use imp::{lookup, set_capacity};

/// `data` as [`Bytes`], in a sealed memory file when it is large enough and the cap allows.
pub fn share(data: Vec<u8>) -> Bytes {
    if data.len() >= MIN_BYTES
        && let Some(b) = imp::share(&data)
    {
        return b;
    }
    Bytes::from(data)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn shared_bytes_are_found_and_released() {
        set_capacity(2);
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let a = share(data.clone());
        assert_eq!(&a[..], &data[..]);
        let (fd, off) = lookup(&a[100..200]).expect("in a memfd");
        assert_eq!(off, 100);
        // The file holds the same bytes.
        let mut buf = [0u8; 100];
        // SAFETY: reading into a local buffer from a descriptor that `a` keeps open.
        let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), 100, 100) };
        assert_eq!(n, 100);
        assert_eq!(&buf[..], &data[100..200]);
        // Small segments, and those past the cap, stay in ordinary memory.
        assert!(lookup(&share(vec![1; 100])).is_none());
        let b = share(data.clone());
        let c = share(data.clone());
        assert!(lookup(&b).is_some() && lookup(&c).is_none());
        drop(a);
        drop(b);
        assert!(lookup(&c).is_none());
        let d = share(data);
        assert!(lookup(&d).is_some());
    }
}
