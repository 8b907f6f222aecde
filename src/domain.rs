//! Vocabulary shared by every layer: identifiers and the content hash.
//!
//! Pure data: no I/O, no async, no HTTP, no database types. Everything else may depend on
//! this module; it depends on nothing in the crate.

use std::fmt;
use std::str::FromStr;

/// Typed catalog ids: one newtype per kind, so a track id can never be passed where an
/// album id is meant. Serialised as the bare number.
macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl From<i64> for $name {
            fn from(v: i64) -> Self {
                $name(v)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }
    )*};
}

ids! {
    /// A user's id (catalog primary key).
    UserId;
    /// A track id, unique across all users; ownership is checked on every lookup.
    TrackId;
    /// An album id (albums are derived per user).
    AlbumId;
    /// An artist id (artists are derived per user).
    ArtistId;
    /// A playlist id (playlists belong to one user).
    PlaylistId;
}

/// BLAKE3 hash of a blob's bytes: the blob's name in the store and its key in the catalog.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    pub fn of(bytes: &[u8]) -> Self {
        ContentHash(*blake3::hash(bytes).as_bytes())
    }

    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(char::from_digit((b >> 4) as u32, 16).unwrap_or('0'));
            s.push(char::from_digit((b & 15) as u32, 16).unwrap_or('0'));
        }
        s
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", self.to_hex())
    }
}

/// One piece of a stored file: a whole blob. A file is the concatenation of its parts (head
/// with tags, coded audio, tail), so copies that differ only in their tags share the audio
/// blob while each stays downloadable byte for byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Part {
    pub hash: ContentHash,
    pub len: u64,
}

impl Part {
    /// The identity of a file stored as `parts`: the blob's own hash for a file kept whole
    /// (the BLAKE3 of its bytes), else the BLAKE3 of its parts' hashes and lengths, which
    /// names the bytes as surely without hashing the whole file a second time.
    pub fn identity(parts: &[Part]) -> ContentHash {
        if let [one] = parts {
            return one.hash;
        }
        let mut h = blake3::Hasher::new();
        h.update(b"tonearm file parts v1");
        for p in parts {
            h.update(&p.hash.0);
            h.update(&p.len.to_le_bytes());
        }
        ContentHash(*h.finalize().as_bytes())
    }

    /// `HEX:LEN,HEX:LEN` (as the catalog stores a file's parts).
    pub fn list_to_text(parts: &[Part]) -> String {
        parts.iter().map(|p| format!("{}:{}", p.hash.to_hex(), p.len)).collect::<Vec<_>>().join(",")
    }

    pub fn list_from_text(s: &str) -> Option<Vec<Part>> {
        s.split(',')
            .map(|item| {
                let (h, n) = item.split_once(':')?;
                Some(Part { hash: h.to_ascii_lowercase().parse().ok()?, len: n.parse().ok()? })
            })
            .collect()
    }
}

/// The text is not 64 lowercase or uppercase hex digits.
#[derive(Debug, thiserror::Error)]
#[error("not a content hash: expected 64 hex digits")]
pub struct BadHash;

impl FromStr for ContentHash {
    type Err = BadHash;
    fn from_str(s: &str) -> Result<Self, BadHash> {
        let b = s.as_bytes();
        if b.len() != 64 {
            return Err(BadHash);
        }
        let mut out = [0u8; 32];
        for (i, pair) in b.chunks_exact(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16).ok_or(BadHash)?;
            let lo = (pair[1] as char).to_digit(16).ok_or(BadHash)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Ok(ContentHash(out))
    }
}

impl TryFrom<&[u8]> for ContentHash {
    type Error = BadHash;
    fn try_from(b: &[u8]) -> Result<Self, BadHash> {
        Ok(ContentHash(b.try_into().map_err(|_| BadHash)?))
    }
}

