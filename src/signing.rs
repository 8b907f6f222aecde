//! Signed playback URLs for players that cannot send an `Authorization` header (Safari's
//! native HLS, smart speakers, car head units): HMAC-SHA-256 (RFC 2104) over the user, the
//! track and an expiry, with a 256-bit server secret kept in the data directory.
//!
//! A signature is scoped to one user and one track: it opens that track's playlists,
//! segments and streams and nothing else. A list signature ([`ListGrant`]) is scoped to one
//! album or playlist of the user's: it opens that list's playlist file (whose entries carry
//! track signatures of their own), nothing else. Knows nothing of HTTP; the server turns
//! the three values into query parameters (`u`, `e`, `s`).
//!
//! Also the [`Sealer`]: AES-256-GCM under a second key file, for the one secret the server
//! must be able to read back (the copy of a password Subsonic token auth needs).

use std::io::Write;
use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::domain::{AlbumId, PlaylistId, TrackId, UserId};

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the signature is malformed")]
    Malformed,
    #[error("the signature does not match")]
    Mismatch,
    #[error("the signed URL has expired")]
    Expired,
    #[error("secret file {path}: {source}")]
    Secret { path: std::path::PathBuf, source: std::io::Error },
}

pub struct UrlSigner {
    /// HMAC keyed once (its inner and outer pads hashed), cloned for each grant.
    keyed: Hmac<Sha256>,
}

/// What a signed URL carries, and what it is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub user: UserId,
    pub track: TrackId,
    pub expires: i64,
    /// The account state the grant was issued under (`Accounts::grant_key`): not in the
    /// URL, but signed, so a password change or a disabled account ends the URL.
    pub account: u64,
}

/// A list of the user's that a list grant opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    Album(AlbumId),
    Playlist(PlaylistId),
    /// The user's starred tracks.
    Favourites,
    /// The user's whole library, shuffled.
    Shuffle,
}

/// What a signed playlist-file URL carries, and what it is bound to (as [`Grant`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListGrant {
    pub user: UserId,
    pub list: List,
    pub expires: i64,
    pub account: u64,
}

impl UrlSigner {
    pub fn new(key: [u8; 32]) -> UrlSigner {
        // The key is 32 bytes; HMAC accepts any length, so this cannot fail.
        let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap_or_else(|_| unreachable!());
        UrlSigner { keyed }
    }

    /// Loads the secret from `path`, creating it (mode 0600) on first use.
    pub fn load_or_create(path: &Path) -> Result<UrlSigner, SignError> {
        Ok(UrlSigner::new(key_file(path)?))
    }

    /// The MAC of a message of at most 128 bytes (a longer one would fail to verify).
    fn mac(&self, message: std::fmt::Arguments<'_>) -> Hmac<Sha256> {
        let mut m = self.keyed.clone();
        let mut msg = [0u8; 128];
        let mut w = &mut msg[..];
        let _ = w.write_fmt(message);
        let n = 128 - w.len();
        m.update(&msg[..n]);
        m
    }

    fn track_mac(&self, g: &Grant) -> Hmac<Sha256> {
        self.mac(format_args!("tonearm-play-v2|{}|{}|{}|{:016x}", g.user, g.track, g.expires, g.account))
    }

    fn list_mac(&self, g: &ListGrant) -> Hmac<Sha256> {
        let (kind, id) = match g.list {
            List::Album(a) => ("album", a.0),
            List::Playlist(p) => ("playlist", p.0),
            List::Favourites => ("favourites", 0),
            List::Shuffle => ("shuffle", 0),
        };
        self.mac(format_args!("tonearm-list-v1|{}|{kind}:{id}|{}|{:016x}", g.user, g.expires, g.account))
    }

    /// The hex signature of a grant.
    pub fn sign(&self, g: &Grant) -> String {
        hex(&self.track_mac(g).finalize().into_bytes())
    }

