//! Signed playback URLs for players that cannot send an `Authorization` header (Safari's
//! native HLS, smart speakers, car head units): HMAC-SHA-256 (RFC 2104) over the user, the
//! track and an expiry, with a 256-bit server secret kept in the data directory.
//!
//! A signature is scoped to one user and one track: it opens that track's playlists,
//! segments and streams and nothing else. Knows nothing of HTTP; the server turns the three
//! values into query parameters (`u`, `e`, `s`).

use std::io::Write;
use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::domain::{TrackId, UserId};

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

impl UrlSigner {
    pub fn new(key: [u8; 32]) -> UrlSigner {
        // The key is 32 bytes; HMAC accepts any length, so this cannot fail.
        let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap_or_else(|_| unreachable!());
        UrlSigner { keyed }
    }

    /// Loads the secret from `path`, creating it (mode 0600) on first use.
    pub fn load_or_create(path: &Path) -> Result<UrlSigner, SignError> {
        let err = |source| SignError::Secret { path: path.to_path_buf(), source };
        match std::fs::read(path) {
            Ok(b) if b.len() == 32 => {
                let mut key = [0u8; 32];
                key.copy_from_slice(&b);
                Ok(UrlSigner::new(key))
            }
            Ok(_) => Err(err(std::io::Error::other("expected exactly 32 bytes"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::fill(&mut key);
                let tmp = path.with_extension("tmp");
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create(true).truncate(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                let mut f = opts.open(&tmp).map_err(err)?;
                f.write_all(&key).and_then(|_| f.sync_all()).map_err(err)?;
                std::fs::rename(&tmp, path).map_err(err)?;
                Ok(UrlSigner::new(key))
            }
            Err(e) => Err(err(e)),
        }
    }

    fn mac(&self, g: &Grant) -> Hmac<Sha256> {
        use std::io::Write;
        let mut m = self.keyed.clone();
        let mut msg = [0u8; 128];
        let mut w = &mut msg[..];
        // Four integers fit in 128 bytes; a write that did not fit would fail to verify.
        let _ = write!(w, "tonearm-play-v2|{}|{}|{}|{:016x}", g.user, g.track, g.expires, g.account);
        let n = 128 - w.len();
        m.update(&msg[..n]);
        m
    }

    /// The hex signature of a grant.
    pub fn sign(&self, g: &Grant) -> String {
        hex(&self.mac(g).finalize().into_bytes())
    }

    /// Checks `sig` for the grant in constant time, then the expiry against `now`.
    pub fn verify(&self, g: &Grant, sig: &str, now: i64) -> Result<(), SignError> {
        let raw = unhex(sig).ok_or(SignError::Malformed)?;
        self.mac(g).verify_slice(&raw).map_err(|_| SignError::Mismatch)?;
        if g.expires < now {
            return Err(SignError::Expired);
        }
        Ok(())
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
}
