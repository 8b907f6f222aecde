//! A user's library, whatever protocol asks: tracks, albums, artists and search, tag
//! edits, deletes, playlists, favourites, listening history, covers (scaled on request,
//! one decode per image however many ask at once), and the administrator's storage
//! figures. Every call takes the user's id; someone else's id is `NotFound`, exactly like
//! a missing one.
//!
//! Owns the rules a second protocol would otherwise copy: playlist names and lengths,
//! scrobble times, search-text bounds, tag-edit validation (the catalog's
//! `rules::validate_edit`), and forgetting cached playback tracks after edits and
//! deletes. Depends on the catalog repositories, `ingest` (deletes), `store` and
//! `media::cover`; knows nothing of HTTP. Methods block, except [`Library::cover`].

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use super::accounts::{AccountError, Actor};
use crate::catalog::fold;
use crate::catalog::{
    Album, AlbumPick, AlbumSort, Artist, Bookmark, Catalog, CatalogError, CoverRef, Filter, Genre, GroupId, GroupMark, Marks, Page, Play, PlayQueue, Playlist,
    SearchResults, Share, TagEdit, Track, UserUsage,
};
use crate::coord::{Coordination, Invalidation};
use crate::domain::{AlbumId, ArtistId, ContentHash, Lyrics, PlaylistId, TrackId, UserId, now_unix};
use crate::ingest::{Ingest, IngestError};
use crate::media::cover::{self, CoverError};
use crate::store::{BlobStore, StoreError};

/// Entries one playlist may hold (Apple Music and Spotify stop at 10,000 too): no
/// playlist costs more than a bounded answer.
pub const MAX_PLAYLIST_TRACKS: usize = 10_000;
/// Longest search text, in bytes.
pub const MAX_SEARCH_TEXT: usize = 512;
/// Search results per kind when the caller names no limit.
pub const DEFAULT_SEARCH_LIMIT: u32 = 20;
/// Listens in a history when the caller names no limit.
pub const DEFAULT_HISTORY_LIMIT: u32 = 50;
/// How far in the future a scrobble's time may be (clocks differ).
const SCROBBLE_SLACK_SECS: i64 = 300;
/// How long a now-playing note lasts without being renewed.
const NOW_PLAYING_SECS: i64 = 600;
/// Players remembered per user.
const NOW_PLAYING_MAX: usize = 16;
/// The coordination namespace of now-playing notes (one per player, shared by every node).
const NOW_PLAYING: &str = "now-playing";
/// Tracks of one title looked at for `lyrics_by_name`.
const LYRICS_CANDIDATES: u32 = 50;
/// Requests that may wait for a cover decode slot before `Busy`.
const COVER_QUEUE: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    BadTag(String),
    #[error("a playlist name is 1 to 200 characters, without control characters")]
    BadPlaylistName,
    #[error("a playlist holds at most {MAX_PLAYLIST_TRACKS} tracks ({0} asked)")]
    PlaylistTooLong(usize),
    #[error("time must be a Unix time not in the future")]
    BadTime,
    #[error("search text is longer than {MAX_SEARCH_TEXT} bytes")]
    SearchTooLong,
    #[error("a rating is 0 (none) to 5 stars")]
    BadRating,
    #[error("a share is of 1 to {MAX_PLAYLIST_TRACKS} tracks, with a description of at most 500 characters, expiring in the future")]
    BadShare,
    #[error("a comment is at most 500 characters")]
    BadComment,
    #[error("the cover cannot be scaled: {0}")]
    Cover(#[from] CoverError),
    #[error("too many covers are being scaled; retry in {0} s")]
    Busy(u32),
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, LibraryError>;

/// What a share is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shared {
    Track(TrackId),
    Album(AlbumId),
    Playlist(PlaylistId),
}

/// Which cover.
#[derive(Debug, Clone, Copy)]
pub enum CoverOf {
    Track(TrackId),
    Album(AlbumId),
}

/// A cover found for a request: its blob, type, and the edge it will be served at (`None`
/// for the stored image as it is). Its identity is known before any byte is read, so
/// revalidation costs nothing.
#[derive(Debug, Clone)]
pub struct CoverPick {
    pub cover: CoverRef,
    pub edge: Option<u32>,
}