    /// Checks `sig` for the grant in constant time, then the expiry against `now`.
    pub fn verify(&self, g: &Grant, sig: &str, now: i64) -> Result<(), SignError> {
        check(self.track_mac(g), sig, g.expires, now)
    }

    /// A stable, unguessable UUID naming `user`'s library on the local network (a UPnP
    /// device's UDN): the same on every node sharing the key and across restarts.
    pub fn device_uuid(&self, user: UserId) -> String {
        let mut b = [0u8; 16];
        b.copy_from_slice(&self.mac(format_args!("tonearm-lan-device-v1|{user}")).finalize().into_bytes()[..16]);
        crate::domain::uuid_text(b, 8)
    }

    /// The hex signature of a list grant.
    pub fn sign_list(&self, g: &ListGrant) -> String {
        hex(&self.list_mac(g).finalize().into_bytes())
    }

    /// As [`UrlSigner::verify`], for a list grant.
    pub fn verify_list(&self, g: &ListGrant, sig: &str, now: i64) -> Result<(), SignError> {
        check(self.list_mac(g), sig, g.expires, now)
    }
}

fn check(mac: Hmac<Sha256>, sig: &str, expires: i64, now: i64) -> Result<(), SignError> {
    let raw = unhex(sig).ok_or(SignError::Malformed)?;
    mac.verify_slice(&raw).map_err(|_| SignError::Mismatch)?;
    if expires < now {
        return Err(SignError::Expired);
    }
    Ok(())
}

/// A 32-byte key kept in `path`, created on first use: written (mode 0600, synced) under a
/// random name of its own, then linked into place only if no key is there yet, so nodes
/// that share the file and start together all end up with the one key that won.
pub fn key_file(path: &Path) -> Result<[u8; 32], SignError> {
    let err = |source| SignError::Secret { path: path.to_path_buf(), source };
    let read = |b: Vec<u8>| -> Result<[u8; 32], SignError> { b.as_slice().try_into().map_err(|_| err(std::io::Error::other("expected exactly 32 bytes"))) };
    match std::fs::read(path) {
        Ok(b) => read(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            rand::fill(&mut key);
            let tmp = path.with_extension(format!("tmp-{:016x}", rand::random::<u64>()));
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp).map_err(err)?;
            f.write_all(&key).and_then(|_| f.sync_all()).map_err(err)?;
            let linked = std::fs::hard_link(&tmp, path);
            let _ = std::fs::remove_file(&tmp);
            match linked {
                Ok(()) => Ok(key),
                // Another process made it first: theirs is the key.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(std::fs::read(path).map_err(err)?),
                Err(e) => Err(err(e)),
            }
        }
        Err(e) => Err(err(e)),
    }
}

/// Seals small secrets with AES-256-GCM (a random 96-bit nonce before the ciphertext and
/// its tag), so that what the catalog stores is useless without the key file.
pub struct Sealer {
    cipher: aes_gcm::Aes256Gcm,
}

impl Sealer {
    pub fn new(key: [u8; 32]) -> Sealer {
        use aes_gcm::KeyInit as _;
        Sealer { cipher: aes_gcm::Aes256Gcm::new(&key.into()) }
    }

