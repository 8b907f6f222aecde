//! The catalog's repositories: one narrow trait per aggregate ([`Users`], [`Library`],
//! [`Lists`], [`Blobs`], [`Resumables`]) and [`Catalog`], all of them at once, for
//! `Arc<dyn Catalog>`.
//!
//! Owns: the interface every engine implements, and what each method promises. Depends on
//! the catalog's data types only: never on an engine (rusqlite), the store, media or HTTP.
//! Every method blocks (call it from `spawn_blocking` or a worker thread). Every library
//! read takes the user id and only ever returns that user's rows: a foreign id behaves
//! exactly like a missing one.

use std::collections::HashMap;

use super::rules::Normalize;
use super::{
    AddOutcome, Album, AlbumPick, AlbumSort, ApiKey, Artist, BlobStats, Bookmark, CoverRef, Filter, Genre, GroupId, GroupMark, Loudness, Lyrics, Marks,
    NewMedia, NewTrack, Page, Play, PlayQueue, Playlist, Result, SearchResults, Share, SourceInfo, TagEdit, Track, Unverified, UploadChunk, UploadRecord, User,
    UserChange, UserUsage,
};
use crate::domain::{AlbumId, ArtistId, ContentHash, PlaylistId, TrackId, UserId};

/// Accounts and their sessions.
pub trait Users: Send + Sync {
    fn create_user(&self, username: &str, password_hash: &str, is_admin: bool) -> Result<User>;
    fn user_by_name(&self, username: &str) -> Result<Option<(User, String)>>;
    fn list_users(&self) -> Result<Vec<User>>;
    /// One user by id, with their password hash.
    fn user_by_id(&self, id: UserId) -> Result<Option<(User, String)>>;
    fn user_count(&self) -> Result<u64>;
    /// Sets the password hash, forgets the sealed copy of the old password, and ends every
    /// session of the user, in one transaction.
    fn set_password(&self, username: &str, password_hash: &str) -> Result<()>;
    /// Deletes the user, their sessions and library; returns blobs no longer referenced.
    fn delete_user(&self, username: &str) -> Result<Vec<ContentHash>>;
    /// Disables/enables a user (disabling ends their sessions), sets their quota, grants or
    /// withdraws administration: whatever `change` names.
    fn update_user(&self, id: UserId, change: &UserChange) -> Result<()>;
    /// The user's default loudness normalisation of what they play.
    fn normalize(&self, id: UserId) -> Result<Normalize>;
    fn set_normalize(&self, id: UserId, mode: Normalize) -> Result<()>;
    /// Whether devices on the local network (UPnP/DLNA) may browse and play the user's library.
    fn set_lan_shared(&self, id: UserId, on: bool) -> Result<()>;
    /// Users whose library the local network sees, enabled ones only, by name.
    fn lan_shared(&self) -> Result<Vec<User>>;
    fn create_session(&self, user: UserId, token_hash: &[u8; 32], expires_at: i64) -> Result<()>;
    /// The user a live (unexpired) session belongs to.
    fn session_user(&self, token_hash: &[u8; 32], now: i64) -> Result<Option<User>>;
    fn delete_session(&self, token_hash: &[u8; 32]) -> Result<bool>;
    /// The user and the sealed copy of their password (Subsonic token auth), if one is kept.
    fn subsonic_secret(&self, username: &str) -> Result<Option<(User, Vec<u8>)>>;
    /// Keeps the sealed copy of a user's password, only while their password hash is still
    /// `for_hash` (the one the password was checked against or made into), so a sign-in
    /// racing a password change never brings the old password back.
    fn set_subsonic_secret(&self, id: UserId, sealed: &[u8], for_hash: &str) -> Result<()>;
    fn add_api_key(&self, user: UserId, key_hash: &[u8; 32], label: &str, now: i64) -> Result<ApiKey>;
    fn api_keys(&self, user: UserId) -> Result<Vec<ApiKey>>;
    /// Revokes one of `user`'s keys; `false` when they have no such key.
    fn revoke_api_key(&self, user: UserId, id: i64) -> Result<bool>;
    /// The enabled user an API key belongs to (and notes when it was used).
    fn api_key_user(&self, key_hash: &[u8; 32], now: i64) -> Result<Option<User>>;
    /// The server key called `name` every process on this catalog shares: `fresh` if
    /// none was kept yet (then kept), else the one kept first.
    fn server_key(&self, name: &str, fresh: &[u8; 32]) -> Result<[u8; 32]>;
}