/// What users uploaded against what the store holds.
#[derive(Debug, Clone)]
pub struct Storage {
    pub logical_bytes: u64,
    pub physical_bytes: u64,
    pub store_bytes_on_disk: Option<u64>,
    pub blobs: u64,
    pub users: Vec<UserUsage>,
}

impl Storage {
    /// Bytes uploaded per byte stored (1 for an empty store).
    pub fn dedup_ratio(&self) -> f64 {
        if self.physical_bytes > 0 { self.logical_bytes as f64 / self.physical_bytes as f64 } else { 1.0 }
    }
}

#[derive(Clone)]
pub struct Library(Arc<Inner>);

struct Inner {
    catalog: Arc<dyn Catalog>,
    store: Arc<dyn BlobStore>,
    ingest: Arc<Ingest>,
    coord: Arc<dyn Coordination>,
    covers: Covers,
}

/// Cover scaling: one decode per image (single flight, every served edge written from
/// that decode), at most one decode per core at a time, at most [`COVER_QUEUE`] waiting.
struct Covers {
    dir: PathBuf,
    max_edge: u32,
    inflight: dashmap::DashMap<ContentHash, Arc<tokio::sync::Mutex<()>>>,
    slots: tokio::sync::Semaphore,
    waiting: std::sync::atomic::AtomicUsize,
}

fn check_playlist_name(name: &str) -> Result<&str> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 200 || n.chars().any(char::is_control) {
        return Err(LibraryError::BadPlaylistName);
    }
    Ok(n)
}

fn check_playlist_length(n: usize) -> Result<()> {
    if n > MAX_PLAYLIST_TRACKS {
        return Err(LibraryError::PlaylistTooLong(n));
    }
    Ok(())
}

/// A share's bounds: some tracks, not too many, a short description, an expiry ahead.
fn check_share(tracks: usize, description: &str, expires_at: Option<i64>) -> Result<()> {
    let ok = (1..=MAX_PLAYLIST_TRACKS).contains(&tracks)
        && description.chars().count() <= 500
        && !description.chars().any(char::is_control)
        && expires_at.is_none_or(|at| at > now_unix());
    if ok { Ok(()) } else { Err(LibraryError::BadShare) }
}

/// 1 to 5 stars, or 0 for none.
fn rating_of(stars: u8) -> Result<Option<u8>> {
    match stars {
        0 => Ok(None),
        1..=5 => Ok(Some(stars)),
        _ => Err(LibraryError::BadRating),
    }
}

/// A listen's time: now when not given; never in the future (beyond clock slack).
fn scrobble_time(at: Option<i64>, now: i64) -> Result<i64> {
    let at = at.unwrap_or(now);
    if at > now + SCROBBLE_SLACK_SECS || at < 0 {
        return Err(LibraryError::BadTime);
    }
    Ok(at)
}

/// A whole (cover) blob in memory. Blocking.
fn read_blob(store: &dyn BlobStore, hash: &ContentHash) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    store.open(hash)?.read_to_end(&mut out).map_err(|e| LibraryError::Internal(format!("reading cover {hash}: {e}")))?;
    Ok(out)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| LibraryError::Internal(format!("worker task failed: {e}")))?
}

