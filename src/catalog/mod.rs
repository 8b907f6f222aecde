//! The catalog: users, sessions, blobs with reference counts, media (one row per stored
//! audio blob), and each user's library (tracks with that user's tags, derived albums and
//! artists, covers) with diacritic-insensitive search.
//!
//! Owns: the repository traits ([`Users`], [`Library`], [`Lists`], [`Blobs`],
//! [`Resumables`], and [`Catalog`] for all of them), their data types and errors, the library's rules (`rules`:
//! pure functions), the writes as engine-neutral transactions (`tx`), search (`search`),
//! the SQL both engines run (`sql`, over the `db` seam), and the engines: SQLite
//! (`sqlite`, the only module that knows rusqlite) and PostgreSQL (`postgres`). Depends on
//! `domain` only: never on the store, media decoding or HTTP. Every method blocks (call it
//! from `spawn_blocking` or a worker thread). Every library read takes the user id and
//! only ever returns that user's rows: a foreign id behaves exactly like a missing one.

mod copy;
mod db;
mod fold;
mod postgres;
mod repo;
pub mod rules;
mod schema;
mod search;
mod sql;
mod sqlite;
#[cfg(test)]
pub(crate) mod testing;
mod tx;

pub use fold::fold;
pub use repo::{Blobs, Catalog, Library, Lists, Resumables, Users};
pub use sql::SqlCatalog;

/// The catalog in a SQLite file at `path` (created and migrated if needed).
pub fn open_sqlite(path: impl Into<std::path::PathBuf>) -> Result<SqlCatalog> {
    Ok(SqlCatalog::new(Box::new(sqlite::Sqlite::open(path)?)))
}

pub use copy::Copied;

/// Copies the SQLite catalog at `path` into the PostgreSQL database at `url` (created and
/// migrated if needed); resumable, and a second run adds nothing. `progress` hears each
/// table's (name, rows copied, rows).
pub fn copy_sqlite_to_postgres(path: &std::path::Path, url: &str, progress: &dyn Fn(&str, u64, u64)) -> Result<Vec<Copied>> {
    copy::copy(&sqlite::Sqlite::open(path)?, &postgres::Postgres::open(url)?, progress)
}

/// The catalog in the PostgreSQL database at `url` (`postgres://user:pass@host:port/db`),
/// its schema brought up to date once however many nodes start together.
pub fn open_postgres(url: &str) -> Result<SqlCatalog> {
    Ok(SqlCatalog::new(Box::new(postgres::Postgres::open(url)?)))
}

/// The repository traits, for calling catalog methods (`use crate::catalog::prelude::*;`).
pub mod prelude {
    pub use super::repo::{Blobs, Library, Lists, Resumables, Users};
}

pub use crate::domain::Loudness;
use crate::domain::{AlbumId, ArtistId, AudioProps, ContentHash, Lyrics, Part, PlaylistId, Tags, TrackId, UserId};
pub use crate::media::decode::SourceInfo;

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
    /// The database cannot answer now (down, restarting, unreachable, too slow, or every
    /// connection busy); the same request may work in a few seconds.
    #[error("database unavailable: {0}")]
    Unavailable(String),
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

/// An API key of a user, as listed (the key itself is shown once, when made).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: i64,
    pub label: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
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
    /// The folder it was imported from (`None` for uploads): tracks without an album artist
    /// are grouped into albums per folder, and join the album their folder's tagged files
    /// name their artist as album artist for (see `rules::plan_album`).
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

/// One track of one user's library: where it sits (album, artist), its tags as that user
/// sees them, what the probe found in the audio, and the stored file.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub id: TrackId,
    pub album_id: AlbumId,
    pub artist_id: ArtistId,
    pub tags: TrackTags,
    pub audio: TrackAudio,
    pub file: StoredFile,
    pub added_at: i64,
}

/// A track's tags in its owner's library, with the fallbacks applied (a title from the
/// file name, "Unknown Artist", …), as edits leave them.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackTags {
    pub title: String,
    pub artist: String,
    pub artists: Vec<String>,
    pub album: String,
    pub album_artist: String,
    pub track_number: Option<u32>,
    pub track_total: Option<u32>,
    pub disc_number: Option<u32>,
    pub disc_total: Option<u32>,
    pub year: Option<i32>,
    pub genre: Option<String>,
    pub compilation: bool,
    pub replaygain: ReplayGain,
    pub mb_track_id: Option<String>,
    pub mb_album_id: Option<String>,
    /// As tagged, normalised (`USSM18300073`).
    pub isrc: Vec<String>,
}

/// ReplayGain as tagged (dB and linear peak).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReplayGain {
    pub track_gain: Option<f64>,
    pub track_peak: Option<f64>,
    pub album_gain: Option<f64>,
    pub album_peak: Option<f64>,
}

