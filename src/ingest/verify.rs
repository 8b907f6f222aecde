//! The full decode of every stored file, once, after it was imported or uploaded: the probe
//! decodes only the first packets (imports stay as fast as a copy), so damage further in is
//! found here, in the background, and flagged (`damaged` in the API). Playback already
//! conceals it (`media::decode`); this tells the owner.
//!
//! Also reads, once, the lyrics and ISRCs of files stored before they were kept
//! ([`run_lyrics_pass`]), and measures every file's EBU R128 loudness once
//! ([`run_loudness_pass`]: right after import or upload, and for files stored before).
//!
//! Runs on one thread of its own, yields to transcoding (it waits while `busy()` says the
//! transcoder has work), and remembers what it did in the catalog (`media.verified`), so a
//! restart resumes where it was. Knows the store and catalog traits and `media`; no HTTP.

use std::sync::Arc;
use std::time::Duration;

use crate::catalog::{Catalog, Unverified};
use crate::media::{Input, loudness, probe, tags};
use crate::store::{BlobStore, open_parts};

/// Files fetched from the catalog per round.
const BATCH: usize = 32;

/// Decodes every unverified file once and records what it found; returns how many it
/// verified. `busy` is polled between files (and waited out) so that playback comes first.
pub fn run_pass(store: &Arc<dyn BlobStore>, catalog: &dyn Catalog, busy: &dyn Fn() -> bool) -> usize {
    drain(
        "verification",
        busy,
        || catalog.unverified_media(BATCH),
        |m| {
            let ext = std::path::Path::new(&m.file_name).extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
            let damage = match probe::verify(&stored_input(store, m), &ext) {
                Ok(d) => d,
                // It passed the probe at import; failing to open now is itself damage.
                Err(e) => Some(format!("the whole file does not decode: {e}")),
            };
            if let Some(d) = &damage {
                tracing::info!(file = %m.file_name, damage = %d, "verification found damage");
            }
            catalog.set_verified(&m.hash, damage.as_deref())
        },
    )
}

/// Takes the files `fetch` names, a batch at a time, until it names none, doing `each`
/// (which records its result) to every one, after waiting out `busy`; stops at the first
/// catalog error, which it logs as `what`'s. Returns how many files it did.
fn drain(
    what: &str,
    busy: &dyn Fn() -> bool,
    fetch: impl Fn() -> crate::catalog::Result<Vec<Unverified>>,
    each: impl Fn(&Unverified) -> crate::catalog::Result<()>,
) -> usize {
    let mut done = 0;
    loop {
        let batch = match fetch() {
            Ok(b) if !b.is_empty() => b,
            Ok(_) => return done,
            Err(e) => {
                tracing::warn!(error = %e, "{what}: reading the catalog failed");
                return done;
            }
        };
        for m in &batch {
            while busy() {
                std::thread::sleep(Duration::from_millis(100));
            }
            if let Err(e) = each(m) {
                tracing::warn!(error = %e, "{what}: recording the result failed");
                return done;
            }
            done += 1;
        }
    }
}

/// A stored file as the probe and the tag reader read it.
fn stored_input(store: &Arc<dyn BlobStore>, m: &Unverified) -> Input {
    let len = m.parts.iter().map(|p| p.len).sum();
    let (s, parts) = (store.clone(), m.parts.clone());
    let open = move || -> std::io::Result<Box<dyn symphonia::core::io::MediaSource>> {
        let r = open_parts(s.as_ref(), &parts).map_err(std::io::Error::other)?;
        let n = r.len();
        Ok(Box::new(crate::media::SeekSource::new(r, n)))
    };
    Input::Opener(Arc::new(open), len)
}

/// Measures the loudness of every stored file not yet measured (`media::loudness`); a file
/// that cannot be measured is recorded as such and not tried again. Returns how many.
pub fn run_loudness_pass(store: &Arc<dyn BlobStore>, catalog: &dyn Catalog, busy: &dyn Fn() -> bool) -> usize {
    let mut done = 0;
    loop {
        let batch = match catalog.loudness_unmeasured(BATCH) {
            Ok(b) if !b.is_empty() => b,
            Ok(_) => return done,
            Err(e) => {
                tracing::warn!(error = %e, "loudness: reading the catalog failed");
                return done;
            }
        };
        for (m, info) in &batch {
            while busy() {
                std::thread::sleep(Duration::from_millis(100));
            }
            let ext = std::path::Path::new(&m.file_name).extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
            let measured = stored_input(store, m).reader().map_err(|e| e.to_string()).and_then(|src| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| loudness::measure(src, &ext, info)))
                    .unwrap_or_else(|_| Err(crate::media::decode::DecodeError::Unsupported("the decoder failed".into())))
                    .map_err(|e| e.to_string())
            });
            let l = measured.map_err(|e| tracing::info!(file = %m.file_name, error = %e, "loudness cannot be measured")).ok();
            if let Err(e) = catalog.set_loudness(&m.hash, l) {
                tracing::warn!(error = %e, "loudness: recording the result failed");
                return done;
            }
            done += 1;
        }
    }
}

/// Reads the tags of every stored file whose lyrics were never read (stored before lyrics
/// were kept) and keeps their lyrics and, for its tracks without any, its ISRCs; returns
/// how many files it read.
pub fn run_lyrics_pass(store: &Arc<dyn BlobStore>, catalog: &dyn Catalog, busy: &dyn Fn() -> bool) -> usize {
    drain(
        "lyrics",
        busy,
        || catalog.lyrics_unread(BATCH),
        |m| {
            // Covers are not wanted here: a limit of 0 skips them. A parser that panics on
            // this file leaves it read, without lyrics, rather than stopping every pass here.
            let input = stored_input(store, m);
            let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tags::read(&input, 0).0)).unwrap_or_else(|_| {
                tracing::warn!(file = %m.file_name, "lyrics: the tag reader failed on this file");
                tags::Tags::default()
            });
            catalog.set_lyrics(&m.hash, &read.lyrics, &read.isrc)
        },
    )
}
