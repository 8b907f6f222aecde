//! Playback, whatever protocol asks: resolve a user's track into something playable,
//! signed grants for players that cannot send headers, the HLS ladder (which rungs a
//! codec filter keeps), segments through `cache::Streamer`, one [`Playback::progressive`]
//! for every progressive stream, and the stored original as bytes.
//!
//! Owns the playback policy: the bitrate default and bounds per codec, which codec an
//! `original` with an offset becomes, that MP3 and AAC from the start are seekable (a
//! fixed layout over cached segments: length, ranges), that a progressive stream at a
//! ladder rung is cut from the rung's segments (shared with HLS players, holding no slot),
//! the offset rule,
//! and the 10-second per-user track cache (forgotten at once on edits, deletes and account
//! changes, through the coordination seam). Depends on the catalog, `accounts`, `cache`,
//! `package` and `signing`; knows nothing of HTTP.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::SeqCst;

use bytes::Bytes;
use dashmap::DashMap;
use futures_util::{Stream, StreamExt};

use super::accounts::{AccountError, Accounts};
use super::devices::kbps_bounds;
use crate::cache::{MediaRef, StreamError, Streamer};
pub use crate::catalog::rules::Normalize;
use crate::catalog::{Catalog, CatalogError, Filter, Page, Track, rules};
use crate::coord::{Coordination, Invalidation};
use crate::domain::{Part, TrackId, UserId, now_unix};
use crate::encode::Codec;
use crate::media::decode::SourceInfo;
use crate::package::seekable::Seekable;
use crate::package::{FORMAT_VERSION, Rung, progressive};
pub use crate::signing::List;
use crate::signing::{Grant, ListGrant, SignError, UrlSigner};
use crate::store::{BlobStore, StoreError, open_parts_range};

/// How long a track looked up for playback is reused without asking the catalog: a player
/// fetches a segment every few seconds and a playlist's worth at once.
const TRACK_CACHE_SECS: i64 = 10;
const TRACK_CACHE_MAX: usize = 10_000;
/// How long a progressive listener's stream waits, in all, for a busy transcoder before it
/// ends (its first segment answers `Busy` instead).
const MID_STREAM_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);
/// Bytes per read of an original.
const CHUNK: usize = 64 * 1024;
/// Tracks in a shuffle's playlist file, and in each round of a shuffle station.
const SHUFFLE_LIST: u32 = 100;

mod radio;
pub use radio::{RadioStream, Station};

