//! Synchronous media handling: probing audio properties and exact durations (symphonia),
//! reading tags and cover art (lofty), and scaling cover images.
//!
//! Owns: [`probe`], [`tags`], [`cover`], and the decoder registry. Works on files and
//! `Read + Seek` sources only. Must not depend on tokio, the store, the catalog or HTTP:
//! every input here is untrusted, so nothing may panic or allocate without bound.

pub mod cover;
pub mod decode;
pub mod heaac;
mod mp4;
pub mod probe;
pub mod resample;
pub mod tags;

use std::io::{self, Cursor};
use std::path::PathBuf;
use std::sync::OnceLock;

use symphonia::core::codecs::registry::CodecRegistry;
use symphonia::core::io::MediaSource;

/// What the probe and the tag reader read: a file, or its bytes already in memory (small
/// files are read once and parsed from memory). Every `reader()` starts at the beginning.
#[derive(Clone, Debug)]
pub enum Input {
    File(PathBuf),
    Bytes(bytes::Bytes),
}

impl Input {
    pub fn reader(&self) -> io::Result<Box<dyn MediaSource>> {
        Ok(match self {
            Input::File(p) => Box::new(std::fs::File::open(p)?),
            Input::Bytes(b) => Box::new(Cursor::new(b.clone())),
        })
    }

    pub fn len(&self) -> io::Result<u64> {
        Ok(match self {
            Input::File(p) => std::fs::metadata(p)?.len(),
            Input::Bytes(b) => b.len() as u64,
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