/// Each user's library: ingest writes, tag edits and deletes, and the reads of tracks,
/// derived albums and artists, search and covers, always scoped to `user`.
pub trait Library: Send + Sync {
    /// Source files already imported for `user`: path → (size, mtime).
    fn known_sources(&self, user: UserId) -> Result<HashMap<String, (u64, i64)>>;
    /// Adds a batch in one transaction; each element's outcome in order.
    fn add_tracks(&self, batch: &[NewTrack]) -> Result<Vec<AddOutcome>>;
    /// Applies a tag edit to one of `user`'s tracks (that user's view only): the track moves
    /// to the album and artists its new tags name; emptied albums go. An edit
    /// [`rules::validate_edit`](super::rules::validate_edit) refuses is `Invalid`.
    fn edit_track(&self, user: UserId, id: TrackId, edit: &TagEdit) -> Result<()>;
    /// Removes tracks from `user`'s library in one transaction (all or none: a foreign or
    /// missing id is `NotFound`). Returns the blobs that lost their last reference, for the
    /// caller to delete from the store after the commit.
    fn delete_tracks(&self, user: UserId, ids: &[TrackId]) -> Result<Vec<ContentHash>>;
    fn list_tracks(&self, user: UserId, page: Page) -> Result<(Vec<Track>, u64)>;
    fn track(&self, user: UserId, id: TrackId) -> Result<Option<Track>>;
    fn list_albums(&self, user: UserId, sort: AlbumSort, page: Page) -> Result<(Vec<Album>, u64)>;
    fn album(&self, user: UserId, id: AlbumId) -> Result<Option<(Album, Vec<Track>)>>;
    fn list_artists(&self, user: UserId, page: Page) -> Result<(Vec<Artist>, u64)>;
    fn artist(&self, user: UserId, id: ArtistId) -> Result<Option<(Artist, Vec<Album>)>>;
    fn search(&self, user: UserId, query: &str, limit: u32) -> Result<SearchResults>;
    fn track_cover(&self, user: UserId, id: TrackId) -> Result<Option<CoverRef>>;
    fn album_cover(&self, user: UserId, id: AlbumId) -> Result<Option<CoverRef>>;
    /// Albums in the order `pick` names, filtered.
    fn pick_albums(&self, user: UserId, pick: AlbumPick, filter: &Filter, page: Page) -> Result<Vec<Album>>;
    /// Tracks, filtered, by title, or shuffled when `random`.
    fn pick_tracks(&self, user: UserId, filter: &Filter, random: bool, page: Page) -> Result<Vec<Track>>;
    /// The genres of the user's tracks, by name.
    fn genres(&self, user: UserId) -> Result<Vec<Genre>>;
    /// The lyrics the file of one of `user`'s tracks carries (`None`: no such track).
    fn lyrics(&self, user: UserId, id: TrackId) -> Result<Option<Vec<Lyrics>>>;
    /// When `user`'s library last changed (Unix milliseconds, each change later than the
    /// one before; `None` before its first change).
    fn library_changed_at(&self, user: UserId) -> Result<Option<i64>>;
}

