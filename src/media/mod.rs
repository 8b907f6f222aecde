//! Synchronous media handling: probing audio properties and exact durations (symphonia),
//! reading tags, lyrics and cover art (lofty), and scaling cover images.
//!
//! Owns: [`probe`], [`tags`], [`lyrics`], [`cover`], and the decoder registry. Works on files and
//! `Read + Seek` sources only. Must not depend on tokio, the store, the catalog or HTTP:
//! every input here is untrusted, so nothing may panic or allocate without bound.

pub mod cover;
pub mod decode;
pub mod guard;
pub mod heaac;
pub mod layout;
pub mod loudness;
pub mod lyrics;
mod mp4;
pub mod probe;
pub mod resample;
pub mod tags;

use std::io::{self, Cursor};

/// Stack size for threads that run the parsers of untrusted files (import workers, the
/// server's blocking threads): [`guard`] bounds how deep they recurse; this is the margin.
pub const PARSER_STACK: usize = 16 << 20;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use symphonia::core::codecs::registry::CodecRegistry;
use symphonia::core::io::MediaSource;

/// What the probe and the tag reader read: a file, or its bytes already in memory (small
/// files are read once and parsed from memory). Every `reader()` starts at the beginning.
#[derive(Clone)]
pub enum Input {
    File(PathBuf),
    Bytes(bytes::Bytes),
    /// Something that opens a fresh reader at the start (a stored file), and its length.
    Opener(Arc<dyn Fn() -> io::Result<Box<dyn MediaSource>> + Send + Sync>, u64),
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Input::File(p) => write!(f, "File({})", p.display()),
            Input::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Input::Opener(_, n) => write!(f, "Opener({n} bytes)"),
        }
    }
}

impl Input {
    pub fn reader(&self) -> io::Result<Box<dyn MediaSource>> {
        Ok(match self {
            Input::File(p) => Box::new(std::fs::File::open(p)?),
            Input::Bytes(b) => Box::new(Cursor::new(b.clone())),
            Input::Opener(open, _) => open()?,
        })
    }

    pub fn len(&self) -> io::Result<u64> {
        Ok(match self {
            Input::File(p) => std::fs::metadata(p)?.len(),
            Input::Bytes(b) => b.len() as u64,
            Input::Opener(_, n) => *n,
        })
    }

    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// Symphonia's decoders plus libopus (symphonia has no Opus decoder of its own).
pub fn codecs() -> &'static CodecRegistry {
    static REG: OnceLock<CodecRegistry> = OnceLock::new();
    REG.get_or_init(|| {
        let mut r = CodecRegistry::new();
        symphonia::default::register_enabled_codecs(&mut r);
        r.register_audio_decoder::<symphonia_adapter_libopus::OpusDecoder>();
        r
    })
}

/// Any seekable reader of known length as a symphonia media source.
pub struct SeekSource<R> {
    inner: R,
    len: u64,
}

impl<R: io::Read + io::Seek + Send + Sync> SeekSource<R> {
    pub fn new(inner: R, len: u64) -> Self {
        SeekSource { inner, len }
    }
}

impl<R: io::Read> io::Read for SeekSource<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl<R: io::Seek> io::Seek for SeekSource<R> {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

impl<R: io::Read + io::Seek + Send + Sync> MediaSource for SeekSource<R> {
    fn is_seekable(&self) -> bool {
        true
    }
    fn byte_len(&self) -> Option<u64> {
        Some(self.len)
    }
}