#[derive(Debug, thiserror::Error)]
pub enum PlaybackError {
    #[error("track not found")]
    NoSuchTrack,
    /// The album or playlist (by name) is not the user's.
    #[error("{0} not found")]
    NoSuchList(&'static str),
    #[error("rendition not found")]
    NoSuchRendition,
    #[error("segment {0} not found")]
    NoSuchSegment(u32),
    #[error("no rendition for these codecs")]
    NoRenditionForCodecs,
    #[error("unknown codec {0:?}: use aac or opus")]
    BadCodecs(String),
    #[error("unknown format {0:?}: use aac, opus, mp3, lpcm or original")]
    BadFormat(String),
    #[error("bitrate for {codec} must be {min}-{max} kbps")]
    BadBitrate { codec: &'static str, min: u32, max: u32 },
    #[error("offset must be between 0 and the duration ({0:.3} s)")]
    BadOffset(f64),
    #[error("an LPCM stream starts at 0 and seeks by Range or TimeSeekRange.dlna.org, not by offset")]
    LpcmOffset,
    /// Stored before the probe refused such headers: decoding would scale with the lie.
    #[error("{0}; this file cannot be played (it can be downloaded or deleted)")]
    Unplayable(String),
    /// A signed URL whose account is disabled or gone.
    #[error("the signed URL's account is disabled or gone")]
    GrantRevoked,
    #[error("this account is disabled")]
    AccountDisabled,
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, PlaybackError>;

/// A stream of bytes produced off the executor.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// A user's track as playback needs it: the catalog row, the pipeline's view of the
/// original, and the start of every ETag of its renditions (computed once).
pub struct Playable {
    pub track: Track,
    pub media: MediaRef,
    pub etag_key: String,
}

impl Playable {
    /// The same track brought to the reference loudness by `mode` (itself when off or
    /// nothing is known): other segments, other ETags.
    pub fn normalised(self: &Arc<Self>, mode: Normalize) -> Arc<Playable> {
        match rules::normalisation_gain(&rules::loudness(&self.track), mode) {
            Some(db) if db.abs() >= 0.01 => {
                let media = self.media.with_gain(db as f32);
                let etag_key = media.key.to_hex()[..32].to_string();
                Arc::new(Playable { track: self.track.clone(), media, etag_key })
            }
            _ => self.clone(),
        }
    }
}

/// What a progressive request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The stored file (transcoded when an offset is asked: see [`Playback::progressive`]).
    Original,
    Codec(Codec),
    /// 16-bit big-endian PCM at 48 kHz (DLNA's LPCM), seekable, from the start only.
    Lpcm,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format> {
        match s {
            "original" | "raw" => Ok(Format::Original),
            "lpcm" | "l16" => Ok(Format::Lpcm),
            other => Codec::parse(other).map(Format::Codec).ok_or_else(|| PlaybackError::BadFormat(other.to_string())),
        }
    }
}

/// A progressive answer.
pub enum Progressive {
    /// The stored file itself, from the start (served with ranges by the caller).
    Original,
    /// A transcode from the start whose length is known before any byte (MP3, AAC): served
    /// with `Content-Length` and ranges through [`Playback::seekable_bytes`].
    Seekable(SeekableStream),
    /// A transcode: its codec, its bitrate (kbps), its duration, and the bytes as they are
    /// produced.
    Stream { codec: Codec, kbps: u32, duration: f64, body: ByteStream },
}

/// A seekable transcode of one track: its length and validator known before anything is
/// encoded or decoded, every byte at a fixed place ([`crate::package::seekable`] for MP3
/// and AAC, [`crate::package::pcm`] for LPCM).
#[derive(Clone)]
pub struct SeekableStream {
    /// `Codec(Mp3 | Aac)` or `Lpcm`.
    pub format: Format,
    pub mime: &'static str,
    pub kbps: u32,
    pub len: u64,
    pub duration: f64,
    /// Strong validator: the audio, the rung and the format version.
    pub etag: String,
    shape: Shape,
    playable: Arc<Playable>,
}

/// Where a seekable stream's bytes come from.
#[derive(Clone)]
enum Shape {
    /// A rung's cached segments.
    Coded(Arc<Seekable>),
    /// The decoder, from the 3.84 s pieces a range overlaps ([`crate::package::pcm`]).
    Lpcm,
}

impl SeekableStream {
    /// The byte a seek to `secs` starts at (see [`Seekable::offset_at`]).
    pub fn offset_at(&self, secs: f64) -> u64 {
        match &self.shape {
            Shape::Coded(s) => s.offset_at(secs),
            Shape::Lpcm => crate::package::pcm::offset_at(&self.playable.media.info, secs),
        }
    }
}

/// A signed grant for one track of one user until `expires`.
#[derive(Debug, Clone)]
pub struct SignedGrant {
    pub user: UserId,
    pub track: TrackId,
    pub expires: i64,
    pub sig: String,
}

/// A signed playlist-file URL's values (as [`SignedGrant`], for a list).
#[derive(Debug, Clone)]
pub struct SignedList {
    pub user: UserId,
    pub list: List,
    pub expires: i64,
    pub sig: String,
}

/// A list as a playlist file gives it: its title, and each track with a grant to play it.
pub struct ListFile {
    pub title: String,
    pub entries: Vec<(Track, SignedGrant)>,
}

/// The MIME type of a stored original, by container and codec.
pub fn original_mime(container: &str, codec: &str) -> &'static str {
    match (container, codec) {
        ("flac", _) => "audio/flac",
        ("mp3", _) => "audio/mpeg",
        ("mp4", _) => "audio/mp4",
        ("ogg", "opus") => "audio/ogg; codecs=opus",
        ("ogg", _) => "audio/ogg",
        ("wav", _) => "audio/wav",
        _ => "application/octet-stream",
    }
}

/// The MIME type of a progressive transcode: ADTS AAC, Ogg Opus, MP3.
pub fn stream_mime(codec: Codec) -> &'static str {
    match codec {
        Codec::Aac => "audio/aac",
        Codec::Opus => "audio/ogg; codecs=opus",
        Codec::Mp3 => "audio/mpeg",
    }
}

/// `original` with an offset: the original's own codec cannot be cut at any time without
/// re-encoding, so it is transcoded in the closest format the client is sure to play
/// (Opus for Opus/Vorbis originals, MP3 for MP3, AAC for the rest), in kbps.
fn original_at_offset(codec: &str) -> (Codec, u32) {
    match codec {
        "opus" | "vorbis" => (Codec::Opus, 160),
        "mp3" => (Codec::Mp3, 320),
        _ => (Codec::Aac, 256),
    }
}

/// The ladder's rungs of the codecs listed (`aac,opus`; none or empty: all of them).
fn rungs_for(ladder: &[Rung], codecs: Option<&str>) -> Result<Vec<Rung>> {
    let rungs: Vec<Rung> = match codecs {
        None | Some("") => ladder.to_vec(),
        Some(list) => {
            let mut want = Vec::new();
            for c in list.split(',') {
                match Codec::parse(c.trim()) {
                    Some(codec @ (Codec::Aac | Codec::Opus)) => want.push(codec),
                    _ => return Err(PlaybackError::BadCodecs(c.to_string())),
                }
            }
            ladder.iter().filter(|r| want.contains(&r.codec)).copied().collect()
        }
    };
    if rungs.is_empty() {
        return Err(PlaybackError::NoRenditionForCodecs);
    }
    Ok(rungs)
}

