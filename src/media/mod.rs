//! Synchronous media handling: probing audio properties and exact durations (symphonia),
//! reading tags and cover art (lofty), and scaling cover images.
//!
//! Owns: [`probe`], [`tags`], [`cover`], and the decoder registry. Works on files and
//! `Read + Seek` sources only. Must not depend on tokio, the store, the catalog or HTTP:
//! every input here is untrusted, so nothing may panic or allocate without bound.

pub mod cover;
mod mp4;
pub mod probe;
pub mod tags;

use std::sync::OnceLock;

use symphonia::core::codecs::registry::CodecRegistry;

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