/// Best effort: a cache write that fails only costs a re-scale next time.
fn write_atomic(path: &std::path::Path, bytes: &[u8]) {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::write(&tmp, bytes).is_ok() && std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

impl Library {
    pub fn new(
        catalog: Arc<dyn Catalog>,
        store: Arc<dyn BlobStore>,
        ingest: Arc<Ingest>,
        coord: Arc<dyn Coordination>,
        cover_dir: PathBuf,
        cover_max_edge: u32,
    ) -> Library {
        let slots = tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()));
        let covers = Covers { dir: cover_dir, max_edge: cover_max_edge, inflight: Default::default(), slots, waiting: Default::default() };
        Library(Arc::new(Inner { catalog, store, ingest, coord, covers }))
    }

    fn catalog(&self) -> &dyn Catalog {
        self.0.catalog.as_ref()
    }

    pub fn tracks(&self, user: UserId, page: Page) -> Result<(Vec<Track>, u64)> {
        Ok(self.catalog().list_tracks(user, page)?)
    }

    pub fn track(&self, user: UserId, id: TrackId) -> Result<Track> {
        self.catalog().track(user, id)?.ok_or(LibraryError::NotFound("track"))
    }

    pub fn albums(&self, user: UserId, sort: AlbumSort, page: Page) -> Result<(Vec<Album>, u64)> {
        Ok(self.catalog().list_albums(user, sort, page)?)
    }

    pub fn album(&self, user: UserId, id: AlbumId) -> Result<(Album, Vec<Track>)> {
        self.catalog().album(user, id)?.ok_or(LibraryError::NotFound("album"))
    }

    pub fn artists(&self, user: UserId, page: Page) -> Result<(Vec<Artist>, u64)> {
        Ok(self.catalog().list_artists(user, page)?)
    }

    pub fn artist(&self, user: UserId, id: ArtistId) -> Result<(Artist, Vec<Album>)> {
        self.catalog().artist(user, id)?.ok_or(LibraryError::NotFound("artist"))
    }

    /// Albums in the order `pick` names (by tags, at random, by plays, by stars), filtered
    /// by genre and years.
    pub fn pick_albums(&self, user: UserId, pick: AlbumPick, filter: &Filter, page: Page) -> Result<Vec<Album>> {
        Ok(self.catalog().pick_albums(user, pick, filter, page)?)
    }

    /// Tracks filtered by genre and years, by title or shuffled.
    pub fn pick_tracks(&self, user: UserId, filter: &Filter, random: bool, page: Page) -> Result<Vec<Track>> {
        Ok(self.catalog().pick_tracks(user, filter, random, page)?)
    }

    pub fn genres(&self, user: UserId) -> Result<Vec<Genre>> {
        Ok(self.catalog().genres(user)?)
    }

    /// Diacritic- and case-insensitive search of tracks, albums and artists.
    pub fn search(&self, user: UserId, text: &str, limit: Option<u32>) -> Result<SearchResults> {
        if text.len() > MAX_SEARCH_TEXT {
            return Err(LibraryError::SearchTooLong);
        }
        Ok(self.catalog().search(user, text, limit.unwrap_or(DEFAULT_SEARCH_LIMIT))?)
    }

    /// Edits the track's tags in this user's library only (the stored file, and anyone
    /// else's copy of it, stay as they are); answers the updated track.
    pub fn edit_track(&self, user: UserId, id: TrackId, edit: &TagEdit) -> Result<Track> {
        crate::catalog::rules::validate_edit(edit).map_err(LibraryError::BadTag)?;
        self.catalog().edit_track(user, id, edit)?;
        self.0.coord.invalidate(Invalidation::Track(user, id));
        self.track(user, id)
    }

    /// Removes the track from the user's library; its file goes from the store when nobody
    /// else owns it (after the catalog commit: a crash in between leaves an orphan that the
    /// sweep removes, never a dangling reference).
    pub fn delete_track(&self, user: UserId, id: TrackId) -> Result<()> {
        self.0.ingest.delete_tracks(user, &[id])?;
        self.0.coord.invalidate(Invalidation::Track(user, id));
        Ok(())
    }

    pub fn create_playlist(&self, user: UserId, name: &str, tracks: &[TrackId]) -> Result<Playlist> {
        let name = check_playlist_name(name)?;
        check_playlist_length(tracks.len())?;
        Ok(self.catalog().create_playlist(user, name, tracks)?)
    }

    pub fn playlists(&self, user: UserId) -> Result<Vec<Playlist>> {
        Ok(self.catalog().list_playlists(user)?)
    }

    /// The playlist with its tracks in order, from `offset`, at most `limit` of them.
    pub fn playlist(&self, user: UserId, id: PlaylistId, offset: usize, limit: Option<usize>) -> Result<(Playlist, Vec<Track>)> {
        let (p, tracks) = self.catalog().playlist(user, id)?.ok_or(LibraryError::NotFound("playlist"))?;
        let tracks = tracks.into_iter().skip(offset).take(limit.unwrap_or(MAX_PLAYLIST_TRACKS)).collect();
        Ok((p, tracks))
    }

    /// Renames and/or sets the whole order (which adds, removes and reorders in one step).
    pub fn update_playlist(&self, user: UserId, id: PlaylistId, name: Option<&str>, tracks: Option<&[TrackId]>) -> Result<()> {
        let name = name.map(check_playlist_name).transpose()?;
        check_playlist_length(tracks.map_or(0, <[TrackId]>::len))?;
        Ok(self.catalog().update_playlist(user, id, name, tracks)?)
    }

    pub fn append_to_playlist(&self, user: UserId, id: PlaylistId, tracks: &[TrackId]) -> Result<()> {
        check_playlist_length(tracks.len())?;
        let held = self.catalog().list_playlists(user)?.iter().find(|p| p.id == id).map_or(0, |p| p.track_count as usize);
        check_playlist_length(held + tracks.len())?;
        Ok(self.catalog().append_to_playlist(user, id, tracks)?)
    }

    pub fn delete_playlist(&self, user: UserId, id: PlaylistId) -> Result<()> {
        Ok(self.catalog().delete_playlist(user, id)?)
    }

    pub fn star(&self, user: UserId, id: TrackId, starred: bool) -> Result<()> {
        Ok(self.catalog().set_star(user, id, starred)?)
    }

    /// Stars or unstars songs, albums and artists at once: every one must be the user's
    /// (`NotFound` otherwise, and nothing changes).
    pub fn star_all(&self, user: UserId, tracks: &[TrackId], groups: &[GroupId], starred: bool) -> Result<()> {
        for &t in tracks {
            self.track(user, t)?;
        }
        for &g in groups {
            match g {
                GroupId::Album(a) => drop(self.album(user, a)?),
                GroupId::Artist(a) => drop(self.artist(user, a)?),
            }
        }
        for &t in tracks {
            self.star(user, t, starred)?;
        }
        for &g in groups {
            self.star_group(user, g, starred)?;
        }
        Ok(())
    }

    /// Stars or unstars one of the user's albums or artists.
    pub fn star_group(&self, user: UserId, group: GroupId, starred: bool) -> Result<()> {
        Ok(self.catalog().set_group_star(user, group, starred)?)
    }

    /// Rates one of the user's albums or artists 1 to 5 stars; 0 removes the rating.
    pub fn rate_group(&self, user: UserId, group: GroupId, stars: u8) -> Result<()> {
        Ok(self.catalog().set_group_rating(user, group, rating_of(stars)?)?)
    }

    /// The user's stars and ratings of albums and artists.
    pub fn group_marks(&self, user: UserId) -> Result<std::collections::HashMap<GroupId, GroupMark>> {
        Ok(self.catalog().group_marks(user)?)
    }

    /// Starred artists, most recently starred first.
    pub fn starred_artists(&self, user: UserId) -> Result<Vec<Artist>> {
        Ok(self.catalog().starred_artists(user)?)
    }

    /// The lyrics of one of the user's tracks, as its file carries them (maybe none).
    pub fn lyrics(&self, user: UserId, id: TrackId) -> Result<Vec<Lyrics>> {
        self.catalog().lyrics(user, id)?.ok_or(LibraryError::NotFound("track"))
    }

    /// The first of the user's tracks titled `title` (and by `artist`, when given; both
    /// compared case- and diacritic-insensitively) that has lyrics, with them.
    pub fn lyrics_by_name(&self, user: UserId, artist: Option<&str>, title: &str) -> Result<Option<(Track, Lyrics)>> {
        let (want_title, want_artist) = (fold(title.trim()), artist.map(|a| fold(a.trim())).filter(|a| !a.is_empty()));
        if want_title.is_empty() {
            return Ok(None);
        }
        let hits = self.search(user, title, Some(LYRICS_CANDIDATES))?;
        for t in hits.tracks {
            let artist_matches = want_artist.as_ref().is_none_or(|a| fold(&t.tags.artist) == *a || t.tags.artists.iter().any(|x| fold(x) == *a));
            if fold(&t.tags.title) != want_title || !artist_matches {
                continue;
            }
            if let Some(l) = self.lyrics(user, t.id)?.into_iter().next() {
                return Ok(Some((t, l)));
            }
        }
        Ok(None)
    }

    /// A public link to the tracks of `items` (songs, albums' songs, playlists' songs, in
    /// order), until `expires_at` (Unix seconds, in the future) if given.
    pub fn create_share(&self, user: UserId, items: &[Shared], description: &str, expires_at: Option<i64>) -> Result<Share> {
        let mut tracks = Vec::new();
        for &item in items {
            match item {
                Shared::Track(t) => tracks.push(self.track(user, t)?.id),
                Shared::Album(a) => tracks.extend(self.album(user, a)?.1.iter().map(|t| t.id)),
                Shared::Playlist(p) => tracks.extend(self.playlist(user, p, 0, None)?.1.iter().map(|t| t.id)),
            }
        }
        check_share(tracks.len(), description, expires_at)?;
        let mut raw = [0u8; 18];
        rand::fill(&mut raw[..]);
        let token = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, raw);
        Ok(self.catalog().create_share(user, &token, description.trim(), expires_at, &tracks)?)
    }

    /// Bookmarks where the user stopped in one of their tracks (`comment` at most 500
    /// characters).
    pub fn set_bookmark(&self, user: UserId, track: TrackId, position_ms: u64, comment: &str) -> Result<()> {
        if comment.chars().count() > 500 {
            return Err(LibraryError::BadComment);
        }
        Ok(self.catalog().set_bookmark(user, track, position_ms, comment)?)
    }

    pub fn delete_bookmark(&self, user: UserId, track: TrackId) -> Result<()> {
        Ok(self.catalog().delete_bookmark(user, track)?)
    }

    /// The user's bookmarks with their tracks, most recently changed first.
    pub fn bookmarks(&self, user: UserId) -> Result<Vec<(Bookmark, Track)>> {
        let mut out = Vec::new();
        for b in self.catalog().bookmarks(user)? {
            if let Some(t) = self.catalog().track(user, b.track)? {
                out.push((b, t));
            }
        }
        Ok(out)
    }

    /// The user's shares, newest first.
    pub fn shares(&self, user: UserId) -> Result<Vec<Share>> {
        Ok(self.catalog().shares(user)?)
    }

    pub fn update_share(&self, user: UserId, id: i64, description: Option<&str>, expires_at: Option<Option<i64>>) -> Result<()> {
        check_share(1, description.unwrap_or(""), expires_at.flatten())?;
        Ok(self.catalog().update_share(user, id, description.map(str::trim), expires_at)?)
    }

    pub fn delete_share(&self, user: UserId, id: i64) -> Result<()> {
        Ok(self.catalog().delete_share(user, id)?)
    }

    /// A live share by its link: not expired, its owner enabled (`NotFound` otherwise).
    fn live_share(&self, token: &str) -> Result<Share> {
        let now = now_unix();
        let found = if token.is_empty() || token.len() > 64 { None } else { self.catalog().share_by_token(token)? };
        found.filter(|s| s.expires_at.is_none_or(|at| at > now)).ok_or(LibraryError::NotFound("share"))
    }

    /// What a public link shows, to anyone holding it: the share and its tracks (in their
    /// owner's library); the visit is counted. Checked again for every track played
    /// ([`Library::shared_track`]), so a link stops the moment it expires or goes.
    pub fn visit_share(&self, token: &str) -> Result<(Share, Vec<Track>)> {
        let mut share = self.live_share(token)?;
        let now = now_unix();
        self.catalog().count_share_visit(share.id, now)?;
        (share.visits, share.last_visited_at) = (share.visits + 1, Some(now));
        let mut tracks = Vec::with_capacity(share.tracks.len());
        for &id in &share.tracks {
            if let Some(t) = self.catalog().track(share.user, id)? {
                tracks.push(t);
            }
        }
        Ok((share, tracks))
    }

    /// The `n`th track (from 0) of a live share, with its owner: what a link's player asks
    /// for (`NotFound` once the link expired, went, or its owner was disabled).
    pub fn shared_track(&self, token: &str, n: usize) -> Result<(UserId, TrackId)> {
        let share = self.live_share(token)?;
        let id = share.tracks.get(n).copied().ok_or(LibraryError::NotFound("track"))?;
        Ok((share.user, id))
    }

    /// When the user's library last changed (Unix milliseconds, each change later than the
    /// one before), if it ever did.
    pub fn changed_at(&self, user: UserId) -> Result<Option<i64>> {
        Ok(self.catalog().library_changed_at(user)?)
    }

    /// Rates one of the user's tracks 1 to 5 stars; 0 removes the rating.
    pub fn rate(&self, user: UserId, id: TrackId, stars: u8) -> Result<()> {
        Ok(self.catalog().set_rating(user, id, rating_of(stars)?)?)
    }

    /// Saves the user's play queue: at most [`MAX_PLAYLIST_TRACKS`] of their tracks, the
    /// current one among them, a position in it; `client` says who saved it.
    pub fn save_play_queue(&self, user: UserId, tracks: Vec<TrackId>, current: Option<TrackId>, position_ms: u64, client: &str) -> Result<()> {
        check_playlist_length(tracks.len())?;
        if current.is_some_and(|c| !tracks.contains(&c)) {
            return Err(LibraryError::NotFound("current track in the queue"));
        }
        let q = PlayQueue { tracks, current, position_ms, changed_at: now_unix(), changed_by: client.chars().take(100).collect() };
        Ok(self.catalog().save_play_queue(user, &q)?)
    }

    /// The saved play queue with its tracks (those deleted since are left out).
    pub fn play_queue(&self, user: UserId) -> Result<Option<(PlayQueue, Vec<Track>)>> {
        let Some(mut q) = self.catalog().play_queue(user)? else { return Ok(None) };
        let mut tracks = Vec::with_capacity(q.tracks.len());
        for &id in &q.tracks {
            if let Some(t) = self.catalog().track(user, id)? {
                tracks.push(t);
            }
        }
        q.tracks = tracks.iter().map(|t| t.id).collect();
        q.current = q.current.filter(|c| q.tracks.contains(c));
        Ok(Some((q, tracks)))
    }

    /// What the user did with these tracks: plays, stars, ratings.
    pub fn marks(&self, user: UserId, ids: &[TrackId]) -> Result<std::collections::HashMap<TrackId, Marks>> {
        Ok(self.catalog().marks(user, ids)?)
    }

    /// Starred tracks, most recently starred first.
    pub fn favourites(&self, user: UserId) -> Result<Vec<Track>> {
        Ok(self.catalog().favourites(user)?)
    }

    /// Records a listen at `at` (Unix seconds; now when `None`).
    pub fn scrobble(&self, user: UserId, id: TrackId, at: Option<i64>) -> Result<()> {
        let at = scrobble_time(at, now_unix())?;
        Ok(self.catalog().record_play(user, id, at)?)
    }

    /// Notes that `player` is playing one of the user's tracks now (replacing that player's
    /// previous note), for every node to see.
    pub fn playing_now(&self, user: UserId, id: TrackId, player: &str) -> Result<()> {
        self.track(user, id)?;
        let player: String = player.chars().take(100).collect();
        let note = format!("{} {}", id.0, now_unix()).into_bytes();
        self.0.coord.note(NOW_PLAYING, user, &player, note, NOW_PLAYING_SECS, NOW_PLAYING_MAX);
        Ok(())
    }

    /// What the user's players are playing now, newest first: the track, the player, and
    /// how many minutes ago it started. Only the user's own: libraries are private.
    pub fn now_playing(&self, user: UserId) -> Result<Vec<(Track, String, i64)>> {
        let now = now_unix();
        let mut out = Vec::new();
        for (player, note) in self.0.coord.notes(NOW_PLAYING, user) {
            let parsed = std::str::from_utf8(&note).ok().and_then(|n| n.split_once(' ')).and_then(|(id, at)| Some((id.parse().ok()?, at.parse::<i64>().ok()?)));
            let Some((id, at)) = parsed else { continue };
            if let Some(t) = self.catalog().track(user, TrackId(id))? {
                out.push((t, player, (now - at) / 60));
            }
        }
        Ok(out)
    }

    /// Recent listens (the last [`DEFAULT_HISTORY_LIMIT`] unless told), newest first, and
    /// each track's play count.
    pub fn history(&self, user: UserId, limit: Option<u32>) -> Result<(Vec<Play>, std::collections::HashMap<TrackId, u64>)> {
        Ok(self.catalog().history(user, limit.unwrap_or(DEFAULT_HISTORY_LIMIT))?)
    }

    /// What users uploaded against what is stored, and per-user usage: administrators only.
    pub fn storage(&self, actor: Actor<'_>) -> Result<Storage> {
        actor.require_admin()?;
        let stats = self.catalog().blob_stats()?;
        let users = self.catalog().usage_by_user()?;
        let store_bytes_on_disk = self.0.store.physical_bytes()?;
        Ok(Storage { logical_bytes: stats.logical_bytes, physical_bytes: stats.physical_bytes, store_bytes_on_disk, blobs: stats.blobs, users })
    }

    /// Which cover a request gets, at which edge (a requested size snaps to one of
    /// [`cover::EDGES`], at most the configured largest).
    pub fn cover_pick(&self, user: UserId, of: CoverOf, size: Option<u32>) -> Result<CoverPick> {
        let found = match of {
            CoverOf::Track(id) => self.catalog().track_cover(user, id)?,
            CoverOf::Album(id) => self.catalog().album_cover(user, id)?,
        };
        let cover = found.ok_or(LibraryError::NotFound("cover"))?;
        Ok(CoverPick { cover, edge: size.map(|n| cover::snap(n, self.0.covers.max_edge)) })
    }

    /// The bytes and MIME type of a picked cover: the stored image, or a JPEG scaled to
    /// the edge (cached on disk by blob and edge).
    pub async fn cover(&self, pick: CoverPick) -> Result<(Vec<u8>, String)> {
        let store = self.0.store.clone();
        let hash = pick.cover.hash;
        match pick.edge {
            None => Ok((blocking(move || read_blob(store.as_ref(), &hash)).await?, pick.cover.mime)),
            Some(edge) => Ok((self.scaled_cover(hash, edge).await?, "image/jpeg".to_string())),
        }
    }

    async fn scaled_cover(&self, hash: ContentHash, edge: u32) -> Result<Vec<u8>> {
        use std::sync::atomic::Ordering::Relaxed;
        let work = &self.0.covers;
        let file = |e: u32| work.dir.join(format!("{}-{e}.jpg", hash.to_hex()));
        let wanted = file(edge);
        let read_cached = || {
            let f = wanted.clone();
            blocking(move || Ok(std::fs::read(f).ok()))
        };
        if let Some(b) = read_cached().await? {
            return Ok(b);
        }
        if work.waiting.fetch_add(1, Relaxed) >= COVER_QUEUE {
            work.waiting.fetch_sub(1, Relaxed);
            return Err(LibraryError::Busy(1));
        }
        let flight = work.inflight.entry(hash).or_default().clone();
        let result = async {
            let _one = flight.lock().await;
            // Whoever held the lock before may have written it.
            if let Some(b) = read_cached().await? {
                return Ok(b);
            }
            let _slot = work.slots.acquire().await.map_err(|e| LibraryError::Internal(e.to_string()))?;
            let (store, max, dir) = (self.0.store.clone(), work.max_edge, work.dir.clone());
            blocking(move || {
                let original = read_blob(store.as_ref(), &hash)?;
                let mut edges: Vec<u32> = cover::EDGES.iter().copied().filter(|&e| e <= max).collect();
                if !edges.contains(&max) {
                    edges.push(max);
                }
                let mut wanted = None;
                for (e, jpeg) in cover::scale_to_jpegs(&original, &edges)? {
                    write_atomic(&dir.join(format!("{}-{e}.jpg", hash.to_hex())), &jpeg);
                    if e == edge {
                        wanted = Some(jpeg);
                    }
                }
                wanted.ok_or_else(|| LibraryError::Internal(format!("cover edge {edge} was not produced")))
            })
            .await
        }
        .await;
        work.waiting.fetch_sub(1, Relaxed);
        work.inflight.remove_if(&hash, |_, f| Arc::strong_count(f) <= 2);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playlist_names_and_lengths_are_bounded() {
        assert_eq!(check_playlist_name("  Road trip ").ok(), Some("Road trip"));
        assert!(check_playlist_name("   ").is_err());
        assert!(check_playlist_name(&"x".repeat(201)).is_err());
        assert!(check_playlist_name("a\nb").is_err());
        assert!(check_playlist_length(MAX_PLAYLIST_TRACKS).is_ok());
        assert!(matches!(check_playlist_length(MAX_PLAYLIST_TRACKS + 1), Err(LibraryError::PlaylistTooLong(10_001))));
    }

    #[test]
    fn scrobbles_are_not_from_the_future() {
        assert_eq!(scrobble_time(None, 1000).ok(), Some(1000));
        assert_eq!(scrobble_time(Some(1200), 1000).ok(), Some(1200), "clock slack");
        assert!(scrobble_time(Some(1301), 1000).is_err());
        assert!(scrobble_time(Some(-1), 1000).is_err());
    }
}