/// The rungs at or below `max_kbps`, per codec; a codec with none keeps its lowest rung (a
/// cap below the ladder still plays, as close to it as there is).
fn capped(rungs: Vec<Rung>, max_kbps: Option<u32>) -> Vec<Rung> {
    let Some(max) = max_kbps.filter(|&k| k > 0) else { return rungs };
    let mut out: Vec<Rung> = rungs.iter().filter(|r| r.bitrate <= max.saturating_mul(1000)).copied().collect();
    for codec in [Codec::Aac, Codec::Opus] {
        if !out.iter().any(|r| r.codec == codec)
            && let Some(lowest) = rungs.iter().filter(|r| r.codec == codec).min_by_key(|r| r.bitrate)
        {
            out.push(*lowest);
        }
    }
    rungs.into_iter().filter(|r| out.contains(r)).collect()
}

/// An offset (seconds) inside a track of `duration` seconds.
pub fn check_offset(offset: f64, duration: f64) -> Result<f64> {
    if !offset.is_finite() || offset < 0.0 || (offset > 0.0 && offset >= duration) {
        return Err(PlaybackError::BadOffset(duration));
    }
    Ok(offset)
}

/// The chunks a channel receives, as a stream.
fn tokio_stream_of(rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>) -> impl Stream<Item = io::Result<Bytes>> + Send {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|r| (r, rx)) })
}

/// The LPCM stream of `p`: its length and validator, nothing decoded yet.
fn lpcm(p: Arc<Playable>) -> SeekableStream {
    let info = &p.media.info;
    let channels = info.out_channels();
    SeekableStream {
        format: Format::Lpcm,
        mime: crate::package::pcm::mime(channels),
        kbps: crate::package::pcm::bitrate(channels) / 1000,
        len: crate::package::pcm::len(info),
        duration: p.track.audio.duration,
        etag: format!("\"{}-lpcm-stream-v{FORMAT_VERSION}\"", p.etag_key),
        shape: Shape::Lpcm,
        playable: p,
    }
}

/// The length in bytes of the LPCM stream of `t`.
pub fn lpcm_len(t: &Track) -> u64 {
    crate::package::pcm::len(&media_ref(t).info)
}

/// The length in bytes of the seekable MP3 stream of `t` at `kbps`, known before anything
/// is encoded.
pub fn seekable_mp3_len(t: &Track, kbps: u32) -> u64 {
    Seekable::mp3(&media_ref(t).info, kbps).len()
}

fn media_ref(t: &Track) -> MediaRef {
    let ext = std::path::Path::new(&t.file.file_name).extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let info = SourceInfo {
        container: t.audio.container.clone(),
        codec: t.audio.codec.clone(),
        sample_rate: t.audio.sample_rate,
        channels: t.audio.channels,
        frames: t.audio.frames,
        priming: t.audio.priming,
    };
    MediaRef { key: MediaRef::audio_key(&t.file.audio, &info), parts: t.file.parts.clone(), info, ext, items: Arc::from([]), gain_db: 0.0 }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| PlaybackError::Internal(format!("worker task failed: {e}")))?
}

type TrackCache = DashMap<(UserId, TrackId), (Arc<Playable>, i64)>;

#[derive(Clone)]
pub struct Playback(Arc<Inner>);

struct Inner {
    catalog: Arc<dyn Catalog>,
    store: Arc<dyn BlobStore>,
    accounts: Accounts,
    streamer: Arc<Streamer>,
    signer: Arc<UrlSigner>,
    ladder: Arc<[Rung]>,
    url_ttl_secs: u64,
    tracks: Arc<TrackCache>,
    /// Counts invalidations: a track read before one is not cached after it.
    epoch: Arc<AtomicU64>,
}

/// What [`Playback::new`] is built from.
pub struct PlaybackParts {
    pub catalog: Arc<dyn Catalog>,
    pub store: Arc<dyn BlobStore>,
    pub accounts: Accounts,
    pub coord: Arc<dyn Coordination>,
    pub streamer: Arc<Streamer>,
    pub signer: Arc<UrlSigner>,
    /// The HLS ladder, in master-playlist order.
    pub ladder: Arc<[Rung]>,
    pub url_ttl_secs: u64,
}

impl Playback {
    pub fn new(p: PlaybackParts) -> Playback {
        let tracks: Arc<TrackCache> = Arc::default();
        let epoch: Arc<AtomicU64> = Arc::default();
        let (t, e) = (tracks.clone(), epoch.clone());
        p.coord.subscribe(Box::new(move |what| match *what {
            Invalidation::User(id) => {
                e.fetch_add(1, SeqCst);
                t.retain(|(user, _), _| *user != id);
            }
            Invalidation::Track(user, id) => {
                e.fetch_add(1, SeqCst);
                t.remove(&(user, id));
            }
            Invalidation::Everything => {
                e.fetch_add(1, SeqCst);
                t.clear();
            }
            Invalidation::Session(_) => {}
        }));
        Playback(Arc::new(Inner {
            catalog: p.catalog,
            store: p.store,
            accounts: p.accounts,
            streamer: p.streamer,
            signer: p.signer,
            ladder: p.ladder,
            url_ttl_secs: p.url_ttl_secs,
            tracks,
            epoch,
        }))
    }