/// Playlists, favourites and listening history. Every track id must be the user's own, or
/// the call fails with `NotFound` and changes nothing.
pub trait Lists: Send + Sync {
    fn create_playlist(&self, user: UserId, name: &str, tracks: &[TrackId]) -> Result<Playlist>;
    fn list_playlists(&self, user: UserId) -> Result<Vec<Playlist>>;
    fn playlist(&self, user: UserId, id: PlaylistId) -> Result<Option<(Playlist, Vec<Track>)>>;
    /// Renames and/or replaces the track list (which adds, removes and reorders).
    fn update_playlist(&self, user: UserId, id: PlaylistId, name: Option<&str>, tracks: Option<&[TrackId]>) -> Result<()>;
    fn append_to_playlist(&self, user: UserId, id: PlaylistId, tracks: &[TrackId]) -> Result<()>;
    fn delete_playlist(&self, user: UserId, id: PlaylistId) -> Result<()>;
    fn set_star(&self, user: UserId, track: TrackId, starred: bool) -> Result<()>;
    fn favourites(&self, user: UserId) -> Result<Vec<Track>>;
    fn record_play(&self, user: UserId, track: TrackId, at: i64) -> Result<()>;
    /// Rates one of `user`'s tracks 1 to 5, or with `None` removes the rating.
    fn set_rating(&self, user: UserId, track: TrackId, rating: Option<u8>) -> Result<()>;
    /// Saves the user's play queue (every track must be theirs, or `NotFound`).
    fn save_play_queue(&self, user: UserId, queue: &PlayQueue) -> Result<()>;
    /// The saved play queue as it was saved (tracks deleted since are still named).
    fn play_queue(&self, user: UserId) -> Result<Option<PlayQueue>>;
    /// Stars or unstars one of `user`'s albums or artists (`NotFound` if not theirs).
    fn set_group_star(&self, user: UserId, group: GroupId, starred: bool) -> Result<()>;
    /// Rates one of `user`'s albums or artists 1 to 5, or with `None` removes the rating.
    fn set_group_rating(&self, user: UserId, group: GroupId, rating: Option<u8>) -> Result<()>;
    /// Sets the bookmark of one of `user`'s tracks (`NotFound` if not theirs).
    fn set_bookmark(&self, user: UserId, track: TrackId, position_ms: u64, comment: &str) -> Result<()>;
    /// Removes it (`NotFound` if there was none).
    fn delete_bookmark(&self, user: UserId, track: TrackId) -> Result<()>;
    /// `user`'s bookmarks, most recently changed first.
    fn bookmarks(&self, user: UserId) -> Result<Vec<Bookmark>>;
    /// Shares `tracks` (every one `user`'s, or `NotFound`) under `token`.
    fn create_share(&self, user: UserId, token: &str, description: &str, expires_at: Option<i64>, tracks: &[TrackId]) -> Result<Share>;
    fn shares(&self, user: UserId) -> Result<Vec<Share>>;
    /// Changes a share's description and/or expiry (`Some(None)`: never).
    fn update_share(&self, user: UserId, id: i64, description: Option<&str>, expires_at: Option<Option<i64>>) -> Result<()>;
    fn delete_share(&self, user: UserId, id: i64) -> Result<()>;
    /// The share a link names, whoever asks (`None`: no such link, or its owner is disabled).
    fn share_by_token(&self, token: &str) -> Result<Option<Share>>;
    fn count_share_visit(&self, id: i64, now: i64) -> Result<()>;
    /// Every star and rating `user` gave their albums and artists.
    fn group_marks(&self, user: UserId) -> Result<HashMap<GroupId, GroupMark>>;
    /// Starred artists, most recently starred first.
    fn starred_artists(&self, user: UserId) -> Result<Vec<Artist>>;
    /// Plays, stars and ratings of `user`'s tracks among `ids` (tracks with none are absent).
    fn marks(&self, user: UserId, ids: &[TrackId]) -> Result<HashMap<TrackId, Marks>>;
    /// Most recent plays first, and each track's play count.
    fn history(&self, user: UserId, limit: u32) -> Result<(Vec<Play>, HashMap<TrackId, u64>)>;
}

