//! The catalog: users, sessions, blobs with reference counts, media (one row per stored
//! audio blob), and each user's library (tracks with that user's tags, derived albums and
//! artists, covers) with diacritic-insensitive search.
//!
//! Owns: the [`Catalog`] trait, its data types, and the SQLite implementation. Depends on
//! `domain` only: never on the store, media decoding or HTTP. Every method blocks (call it
//! from `spawn_blocking` or a worker thread). Every library read takes the user id and
//! only ever returns that user's rows: a foreign id behaves exactly like a missing one.

mod fold;
mod schema;
mod search;
mod sqlite;

pub use fold::fold;
pub use sqlite::SqliteCatalog;

use std::collections::HashMap;

use crate::domain::{AlbumId, ArtistId, AudioProps, ContentHash, Part, Tags, TrackId, UserId};

/// An engine's own error, kept as the source of [`CatalogError::Backend`].
pub type BackendError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("invalid: {0}")]
    Invalid(String),
    /// The storage engine failed.
    #[error("database: {0}")]
    Backend(#[source] BackendError),
    /// The catalog could not be opened at `path`.
    #[error("catalog file {path}: {message}")]
    Open { path: std::path::PathBuf, message: String },
    #[error("catalog schema version {found} is newer than this build understands ({known})")]
    TooNew { found: i64, known: i64 },
}

pub type Result<T> = std::result::Result<T, CatalogError>;

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub is_admin: bool,
    pub created_at: i64,
    /// A disabled user cannot sign in and their sessions do not authenticate.
    pub disabled: bool,
    /// Most bytes of originals the user may own; `None` is unlimited.
    pub quota_bytes: Option<u64>,
}

/// A stored audio blob and what the probe found in it.
#[derive(Debug, Clone)]
pub struct NewMedia {
    /// The file's identity in the catalog (one row per distinct file): [`Part::identity`].
    pub hash: ContentHash,
    pub size: u64,
    pub props: AudioProps,
    /// SHA-256 of the whole file, for instant uploads (`None` for files stored before).
    pub sha256: Option<[u8; 32]>,
    /// The blobs the file is stored as, in order; their lengths add up to `size`.
    pub parts: Vec<Part>,
    /// The blob with the coded audio, shared by copies that differ only in tags.
    pub audio: ContentHash,
}

impl NewMedia {
    /// A file stored whole, as one blob named by its hash.
    pub fn whole(hash: ContentHash, size: u64, props: AudioProps) -> NewMedia {
        NewMedia { hash, size, props, sha256: None, parts: vec![Part { hash, len: size }], audio: hash }
    }
}

/// A stored cover image blob.
#[derive(Debug, Clone)]
pub struct NewCover {
    pub hash: ContentHash,
    pub size: u64,
    pub mime: String,
    pub width: u32,
    pub height: u32,
}