    pub fn ladder(&self) -> &[Rung] {
        &self.0.ladder
    }

    /// The account key signed URLs of `user` are bound to (`Accounts::grant_key`): from the
    /// last seconds' cache, or the catalog.
    async fn grant_key(&self, user: UserId) -> Result<Option<u64>> {
        if let Some(k) = self.0.accounts.recent_grant_key(user) {
            return Ok(k);
        }
        let accounts = self.0.accounts.clone();
        blocking(move || Ok(accounts.grant_key(user)?)).await
    }

    /// Checks a signed grant for `track`: its signature, its expiry, and that the account
    /// it was made for is still enabled with the same password.
    pub async fn verify(&self, g: &SignedGrant) -> Result<()> {
        let account = self.grant_key(g.user).await?.ok_or(PlaybackError::GrantRevoked)?;
        let grant = Grant { user: g.user, track: g.track, expires: g.expires, account };
        Ok(self.0.signer.verify(&grant, &g.sig, now_unix())?)
    }

    /// A grant to `user`'s album or playlist as a playlist file (`NoSuchList` if it is
    /// not theirs).
    pub async fn list_grant(&self, user: UserId, list: List) -> Result<SignedList> {
        self.list_tracks(user, list).await?;
        self.sign_list(user, list).await
    }

    /// A grant to `album`'s cover and playlist files, for an album the caller has just read
    /// from `user`'s library (so it is not looked up again: a page of albums signs each).
    pub async fn album_grant(&self, user: UserId, album: &crate::catalog::Album) -> Result<SignedList> {
        self.sign_list(user, List::Album(album.id)).await
    }

    /// A grant to a list the caller knows to be `user`'s.
    async fn sign_list(&self, user: UserId, list: List) -> Result<SignedList> {
        let expires = now_unix() + self.0.url_ttl_secs as i64;
        let account = self.grant_key(user).await?.ok_or(PlaybackError::AccountDisabled)?;
        let sig = self.0.signer.sign_list(&ListGrant { user, list, expires, account });
        Ok(SignedList { user, list, expires, sig })
    }

    /// Checks a signed list grant as [`Playback::verify`] checks a track's.
    pub async fn verify_list(&self, g: &SignedList) -> Result<()> {
        let account = self.grant_key(g.user).await?.ok_or(PlaybackError::GrantRevoked)?;
        let grant = ListGrant { user: g.user, list: g.list, expires: g.expires, account };
        Ok(self.0.signer.verify_list(&grant, &g.sig, now_unix())?)
    }

    /// The user's album or playlist, in order, each track with a grant of its own.
    pub async fn list_file(&self, user: UserId, list: List) -> Result<ListFile> {
        let (title, tracks) = self.list_tracks(user, list).await?;
        let mut entries = Vec::with_capacity(tracks.len());
        for t in tracks {
            let g = self.grant(user, t.id).await?;
            entries.push((t, g));
        }
        Ok(ListFile { title, entries })
    }

    /// The title and tracks of the user's album or playlist (`NoSuchList` if not theirs).
    async fn list_tracks(&self, user: UserId, list: List) -> Result<(String, Vec<Track>)> {
        let catalog = self.0.catalog.clone();
        blocking(move || {
            Ok(match list {
                List::Album(id) => {
                    catalog.album(user, id)?.map(|(a, t)| (format!("{} - {}", a.artist, a.title), t)).ok_or(PlaybackError::NoSuchList("album"))?
                }
                List::Playlist(id) => catalog.playlist(user, id)?.map(|(p, t)| (p.name, t)).ok_or(PlaybackError::NoSuchList("playlist"))?,
                List::Favourites => ("Favourites".to_string(), catalog.favourites(user)?),
                List::Shuffle => ("Shuffle".to_string(), catalog.pick_tracks(user, &Filter::default(), true, Page { limit: SHUFFLE_LIST, offset: 0 })?),
            })
        })
        .await
    }

    /// `user`'s default loudness normalisation (what a request that names none gets).
    pub async fn default_normalize(&self, user: UserId) -> Result<Normalize> {
        let catalog = self.0.catalog.clone();
        blocking(move || Ok(catalog.normalize(user)?)).await
    }

    pub async fn set_default_normalize(&self, user: UserId, mode: Normalize) -> Result<()> {
        let catalog = self.0.catalog.clone();
        blocking(move || Ok(catalog.set_normalize(user, mode)?)).await
    }