/// What the probe found in a track's audio.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackAudio {
    /// Playable seconds (`frames / sample_rate`).
    pub duration: f64,
    /// Playable length in frames at `sample_rate` (priming and padding excluded).
    pub frames: u64,
    pub container: String,
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u16,
    pub bits_per_sample: Option<u32>,
    pub bitrate: u32,
    /// Encoder priming at the start of the original (MP4 edit list / iTunSMPB), in frames.
    pub priming: u64,
    /// Set when the file plays but is damaged; says how.
    pub damage: Option<String>,
    /// EBU R128 loudness as measured (`None` until the background pass has).
    pub loudness: Option<Loudness>,
    /// The album's (as its owner groups it): the tracks' power mean weighted by duration,
    /// the largest peak; `None` until every track of the album is measured.
    pub album_loudness: Option<Loudness>,
}

/// A track's stored file: its identity, its blobs, its cover, the name it came with.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFile {
    pub size: u64,
    /// The file's identity ([`Part::identity`] of its parts).
    pub hash: ContentHash,
    /// The blobs the original is stored as (see [`NewMedia::parts`]).
    pub parts: Vec<Part>,
    /// The shared coded-audio blob (see [`NewMedia::audio`]).
    pub audio: ContentHash,
    /// The track's own cover (the album's otherwise).
    pub cover: Option<ContentHash>,
    /// The file's name as the user had it (for downloads and as a title of last resort).
    pub file_name: String,
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

/// The orders albums can be listed in beyond [`AlbumSort`]: by what the user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlbumPick {
    Sorted(AlbumSort),
    Random,
    /// Most recently played first (albums never played are left out).
    RecentlyPlayed,
    /// Most played first (albums never played are left out).
    MostPlayed,
    /// Starred albums, most recently starred first.
    Starred,
    /// By the album's own rating, or else the average of its rated tracks, best first
    /// (unrated albums left out).
    HighestRated,
}

/// What albums or tracks to keep: a genre (case-insensitive), a span of years (inclusive;
/// `from > to` lists the span newest first).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub genre: Option<String>,
    pub years: Option<(i32, i32)>,
}

/// A genre of a user's library and how much of it there is.
#[derive(Debug, Clone, PartialEq)]
pub struct Genre {
    pub name: String,
    pub songs: u64,
    pub albums: u64,
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

/// A resumable upload: whose, how long, named what, until when (what tus's `HEAD` tells).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct UploadInfo {
    pub id: String,
    pub user: UserId,
    pub length: u64,
    pub file_name: String,
    /// The client's `Upload-Metadata` header, verbatim (returned on `HEAD`).
    pub metadata: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A resumable upload as the catalog keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadRecord {
    pub info: UploadInfo,
    /// Bytes received so far (the offset to resume from).
    pub received: u64,
    /// What became of it once finished, in the uploads service's encoding.
    pub outcome: Option<String>,
}

/// Bytes `start..start + len` of a resumable upload, received in one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadChunk {
    pub start: u64,
    pub len: u64,
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

/// A stored file awaiting its full decode (see `Blobs::unverified_media`).
#[derive(Debug, Clone)]
pub struct Unverified {
    pub hash: ContentHash,
    pub parts: Vec<Part>,
    pub file_name: String,
}

/// A user's playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Playlist {
    pub id: PlaylistId,
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

/// What a user did with one of their tracks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Marks {
    pub play_count: u64,
    pub last_played: Option<i64>,
    pub starred_at: Option<i64>,
    /// 1 to 5 stars.
    pub rating: Option<u8>,
}

/// What an administrator changes about an account (`None`: leave as is).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserChange {
    /// Disabling ends the user's sessions.
    pub disabled: Option<bool>,
    /// `Some(None)` removes the quota.
    pub quota_bytes: Option<Option<u64>>,
    pub is_admin: Option<bool>,
}

/// An album or an artist of one user's library, as something to star or rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupId {
    Album(AlbumId),
    Artist(ArtistId),
}

/// A user's star and rating of one album or artist.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupMark {
    pub starred_at: Option<i64>,
    /// 1 to 5 stars.
    pub rating: Option<u8>,
}

/// A public link to some of a user's tracks.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    pub id: i64,
    pub user: UserId,
    /// The unguessable part of the link.
    pub token: String,
    pub description: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_visited_at: Option<i64>,
    pub visits: u64,
    /// In order; tracks deleted since are gone.
    pub tracks: Vec<TrackId>,
}

/// Where a user stopped in one of their tracks.
#[derive(Debug, Clone, PartialEq)]
pub struct Bookmark {
    pub track: TrackId,
    pub position_ms: u64,
    pub comment: String,
    pub created_at: i64,
    pub changed_at: i64,
}

/// A saved play queue.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayQueue {
    pub tracks: Vec<TrackId>,
    pub current: Option<TrackId>,
    pub position_ms: u64,
    pub changed_at: i64,
    /// The client that saved it.
    pub changed_by: String,
}

/// One listen from a user's history.
#[derive(Debug, Clone, PartialEq)]
pub struct Play {
    pub played_at: i64,
    pub track: Track,
}