/// One file to add to one user's library.
#[derive(Debug, Clone)]
pub struct NewTrack {
    pub user: UserId,
    pub media: NewMedia,
    pub tags: Tags,
    pub cover: Option<NewCover>,
    /// The file's name as the user had it (for downloads and as a title of last resort).
    pub file_name: String,
    /// Where it was imported from (`None` for uploads), with its size and mtime, so that a
    /// re-import can skip unchanged files without reading them.
    pub source: Option<SourceFile>,
    /// Tracks without an album artist are grouped into albums per folder.
    pub folder: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: String,
    pub size: u64,
    pub mtime: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    Added(TrackId),
    /// The user already has a track with these exact bytes.
    AlreadyPresent(TrackId),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub id: TrackId,
    pub title: String,
    pub artist: String,
    pub artists: Vec<String>,
    pub album: String,
    pub album_artist: String,
    pub album_id: AlbumId,
    pub artist_id: ArtistId,
    pub track_number: Option<u32>,
    pub track_total: Option<u32>,
    pub disc_number: Option<u32>,
    pub disc_total: Option<u32>,
    pub year: Option<i32>,
    pub genre: Option<String>,
    pub compilation: bool,
    pub duration: f64,
    pub frames: u64,
    pub container: String,
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u16,
    pub bits_per_sample: Option<u32>,
    pub bitrate: u32,
    pub size: u64,
    pub hash: ContentHash,
    pub cover: Option<ContentHash>,
    pub damage: Option<String>,
    pub file_name: String,
    pub added_at: i64,
    pub replaygain_track_gain: Option<f64>,
    pub replaygain_track_peak: Option<f64>,
    pub replaygain_album_gain: Option<f64>,
    pub replaygain_album_peak: Option<f64>,
    pub mb_track_id: Option<String>,
    pub mb_album_id: Option<String>,
    /// Encoder priming at the start of the original (MP4 edit list / iTunSMPB), in frames.
    pub priming: u64,
    /// The blobs the original is stored as (see [`NewMedia::parts`]).
    pub parts: Vec<Part>,
    /// The shared coded-audio blob (see [`NewMedia::audio`]).
    pub audio: ContentHash,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Album {
    pub id: AlbumId,
    pub title: String,
    pub artist: String,
    pub artist_id: ArtistId,
    pub year: Option<i32>,
    pub compilation: bool,
    pub track_count: u32,
    pub duration: f64,
    pub cover: Option<ContentHash>,
    pub genre: Option<String>,
    pub added_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Artist {
    pub id: ArtistId,
    pub name: String,
    pub album_count: u32,
    pub track_count: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: u32,
    pub offset: u32,
}

impl Page {
    pub const MAX_LIMIT: u32 = 1000;
    pub fn new(limit: Option<u32>, offset: Option<u32>) -> Page {
        Page { limit: limit.unwrap_or(100).min(Self::MAX_LIMIT), offset: offset.unwrap_or(0) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlbumSort {
    /// By album artist, then year, then title.
    #[default]
    Artist,
    Title,
    Year,
    /// Most recently added first.
    Recent,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchResults {
    pub tracks: Vec<Track>,
    pub albums: Vec<Album>,
    pub artists: Vec<Artist>,
}

/// A cover to serve: its blob and MIME type.
#[derive(Debug, Clone, PartialEq)]
pub struct CoverRef {
    pub hash: ContentHash,
    pub mime: String,
}

/// Blob bookkeeping for audits and sweeps.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BlobStats {
    pub blobs: u64,
    pub physical_bytes: u64,
    pub logical_bytes: u64,
}

/// What one user's library holds: tracks and the bytes of their originals.
#[derive(Debug, Clone, PartialEq)]
pub struct UserUsage {
    pub user: UserId,
    pub username: String,
    pub tracks: u64,
    pub bytes: u64,
}

/// A stored file awaiting its full decode (see `Catalog::unverified_media`).
#[derive(Debug, Clone)]
pub struct Unverified {
    pub hash: ContentHash,
    pub parts: Vec<Part>,
    pub file_name: String,
}

/// A user's playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Playlist {
    pub id: i64,
    pub name: String,
    pub track_count: u32,
    pub duration: f64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A tag edit: `None` leaves a field alone; `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TagEdit {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub album_artist: Option<Option<String>>,
    pub track_number: Option<Option<u32>>,
    pub disc_number: Option<Option<u32>>,
    pub year: Option<Option<i32>>,
    pub genre: Option<Option<String>>,
    pub compilation: Option<bool>,
}

/// One listen from a user's history.
#[derive(Debug, Clone, PartialEq)]
pub struct Play {
    pub played_at: i64,
    pub track: Track,
}

pub trait Catalog: Send + Sync {
    // Users and sessions.
    fn create_user(&self, username: &str, password_hash: &str, is_admin: bool) -> Result<User>;
    fn user_by_name(&self, username: &str) -> Result<Option<(User, String)>>;
    fn list_users(&self) -> Result<Vec<User>>;
    fn user_count(&self) -> Result<u64>;
    fn set_password(&self, username: &str, password_hash: &str) -> Result<()>;
    /// Deletes the user, their sessions and library; returns blobs no longer referenced.
    fn delete_user(&self, username: &str) -> Result<Vec<ContentHash>>;
    /// Disables/enables a user (disabling ends their sessions) and/or sets their quota.
    fn set_user_limits(&self, id: UserId, disabled: Option<bool>, quota_bytes: Option<Option<u64>>) -> Result<()>;
    /// Removes tracks from `user`'s library in one transaction (all or none: a foreign or
    /// missing id is `NotFound`). Returns the blobs that lost their last reference, for the
    /// caller to delete from the store after the commit.
    fn delete_tracks(&self, user: UserId, ids: &[TrackId]) -> Result<Vec<ContentHash>>;
    fn create_session(&self, user: UserId, token_hash: &[u8; 32], expires_at: i64) -> Result<()>;
    /// The user a live (unexpired) session belongs to.
    fn session_user(&self, token_hash: &[u8; 32], now: i64) -> Result<Option<User>>;
    fn delete_session(&self, token_hash: &[u8; 32]) -> Result<bool>;

    // Ingest.
    /// Source files already imported for `user`: path → (size, mtime).
    fn known_sources(&self, user: UserId) -> Result<HashMap<String, (u64, i64)>>;
    /// Adds a batch in one transaction; each element's outcome in order.
    fn add_tracks(&self, batch: &[NewTrack]) -> Result<Vec<AddOutcome>>;
    /// Blob hashes the catalog references (anything else in the store is an orphan).
    fn referenced_blobs(&self) -> Result<Vec<ContentHash>>;
    /// The same, with the size each blob must have.
    fn referenced_blobs_with_sizes(&self) -> Result<Vec<(ContentHash, u64)>>;
    fn blob_stats(&self) -> Result<BlobStats>;
    /// Up to `limit` stored files not yet decoded in full since import, with a file name
    /// one of their tracks has (the decoder's hint).
    fn unverified_media(&self, limit: usize) -> Result<Vec<Unverified>>;
    /// Records that the file was decoded in full, and the damage found, if any (kept only if
    /// none was recorded at import).
    fn set_verified(&self, hash: &ContentHash, damage: Option<&str>) -> Result<()>;
    /// A stored file with this SHA-256 and size, whoever owns it (for instant uploads).
    fn media_by_sha256(&self, sha256: &[u8; 32], size: u64) -> Result<Option<NewMedia>>;
    /// Whether any track still refers to this blob (checked before deleting it from the store).
    fn blob_referenced(&self, hash: &ContentHash) -> Result<bool>;
    /// Applies a tag edit to one of `user`'s tracks (that user's view only): the track moves
    /// to the album and artists its new tags name; emptied albums go.
    fn edit_track(&self, user: UserId, id: TrackId, edit: &TagEdit) -> Result<()>;
    /// Per-user track counts and original bytes, every user included.
    fn usage_by_user(&self) -> Result<Vec<UserUsage>>;
    /// Bytes of the originals in one user's library (what a quota limits).
    fn user_bytes(&self, user: UserId) -> Result<u64>;

    // Library reads, always scoped to `user`.
    fn list_tracks(&self, user: UserId, page: Page) -> Result<(Vec<Track>, u64)>;
    fn track(&self, user: UserId, id: TrackId) -> Result<Option<Track>>;
    fn list_albums(&self, user: UserId, sort: AlbumSort, page: Page) -> Result<(Vec<Album>, u64)>;
    fn album(&self, user: UserId, id: AlbumId) -> Result<Option<(Album, Vec<Track>)>>;
    fn list_artists(&self, user: UserId, page: Page) -> Result<(Vec<Artist>, u64)>;
    fn artist(&self, user: UserId, id: ArtistId) -> Result<Option<(Artist, Vec<Album>)>>;
    fn search(&self, user: UserId, query: &str, limit: u32) -> Result<SearchResults>;
    fn track_cover(&self, user: UserId, id: TrackId) -> Result<Option<CoverRef>>;

    // Playlists, favourites, history. Every track id must be the user's own, or the call
    // fails with `NotFound` and changes nothing.
    fn create_playlist(&self, user: UserId, name: &str, tracks: &[TrackId]) -> Result<Playlist>;
    fn list_playlists(&self, user: UserId) -> Result<Vec<Playlist>>;
    fn playlist(&self, user: UserId, id: i64) -> Result<Option<(Playlist, Vec<Track>)>>;
    /// Renames and/or replaces the track list (which adds, removes and reorders).
    fn update_playlist(&self, user: UserId, id: i64, name: Option<&str>, tracks: Option<&[TrackId]>) -> Result<()>;
    fn append_to_playlist(&self, user: UserId, id: i64, tracks: &[TrackId]) -> Result<()>;
    fn delete_playlist(&self, user: UserId, id: i64) -> Result<()>;
    fn set_star(&self, user: UserId, track: TrackId, starred: bool) -> Result<()>;
    fn favourites(&self, user: UserId) -> Result<Vec<Track>>;
    fn record_play(&self, user: UserId, track: TrackId, at: i64) -> Result<()>;
    /// Most recent plays first, and each track's play count.
    fn history(&self, user: UserId, limit: u32) -> Result<(Vec<Play>, HashMap<TrackId, u64>)>;
    fn album_cover(&self, user: UserId, id: AlbumId) -> Result<Option<CoverRef>>;
}