    /// The mode a request gets: the one it names, else the user's default.
    pub async fn normalize_for(&self, user: UserId, asked: Option<Normalize>) -> Result<Normalize> {
        match asked {
            Some(m) => Ok(m),
            None => self.default_normalize(user).await,
        }
    }

    /// A grant for one of `user`'s tracks, valid for the configured time.
    pub async fn grant(&self, user: UserId, track: TrackId) -> Result<SignedGrant> {
        let expires = now_unix() + self.0.url_ttl_secs as i64;
        let account = self.grant_key(user).await?.ok_or(PlaybackError::AccountDisabled)?;
        let sig = self.0.signer.sign(&Grant { user, track, expires, account });
        Ok(SignedGrant { user, track, expires, sig })
    }

    /// The stable UUID naming `user`'s library on the local network (see
    /// [`UrlSigner::device_uuid`]).
    pub fn device_uuid(&self, user: UserId) -> String {
        self.0.signer.device_uuid(user)
    }

    /// Track `id` of `user` (`NoSuchTrack` if it is not theirs), from a short-lived cache.
    pub async fn track(&self, user: UserId, id: TrackId) -> Result<Arc<Playable>> {
        let now = now_unix();
        let cache = &self.0.tracks;
        if let Some(mut e) = cache.get_mut(&(user, id)) {
            if now - e.1 < TRACK_CACHE_SECS {
                return Ok(e.0.clone());
            }
            // Stale: this request asks the catalog; the others meanwhile use the entry.
            e.1 = now;
        }
        let epoch = self.0.epoch.load(SeqCst);
        let catalog = self.0.catalog.clone();
        let Some(track) = blocking(move || Ok(catalog.track(user, id)?)).await? else {
            cache.remove(&(user, id));
            return Err(PlaybackError::NoSuchTrack);
        };
        crate::media::probe::playable(track.audio.sample_rate, track.audio.channels, track.audio.frames)
            .map_err(|e| PlaybackError::Unplayable(e.to_string()))?;
        let media = media_ref(&track);
        let etag_key = media.key.to_hex()[..32].to_string();
        let t = Arc::new(Playable { track, media, etag_key });
        if cache.len() >= TRACK_CACHE_MAX {
            cache.retain(|_, (_, at)| now - *at < TRACK_CACHE_SECS);
        }
        if self.0.epoch.load(SeqCst) == epoch {
            cache.insert((user, id), (t.clone(), now));
        } else {
            cache.remove(&(user, id));
        }
        Ok(t)
    }

    /// The rungs a master playlist lists for a codec filter (`aac`, `opus`, `aac,opus`).
    pub fn rungs(&self, codecs: Option<&str>, max_kbps: Option<u32>) -> Result<Vec<Rung>> {
        Ok(capped(rungs_for(&self.0.ladder, codecs)?, max_kbps))
    }

    /// A rung of the ladder by its id (`aac-128`).
    pub fn rung(&self, id: &str) -> Result<Rung> {
        Rung::parse_id(id).filter(|r| self.0.ladder.contains(r)).ok_or(PlaybackError::NoSuchRendition)
    }

    pub async fn init(&self, p: &Playable, rung: Rung) -> Result<Bytes> {
        Ok(self.0.streamer.init(&p.media, rung).await?)
    }

    /// Media segment `n` of a rung (`NoSuchSegment` past the end).
    pub async fn segment(&self, p: &Playable, rung: Rung, n: u32) -> Result<Bytes> {
        if n >= p.media.timeline().segment_count() {
            return Err(PlaybackError::NoSuchSegment(n));
        }
        Ok(self.0.streamer.segment(&p.media, rung, n).await?)
    }

    /// Media segment `n` of an AAC rung as MPEG-TS: a view of the fMP4 segment (the same
    /// grid, packets and cache), for clients that take only TS.
    pub async fn ts_segment(&self, p: &Playable, rung: Rung, n: u32) -> Result<Bytes> {
        if rung.codec != Codec::Aac {
            return Err(PlaybackError::NoSuchRendition);
        }
        let init = self.init(p, rung).await?;
        let segment = self.segment(p, rung, n).await?;
        let bad = || PlaybackError::Internal(format!("segment {n} of {} is not the fMP4 this server writes", rung.id()));
        let priming = crate::package::fmp4::priming(&init).ok_or_else(bad)?;
        let (base, packets) = crate::package::fmp4::packets(&segment).ok_or_else(bad)?;
        Ok(Bytes::from(crate::package::ts::media_segment(n, p.media.info.out_channels(), base, priming, &packets)))
    }

    /// Segment `n` if the hot cache holds it; never encodes.
    pub fn cached_segment(&self, p: &Playable, rung: Rung, n: u32) -> Option<Bytes> {
        if n >= p.media.timeline().segment_count() {
            return None;
        }
        self.0.streamer.cached_segment(&p.media, rung, n)
    }