/// Blob bookkeeping: references and sizes for audits and sweeps, stored files (full-decode
/// verification, SHA-256 lookups for instant uploads) and storage use.
pub trait Blobs: Send + Sync {
    /// Blob hashes the catalog references (anything else in the store is an orphan).
    fn referenced_blobs(&self) -> Result<Vec<ContentHash>>;
    /// The same, with the size each blob must have.
    fn referenced_blobs_with_sizes(&self) -> Result<Vec<(ContentHash, u64)>>;
    fn blob_stats(&self) -> Result<BlobStats>;
    /// Whether any track still refers to this blob (checked before deleting it from the store).
    fn blob_referenced(&self, hash: &ContentHash) -> Result<bool>;
    /// Up to `limit` stored files not yet decoded in full since import, with a file name
    /// one of their tracks has (the decoder's hint).
    fn unverified_media(&self, limit: usize) -> Result<Vec<Unverified>>;
    /// Records that the file was decoded in full, and the damage found, if any (kept only if
    /// none was recorded at import).
    fn set_verified(&self, hash: &ContentHash, damage: Option<&str>) -> Result<()>;
    /// Up to `limit` stored files whose lyrics were never read (stored before lyrics were
    /// kept), with a file name one of their tracks has.
    /// Stored files whose loudness was never measured, with how to decode them.
    fn loudness_unmeasured(&self, limit: usize) -> Result<Vec<(Unverified, SourceInfo)>>;
    /// Records a file's loudness (`None`: it could not be measured; not tried again).
    fn set_loudness(&self, hash: &ContentHash, loudness: Option<Loudness>) -> Result<()>;
    fn lyrics_unread(&self, limit: usize) -> Result<Vec<Unverified>>;
    /// Keeps the lyrics read from a stored file and marks it read.
    /// The file's ISRCs go to its tracks that have none recorded yet.
    fn set_lyrics(&self, hash: &ContentHash, lyrics: &[Lyrics], isrc: &[String]) -> Result<()>;
    /// A stored file with this SHA-256 and size, whoever owns it (for instant uploads).
    fn media_by_sha256(&self, sha256: &[u8; 32], size: u64) -> Result<Option<NewMedia>>;
    /// Per-user track counts and original bytes, every user included.
    fn usage_by_user(&self) -> Result<Vec<UserUsage>>;
    /// Bytes of the originals in one user's library (what a quota limits).
    fn user_bytes(&self, user: UserId) -> Result<u64>;
}

/// Resumable uploads kept in the catalog, so that every node of a cluster sees the same
/// state (the single-node default keeps them on disk instead): the upload, the chunks
/// received (their bytes are the store's), and its outcome once finished.
pub trait Resumables: Send + Sync {
    fn create_upload(&self, upload: &UploadRecord) -> Result<()>;
    fn upload(&self, id: &str) -> Result<Option<UploadRecord>>;
    /// The chunks received, in order; together they cover `0..received`.
    fn upload_chunks(&self, id: &str) -> Result<Vec<UploadChunk>>;
    /// Records `len` more bytes received at `start`, if `start` is the upload's offset
    /// (`false` otherwise: another writer moved it, and nothing changes).
    fn add_upload_chunk(&self, id: &str, start: u64, len: u64) -> Result<bool>;
    /// Records what became of the finished upload (the uploads service's own encoding).
    fn set_upload_outcome(&self, id: &str, outcome: &str) -> Result<()>;
    /// Forgets the upload and its chunks.
    fn delete_upload(&self, id: &str) -> Result<()>;
    /// The user's uploads without an outcome that have not expired at `now`: how many,
    /// and the bytes they declared.
    fn unfinished_uploads(&self, user: UserId, now: i64) -> Result<(u64, u64)>;
    /// Uploads that expired before `now`, at most `limit`.
    fn expired_uploads(&self, now: i64, limit: usize) -> Result<Vec<String>>;
}

/// The whole catalog: every repository of one engine. Implemented for anything that
/// implements them all; `Arc<dyn Catalog>` is what the application passes around (import
/// [`prelude`](super::prelude) to call its methods).
pub trait Catalog: Users + Library + Lists + Blobs + Resumables {}

impl<T: Users + Library + Lists + Blobs + Resumables> Catalog for T {}