/// `b` as an RFC 9562 UUID of `version` (4: random, 8: vendor-specific), variant 10:
/// `xxxxxxxx-xxxx-Vxxx-Nxxx-xxxxxxxxxxxx`.
pub fn uuid_text(mut b: [u8; 16], version: u8) -> String {
    b[6] = (b[6] & 0x0f) | (version << 4);
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// `N` random bytes as lowercase hex (ids and names nobody can guess).
pub fn random_hex<const N: usize>() -> String {
    let mut raw = [0u8; N];
    rand::fill(&mut raw);
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

// ---- Media facts: filled by `media`, stored by `catalog`. ----

/// EBU R128 loudness of some audio: integrated loudness and true peak.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Loudness {
    /// Integrated loudness, LUFS (−70, the absolute gate, for silence).
    pub lufs: f64,
    /// True peak, linear (1.0 = full scale).
    pub peak: f64,
}

/// Audio properties of one stored file.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioProps {
    /// Container short name: `flac`, `mp3`, `mp4`, `ogg`, `wav`, ...
    pub container: String,
    /// Codec short name: `flac`, `mp3`, `aac`, `alac`, `vorbis`, `opus`, `pcm_s16le`, ...
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u16,
    pub bits_per_sample: Option<u32>,
    /// Playable length in frames at `sample_rate` (priming and padding excluded).
    pub frames: u64,
    /// Encoder priming at the start, in frames, where the file says so.
    pub priming: u64,
    /// How `frames` was obtained.
    pub duration_source: DurationSource,
    /// Average bits per second over the whole file.
    pub bitrate: u32,
    /// Set when the file plays but is damaged (truncated, corrupt frames); says how.
    pub damage: Option<String>,
}

impl AudioProps {
    pub fn duration_secs(&self) -> f64 {
        if self.sample_rate == 0 { 0.0 } else { self.frames as f64 / self.sample_rate as f64 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationSource {
    /// Stated exactly by the container.
    Container,
    /// Counted from the packets.
    Counted,
}

/// The tags of one file. Every field is optional: files in the wild have none at all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tags {
    pub title: Option<String>,
    /// Display artist as tagged ("A feat. B").
    pub artist: Option<String>,
    /// Individual artists (ARTISTS tag, repeated ARTIST fields, or "A; B").
    pub artists: Vec<String>,
    pub album_artist: Option<String>,
    pub album: Option<String>,
    pub track_number: Option<u32>,
    pub track_total: Option<u32>,
    pub disc_number: Option<u32>,
    pub disc_total: Option<u32>,
    pub year: Option<i32>,
    pub genre: Option<String>,
    pub compilation: bool,
    pub replaygain_track_gain: Option<f64>,
    pub replaygain_track_peak: Option<f64>,
    pub replaygain_album_gain: Option<f64>,
    pub replaygain_album_peak: Option<f64>,
    pub mb_track_id: Option<String>,
    pub mb_album_id: Option<String>,
    pub mb_artist_id: Option<String>,
    pub mb_album_artist_id: Option<String>,
    /// Lyrics as tagged (USLT, LYRICS, UNSYNCEDLYRICS, ©lyr), plain or LRC text.
    pub lyrics: Vec<Lyrics>,
    /// ISRCs (TSRC, ISRC), normalised to 12 characters.
    pub isrc: Vec<String>,
}

/// One lyrics text of a file: its language as tagged (ISO 639-2, `None` when unknown or
/// "XXX") and the text, plain or LRC-timed, line breaks kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lyrics {
    pub lang: Option<String>,
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_carry_their_version_and_variant() {
        assert_eq!(uuid_text([0xff; 16], 4), "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert_eq!(uuid_text([0; 16], 8), "00000000-0000-8000-8000-000000000000");
    }

    #[test]
    fn hex_round_trip() {
        let h = ContentHash::of(b"abc");
        assert_eq!(h.to_hex().parse::<ContentHash>().unwrap(), h);
        assert_eq!(h.to_hex(), blake3::hash(b"abc").to_hex().as_str());
        assert!("zz".parse::<ContentHash>().is_err());
        assert!("g".repeat(64).parse::<ContentHash>().is_err());
    }
}