    /// A progressive stream of `p` in `format` from `offset` seconds, at `kbps` (the
    /// codec's default when `None`). At a ladder rung it is cut from the rung's segments
    /// (the cache's single flight, read-ahead and admission serve it, it holds no slot
    /// while the listener's socket drains, and listeners of the same audio share one
    /// encode); otherwise it is the listener's own encode, on a blocking thread feeding a
    /// bounded channel. A busy transcoder is `Busy` before any byte.
    pub async fn progressive(&self, p: Arc<Playable>, format: Format, kbps: Option<u32>, offset: f64) -> Result<Progressive> {
        let offset = check_offset(offset, p.track.audio.duration)?;
        let (codec, kbps) = match format {
            Format::Original if offset == 0.0 => return Ok(Progressive::Original),
            Format::Original => original_at_offset(&p.track.audio.codec),
            // LPCM seeks by range and by time; from an offset it would be a second shape.
            Format::Lpcm if offset == 0.0 => return Ok(Progressive::Seekable(lpcm(p))),
            Format::Lpcm => return Err(PlaybackError::LpcmOffset),
            Format::Codec(codec) => {
                let (default, range) = kbps_bounds(codec);
                let kbps = kbps.unwrap_or(default);
                if !range.contains(&kbps) {
                    return Err(PlaybackError::BadBitrate { codec: codec.name(), min: *range.start(), max: *range.end() });
                }
                if offset == 0.0 && codec != Codec::Opus {
                    return Ok(Progressive::Seekable(self.seekable(p, codec, kbps).await?));
                }
                let rung = Rung { codec, bitrate: kbps * 1000 };
                if self.0.ladder.contains(&rung) {
                    return self.segmented(p, rung, offset).await;
                }
                (codec, kbps)
            }
        };
        self.transcode(p.media.clone(), codec, kbps * 1000, offset).await
    }

    /// The seekable stream of `p` in `codec` (MP3 or AAC) at `kbps`: nothing is encoded
    /// (AAC reads its rung's priming from the init segment, which is cheap).
    async fn seekable(&self, p: Arc<Playable>, codec: Codec, kbps: u32) -> Result<SeekableStream> {
        let src = &p.media.info;
        let shape = match codec {
            Codec::Aac => {
                let init = self.0.streamer.init(&p.media, Rung { codec, bitrate: kbps * 1000 }).await?;
                let priming = crate::package::fmp4::priming(&init).ok_or_else(|| PlaybackError::Internal("init segment without an edit list".into()))?;
                Seekable::aac(src, kbps, priming)
            }
            _ => Seekable::mp3(src, kbps),
        };
        let etag = format!("\"{}-{}-stream-v{FORMAT_VERSION}\"", p.etag_key, shape.rung.id());
        Ok(SeekableStream {
            format: Format::Codec(codec),
            mime: stream_mime(codec),
            kbps: shape.rung.bitrate / 1000,
            len: shape.len(),
            duration: p.track.audio.duration,
            etag,
            shape: Shape::Coded(Arc::new(shape)),
            playable: p,
        })
    }