    /// Loads the key from `path`, creating it (mode 0600) on first use.
    pub fn load_or_create(path: &Path) -> Result<Sealer, SignError> {
        Ok(Sealer::new(key_file(path)?))
    }

    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        use aes_gcm::aead::Aead;
        let mut nonce = [0u8; 12];
        rand::fill(&mut nonce);
        // Encryption fails only for inputs of gigabytes; a password is a few bytes.
        let sealed = self.cipher.encrypt(&nonce.into(), plain).unwrap_or_default();
        [&nonce[..], &sealed].concat()
    }

    /// The plaintext, or `None` for bytes this key did not seal (or that were changed).
    pub fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        use aes_gcm::aead::Aead;
        if sealed.len() < 12 + 16 {
            return None;
        }
        let (nonce, body) = sealed.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        self.cipher.decrypt(&nonce.into(), body).ok()
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (nibble(b[2 * i])? << 4) | nibble(b[2 * i + 1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let (a, b) = (Sealer::new([1; 32]), Sealer::new([2; 32]));
        let sealed = a.seal(b"correct horse");
        assert_ne!(a.seal(b"correct horse"), sealed, "a fresh nonce each time");
        assert_eq!(a.open(&sealed).as_deref(), Some(&b"correct horse"[..]));
        assert_eq!(b.open(&sealed), None);
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert_eq!(a.open(&tampered), None);
        assert_eq!(a.open(b"short"), None);
    }

    #[test]
    fn sign_verify_and_tamper() {
        let s = UrlSigner::new([7; 32]);
        let g = Grant { user: UserId(1), track: TrackId(2), expires: 1000, account: 77 };
        let sig = s.sign(&g);
        assert!(s.verify(&g, &sig, 999).is_ok());
        assert!(matches!(s.verify(&g, &sig, 1001), Err(SignError::Expired)));
        assert!(matches!(s.verify(&Grant { track: TrackId(3), ..g }, &sig, 0), Err(SignError::Mismatch)));
        assert!(matches!(s.verify(&Grant { user: UserId(9), ..g }, &sig, 0), Err(SignError::Mismatch)));
        assert!(matches!(s.verify(&Grant { expires: 5000, ..g }, &sig, 0), Err(SignError::Mismatch)));
        // A new password (another account key) ends the grant.
        assert!(matches!(s.verify(&Grant { account: 78, ..g }, &sig, 0), Err(SignError::Mismatch)));
        assert!(matches!(s.verify(&g, "zz", 0), Err(SignError::Malformed)));
        assert!(matches!(UrlSigner::new([8; 32]).verify(&g, &sig, 0), Err(SignError::Mismatch)));
    }

    #[test]
    fn list_grants_open_their_list_only() {
        let s = UrlSigner::new([7; 32]);
        let g = ListGrant { user: UserId(1), list: List::Album(AlbumId(2)), expires: 1000, account: 77 };
        let sig = s.sign_list(&g);
        assert!(s.verify_list(&g, &sig, 999).is_ok());
        assert!(matches!(s.verify_list(&g, &sig, 1001), Err(SignError::Expired)));
        let playlist = ListGrant { list: List::Playlist(PlaylistId(2)), ..g };
        assert!(matches!(s.verify_list(&playlist, &sig, 999), Err(SignError::Mismatch)), "album 2 is not playlist 2");
        let track = Grant { user: UserId(1), track: TrackId(2), expires: 1000, account: 77 };
        assert!(matches!(s.verify(&track, &sig, 999), Err(SignError::Mismatch)), "nor track 2");
        assert!(matches!(s.verify_list(&g, &s.sign(&track), 999), Err(SignError::Mismatch)));
        assert!(matches!(s.verify_list(&ListGrant { account: 78, ..g }, &sig, 999), Err(SignError::Mismatch)));
    }

    #[test]
    fn key_files_are_made_once_and_shared() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("shared.key");
        // Processes racing to make it end up with one key (threads stand in for them here).
        let keys: Vec<[u8; 32]> = std::thread::scope(|s| {
            (0..8).map(|_| s.spawn(|| key_file(&path).ok())).collect::<Vec<_>>().into_iter().filter_map(|h| h.join().ok().flatten()).collect()
        });
        assert_eq!(keys.len(), 8);
        assert!(keys.iter().all(|k| k == &keys[0]));
        assert_eq!(key_file(&path).ok(), Some(keys[0]), "read back as made");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
            assert_eq!(mode, 0o600);
        }
        assert_eq!(std::fs::read_dir(dir.path()).map(|d| d.count()).unwrap_or(0), 1, "no temporary file left");
        std::fs::write(&path, b"short").unwrap_or_else(|e| panic!("{e}"));
        assert!(key_file(&path).is_err(), "a file of another length is refused");
    }
}