    /// Bytes `start..end` of a seekable stream, from the rung's segments in the cache (made
    /// on demand, shared with every listener of the audio). The first segment is made before
    /// this returns, so a busy transcoder answers `Busy` before any byte.
    pub async fn seekable_bytes(&self, s: &SeekableStream, start: u64, end: u64) -> Result<ByteStream> {
        let end = end.min(s.len);
        if start >= end {
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        let shape = match &s.shape {
            Shape::Coded(shape) => shape.clone(),
            Shape::Lpcm => return self.lpcm_bytes(s.playable.media.clone(), start, end).await,
        };
        let first = shape.segment_of(start);
        let last = shape.segment_of(end - 1);
        let head: Vec<u8> = {
            let h = shape.header();
            let (a, b) = (start.min(h.len() as u64) as usize, end.min(h.len() as u64) as usize);
            h[a..b].to_vec()
        };
        let cut = {
            let shape = shape.clone();
            move |k: u32, piece: Vec<u8>| -> Bytes {
                let span = shape.span(k);
                let (a, b) = (start.max(span.start), end.min(span.end));
                if a >= b { Bytes::new() } else { Bytes::from(piece).slice((a - span.start) as usize..(b - span.start) as usize) }
            }
        };
        let piece = {
            let (streamer, p, shape) = (self.0.streamer.clone(), s.playable.clone(), shape.clone());
            move |k: u32, patient: bool| {
                let (streamer, p, shape) = (streamer.clone(), p.clone(), shape.clone());
                async move {
                    let waited = std::time::Instant::now();
                    let seg = loop {
                        match streamer.segment(&p.media, shape.rung, k).await {
                            Ok(b) => break b,
                            Err(StreamError::Busy(_)) if patient && waited.elapsed() < MID_STREAM_PATIENCE => {
                                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                            }
                            Err(e) => return Err(PlaybackError::from(e)),
                        }
                    };
                    let shape2 = shape.clone();
                    blocking(move || shape2.piece(k, &seg).map_err(|e| PlaybackError::Internal(e.to_string()))).await
                }
            }
        };
        let mut first_bytes = head;
        first_bytes.extend_from_slice(&cut(first, piece(first, false).await?));
        let body = futures_util::stream::unfold((Some(Bytes::from(first_bytes)), first + 1), move |(ready, k)| {
            let (piece, cut) = (piece.clone(), cut.clone());
            async move {
                if let Some(b) = ready {
                    return Some((Ok::<_, io::Error>(b), (None, k)));
                }
                if k > last {
                    return None;
                }
                match piece(k, true).await {
                    Ok(b) => Some((Ok(cut(k, b)), (None, k + 1))),
                    Err(e) => {
                        tracing::warn!(error = %e, segment = k, "seekable stream ends early");
                        Some((Err(io::Error::other(e.to_string())), (None, u32::MAX)))
                    }
                }
            }
        });
        Ok(Box::pin(body))
    }

    async fn segmented(&self, p: Arc<Playable>, rung: Rung, offset: f64) -> Result<Progressive> {
        let m = &p.media;
        let streamer = self.0.streamer.clone();
        let init = streamer.init(m, rung).await?;
        let priming = crate::package::fmp4::priming(&init).ok_or_else(|| PlaybackError::Internal("init segment without an edit list".into()))?;
        let mut rw =
            progressive::Rewrap::new(rung.codec, m.info.out_channels(), priming, m.timeline(), offset).map_err(|e| PlaybackError::Internal(e.to_string()))?;
        let k0 = rw.first_segment();
        // The first segment before any byte: a busy server answers Busy, a broken file its error.
        let seg = streamer.segment(m, rung, k0).await?;
        let mut first = rw.header();
        first.extend(rw.segment(&seg).map_err(|e| PlaybackError::Internal(e.to_string()))?);
        let duration = progressive::plan(&m.info, offset).duration;
        let state = (Some(Bytes::from(first)), k0 + 1, rw, p.clone());
        let body = futures_util::stream::unfold(state, move |(first, k, mut rw, p)| {
            let streamer = streamer.clone();
            async move {
                if let Some(b) = first {
                    return Some((Ok::<_, io::Error>(b), (None, k, rw, p)));
                }
                if k >= rw.segment_count() {
                    return None;
                }
                let waited = std::time::Instant::now();
                let seg = loop {
                    match streamer.segment(&p.media, rung, k).await {
                        Ok(b) => break b,
                        Err(StreamError::Busy(_)) if waited.elapsed() < MID_STREAM_PATIENCE => {
                            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, segment = k, "progressive stream ends early");
                            return None;
                        }
                    }
                };
                match rw.segment(&seg) {
                    Ok(b) => Some((Ok(Bytes::from(b)), (None, k + 1, rw, p))),
                    Err(e) => {
                        tracing::warn!(error = %e, segment = k, "progressive stream ends early");
                        None
                    }
                }
            }
        });
        Ok(Progressive::Stream { codec: rung.codec, kbps: rung.bitrate / 1000, duration, body: Box::pin(body) })
    }

    /// Runs `job` (an encode or a decode of `m`'s original, handing chunks to its sink) on a
    /// blocking thread that holds a transcode slot (`Busy` when none is free), into a
    /// bounded channel; a failure ends the channel with an error, logged as `what`.
    fn produce_blocking(
        &self,
        m: &MediaRef,
        what: &'static str,
        job: impl FnOnce(crate::package::OpenSource<'_>, &mut dyn FnMut(Vec<u8>) -> bool) -> std::result::Result<(), crate::package::PackageError> + Send + 'static,
    ) -> Result<tokio::sync::mpsc::Receiver<io::Result<Bytes>>> {
        let slot = self.0.streamer.progressive_slot()?;
        let open = self.0.streamer.opener(m.parts.clone());
        let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(4);
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            if let Err(e) = job(&open, &mut |chunk| tx.blocking_send(Ok(Bytes::from(chunk))).is_ok()) {
                tracing::warn!(error = %e, "{what} failed");
                let _ = tx.blocking_send(Err(io::Error::other(e.to_string())));
            }
        });
        Ok(rx)
    }

    /// Bytes `start..end` of `m`'s LPCM stream, decoded by [`Playback::produce_blocking`].
    async fn lpcm_bytes(&self, m: MediaRef, start: u64, end: u64) -> Result<ByteStream> {
        let (ext, info, gain) = (m.ext.clone(), m.info.clone(), m.gain());
        let rx = self.produce_blocking(&m, "LPCM stream", move |open, sink| crate::package::pcm::stream(open, &ext, &info, gain, start..end, sink))?;
        Ok(Box::pin(tokio_stream_of(rx)))
    }

    async fn transcode(&self, m: MediaRef, codec: Codec, bitrate: u32, offset: f64) -> Result<Progressive> {
        let plan = progressive::StreamPlan { gain: m.gain(), ..progressive::plan(&m.info, offset) };
        let (ext, info) = (m.ext.clone(), m.info.clone());
        let mut rx =
            self.produce_blocking(&m, "progressive transcode", move |open, sink| progressive::stream(open, &ext, &info, codec, bitrate, plan, sink))?;
        // Wait for the first bytes so that a source that cannot be decoded is a clean error,
        // not a truncated stream.
        let first = match rx.recv().await {
            Some(Ok(b)) => b,
            Some(Err(e)) => return Err(PlaybackError::Internal(e.to_string())),
            None => return Err(PlaybackError::Internal("transcoder ended without output".into())),
        };
        let body = futures_util::stream::once(async move { Ok::<_, io::Error>(first) }).chain(tokio_stream_of(rx));
        Ok(Progressive::Stream { codec, kbps: bitrate / 1000, duration: plan.duration, body: Box::pin(body) })
    }

    /// Bytes `start..end` of a stored file (its parts, in order), read on the blocking pool.
    pub fn original(&self, parts: Vec<Part>, start: u64, end: u64) -> ByteStream {
        let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(4);
        let store = self.0.store.clone();
        tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let mut reader = match open_parts_range(store.as_ref(), &parts, start..end) {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.blocking_send(Err(io::Error::other(e.to_string())));
                    return;
                }
            };
            let mut buf = vec![0u8; CHUNK];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if tx.blocking_send(Ok(Bytes::copy_from_slice(&buf[..n]))).is_err() {
                            break; // the listener went away
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        break;
                    }
                }
            }
        });
        Box::pin(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }))
    }

    /// Prometheus text of the transcoder and cache.
    pub fn metrics(&self) -> String {
        self.0.streamer.render_metrics()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitrates_have_a_default_and_bounds_per_codec() {
        assert_eq!(kbps_bounds(Codec::Aac), (192, 32..=320));
        assert_eq!(kbps_bounds(Codec::Opus), (128, 16..=256));
        assert_eq!(kbps_bounds(Codec::Mp3), (192, 32..=320));
    }

    #[test]
    fn an_original_with_an_offset_becomes_the_closest_codec() {
        assert_eq!(original_at_offset("opus"), (Codec::Opus, 160));
        assert_eq!(original_at_offset("vorbis"), (Codec::Opus, 160));
        assert_eq!(original_at_offset("mp3"), (Codec::Mp3, 320));
        assert_eq!(original_at_offset("flac"), (Codec::Aac, 256));
        assert_eq!(original_at_offset("alac"), (Codec::Aac, 256));
    }

    #[test]
    fn a_codec_filter_keeps_its_rungs_in_ladder_order() {
        let ladder = [Rung { codec: Codec::Aac, bitrate: 64_000 }, Rung { codec: Codec::Opus, bitrate: 96_000 }, Rung { codec: Codec::Aac, bitrate: 256_000 }];
        assert_eq!(rungs_for(&ladder, None).unwrap().len(), 3);
        assert_eq!(rungs_for(&ladder, Some("")).unwrap().len(), 3);
        assert_eq!(rungs_for(&ladder, Some("aac")).unwrap(), vec![ladder[0], ladder[2]]);
        assert_eq!(rungs_for(&ladder, Some(" opus ,aac")).unwrap(), ladder.to_vec());
        assert!(matches!(rungs_for(&ladder, Some("mp3")), Err(PlaybackError::BadCodecs(_))));
        assert!(matches!(rungs_for(&ladder[..1], Some("opus")), Err(PlaybackError::NoRenditionForCodecs)));
        // A cap keeps what fits, per codec, and the lowest rung of a codec nothing fits.
        let kbps = |rs: Vec<Rung>| rs.iter().map(|r| (r.codec, r.bitrate / 1000)).collect::<Vec<_>>();
        assert_eq!(capped(ladder.to_vec(), None), ladder.to_vec());
        assert_eq!(capped(ladder.to_vec(), Some(10_000)), ladder.to_vec());
        assert_eq!(kbps(capped(ladder.to_vec(), Some(1))), [(Codec::Aac, 64), (Codec::Opus, 96)]);
        assert_eq!(kbps(capped(ladder.to_vec(), Some(128))), [(Codec::Aac, 64), (Codec::Opus, 96)]);
        assert_eq!(kbps(capped(ladder[2..].to_vec(), Some(128))), [(Codec::Aac, 256)]);
    }

    #[test]
    fn offsets_lie_inside_the_track() {
        assert!(check_offset(0.0, 10.0).is_ok());
        assert!(check_offset(9.99, 10.0).is_ok());
        assert!(check_offset(10.0, 10.0).is_err());
        assert!(check_offset(-1.0, 10.0).is_err());
        assert!(check_offset(f64::NAN, 10.0).is_err());
        assert!(check_offset(0.0, 0.0).is_ok(), "an empty track plays from 0");
    }
}
