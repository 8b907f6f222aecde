//! The catalog's writes as engine-neutral transactions. Each reads what a rule needs, asks
//! [`rules`] what to do, and runs the statements that do it, inside one transaction that an
//! engine opens with [`Transact::write`]. An engine implements the statement traits
//! ([`UsersTx`], [`LibraryTx`], [`ListsTx`]) with its SQL and row mapping and nothing else,
//! so a second engine (PostgreSQL) shares every decision made here.
//!
//! Owns: the order of each write's statements and the errors writes fail with. Must not
//! depend on an engine (no rusqlite, no SQL text), the clock, the store, media or HTTP.

use std::collections::HashMap;

use super::rules::{self, AlbumChoice, AlbumHead, AlbumPlan, AlbumsFound, FolderAlbum, FolderLink, VARIOUS};
use super::{AddOutcome, CatalogError, NewCover, NewMedia, NewTrack, Result, SourceFile, TagEdit, User, UserChange};
use crate::domain::{AlbumId, ArtistId, ContentHash, Lyrics, Part, PlaylistId, Tags, TrackId, UserId};

/// An engine's transaction closure: what a rule that reads, decides and writes runs in.
pub(crate) trait Transact {
    /// The engine's open transaction, with every statement the writes here need.
    type Tx<'a>: UsersTx + LibraryTx + ListsTx;
    /// Runs `f` in one transaction (writers one at a time), committed if `f` returns `Ok`,
    /// rolled back otherwise.
    fn write<T>(&self, f: impl FnOnce(&mut Self::Tx<'_>) -> Result<T>) -> Result<T>;
}

/// Statements on users and sessions.
pub(crate) trait UsersTx {
    /// `None` when the name is taken.
    fn insert_user(&mut self, username: &str, password_hash: &str, is_admin: bool, now: i64) -> Result<Option<UserId>>;
    fn user_id(&mut self, username: &str) -> Result<Option<UserId>>;
    fn user_exists(&mut self, id: UserId) -> Result<bool>;
    /// Sets the hash and forgets the sealed copy of the old password.
    fn set_password_hash(&mut self, id: UserId, password_hash: &str) -> Result<()>;
    fn set_disabled(&mut self, id: UserId, disabled: bool) -> Result<()>;
    fn set_quota(&mut self, id: UserId, quota_bytes: Option<u64>) -> Result<()>;
    fn set_admin(&mut self, id: UserId, is_admin: bool) -> Result<()>;
    /// Deletes the user row and their whole library (sources, tracks, albums, artists).
    fn delete_user_rows(&mut self, id: UserId) -> Result<()>;
    fn end_sessions(&mut self, user: UserId) -> Result<()>;
    fn delete_expired_sessions(&mut self, now: i64) -> Result<()>;
    fn insert_session(&mut self, token_hash: &[u8; 32], user: UserId, now: i64, expires_at: i64) -> Result<()>;
    fn delete_session_row(&mut self, token_hash: &[u8; 32]) -> Result<bool>;
}

/// The blob references a track holds, and its file.
pub(crate) struct HeldBlobs {
    pub media: ContentHash,
    pub parts: Vec<Part>,
    pub cover: Option<ContentHash>,
}

/// A track as an edit finds it.
pub(crate) struct EditState {
    /// Its tags as the catalog holds them, but the album artist (see `album_artist`).
    pub tags: Tags,
    pub album: AlbumId,
    /// Its album's artist, and whether the tags named it ([`AlbumPlan::explicit`]).
    pub album_artist: String,
    pub explicit: bool,
    pub folder: Option<String>,
    pub secs: f64,
    pub cover: Option<ContentHash>,
}

/// A new album row.
pub(crate) struct NewAlbum<'a> {
    pub key: &'a str,
    pub title: &'a str,
    pub artist: &'a str,
    pub artist_id: ArtistId,
    pub explicit: bool,
    pub sort_title: String,
    pub sort_artist: String,
    pub year: Option<i32>,
    pub genre: Option<&'a str>,
    pub compilation: bool,
    pub added_at: i64,
}

/// Where a track goes and what it is called there.
pub(crate) struct Placed<'a> {
    pub album: AlbumId,
    pub artist: ArtistId,
    pub title: &'a str,
    pub display: &'a str,
    pub names: &'a [String],
}

/// Statements on libraries, media and blob references.
pub(crate) trait LibraryTx {
    /// Marks every in-memory search index stale (in this process and any other).
    /// Moves `user`'s library generation on (to a value never used before) and notes when.
    fn bump_generation(&mut self, user: UserId, now: i64) -> Result<()>;
    fn record_source(&mut self, user: UserId, source: &SourceFile, track: TrackId) -> Result<()>;
    /// The user's track with this file, if any.
    fn track_with_media(&mut self, user: UserId, media: &ContentHash) -> Result<Option<TrackId>>;
    /// The parts recorded for a stored file, if it is stored and they are readable.
    fn media_parts(&mut self, media: &ContentHash) -> Result<Option<Vec<Part>>>;
    /// Stores the file's row unless it is there, and its SHA-256 if the row has none.
    fn put_media(&mut self, media: &NewMedia, parts: &[Part]) -> Result<()>;
    /// Keeps a stored file's lyrics (those it already has stay) and marks them read.
    fn put_lyrics(&mut self, media: &ContentHash, lyrics: &[Lyrics]) -> Result<()>;
    /// Stores the cover's row unless it is there.
    fn put_cover(&mut self, cover: &NewCover) -> Result<()>;
    /// Counts one more reference to a blob (recording it with its size if new).
    fn add_blob_ref(&mut self, hash: &ContentHash, size: u64, now: i64) -> Result<()>;
    /// The stored reference counts of those of `hashes` that are catalogued.
    fn blob_refs(&mut self, hashes: &[ContentHash]) -> Result<HashMap<ContentHash, u64>>;
    fn set_blob_refs(&mut self, hash: &ContentHash, refs: u64) -> Result<()>;
    /// Forgets a blob no track refers to: its row, its cover row, albums showing it.
    fn forget_blob(&mut self, hash: &ContentHash) -> Result<()>;
    /// Removes the rows of files no track refers to any more, among `media`.
    fn drop_unused_media(&mut self, media: &[ContentHash]) -> Result<()>;
    fn artist_by_key(&mut self, user: UserId, key: &str) -> Result<Option<ArtistId>>;
    fn insert_artist(&mut self, user: UserId, name: &str, key: &str, sort_key: &str) -> Result<ArtistId>;
    fn album_by_key(&mut self, user: UserId, key: &str) -> Result<Option<AlbumId>>;
    fn album_head(&mut self, album: AlbumId) -> Result<AlbumHead>;
    /// How many distinct primary artists the album's tracks have.
    fn album_artist_count(&mut self, album: AlbumId) -> Result<u64>;
    /// Whether a track of the album other than `except` was imported from `folder`.
    fn album_has_folder(&mut self, album: AlbumId, folder: &str, except: Option<TrackId>) -> Result<bool>;
    fn insert_album(&mut self, user: UserId, album: &NewAlbum<'_>) -> Result<AlbumId>;
    /// Makes the album a compilation of `artist` ("Various Artists").
    fn set_album_various(&mut self, album: AlbumId, artist: &str, artist_id: ArtistId, sort_artist: &str) -> Result<()>;
    /// Counts a track (already pointing at the album) into its totals: one more track,
    /// `secs` more; year the earliest known, genre and cover the first known.
    fn album_add_track(&mut self, album: AlbumId, secs: f64, year: Option<i32>, genre: Option<&str>, cover: Option<&ContentHash>) -> Result<()>;
    /// Takes a track out of an album's totals; an album left empty goes.
    fn album_remove_track(&mut self, album: AlbumId, secs: f64) -> Result<()>;
    /// Recomputes the album's year and genre from its tracks.
    fn album_refresh(&mut self, album: AlbumId) -> Result<()>;
    /// Moves every track of `from` into `into`, adds its totals there, and drops `from`.
    fn merge_album(&mut self, from: AlbumId, into: AlbumId) -> Result<()>;
    fn insert_track(&mut self, t: &NewTrack, at: &Placed<'_>, cover: Option<&ContentHash>, now: i64) -> Result<TrackId>;
    /// Rewrites a track's tags and place.
    fn update_track(&mut self, id: TrackId, tags: &Tags, at: &Placed<'_>) -> Result<()>;
    fn link_artist(&mut self, track: TrackId, artist: ArtistId, position: usize) -> Result<()>;
    fn unlink_artists(&mut self, track: TrackId) -> Result<()>;
    fn edit_state(&mut self, user: UserId, id: TrackId) -> Result<Option<EditState>>;
    /// What deleting one of the user's tracks releases: its blobs, album and seconds.
    fn delete_state(&mut self, user: UserId, id: TrackId) -> Result<Option<(HeldBlobs, AlbumId, f64)>>;
    fn delete_track_row(&mut self, id: TrackId) -> Result<()>;
    /// The blobs every track of the user holds.
    fn user_blobs(&mut self, user: UserId) -> Result<Vec<HeldBlobs>>;
}

/// Statements on playlists, favourites and plays.
pub(crate) trait ListsTx {
    fn playlist_is_users(&mut self, user: UserId, id: PlaylistId) -> Result<bool>;
    fn track_is_users(&mut self, user: UserId, track: TrackId) -> Result<bool>;
    fn insert_playlist(&mut self, user: UserId, name: &str, now: i64) -> Result<PlaylistId>;
    fn rename_playlist(&mut self, id: PlaylistId, name: &str) -> Result<()>;
    fn clear_playlist(&mut self, id: PlaylistId) -> Result<()>;
    /// The position after the playlist's last track (0 when empty).
    fn next_playlist_position(&mut self, id: PlaylistId) -> Result<i64>;
    fn insert_playlist_track(&mut self, id: PlaylistId, position: i64, track: TrackId) -> Result<()>;
    fn touch_playlist(&mut self, id: PlaylistId, now: i64) -> Result<()>;
    fn remove_playlist(&mut self, id: PlaylistId) -> Result<()>;
    fn star(&mut self, user: UserId, track: TrackId, now: i64) -> Result<()>;
    fn unstar(&mut self, user: UserId, track: TrackId) -> Result<()>;
    fn insert_play(&mut self, user: UserId, track: TrackId, at: i64) -> Result<()>;
}

// Users.

pub(crate) fn create_user<T: UsersTx + ?Sized>(tx: &mut T, username: &str, password_hash: &str, is_admin: bool, now: i64) -> Result<User> {
    let id = tx.insert_user(username, password_hash, is_admin, now)?.ok_or_else(|| CatalogError::Conflict(format!("user '{username}'")))?;
    Ok(User { id, username: username.to_string(), is_admin, created_at: now, disabled: false, quota_bytes: None })
}

fn user_named<T: UsersTx + ?Sized>(tx: &mut T, username: &str) -> Result<UserId> {
    tx.user_id(username)?.ok_or_else(|| CatalogError::NotFound(format!("user '{username}'")))
}

pub(crate) fn set_password<T: UsersTx + ?Sized>(tx: &mut T, username: &str, password_hash: &str) -> Result<()> {
    let id = user_named(tx, username)?;
    tx.set_password_hash(id, password_hash)?;
    // A new password ends every existing session.
    tx.end_sessions(id)
}

pub(crate) fn update_user<T: UsersTx + ?Sized>(tx: &mut T, id: UserId, change: &UserChange) -> Result<()> {
    if !tx.user_exists(id)? {
        return Err(CatalogError::NotFound("user".into()));
    }
    if let Some(a) = change.is_admin {
        tx.set_admin(id, a)?;
    }
    if let Some(d) = change.disabled {
        tx.set_disabled(id, d)?;
        if d {
            tx.end_sessions(id)?;
        }
    }
    if let Some(q) = change.quota_bytes {
        tx.set_quota(id, q)?;
    }
    Ok(())
}

pub(crate) fn create_session<T: UsersTx + ?Sized>(tx: &mut T, user: UserId, token_hash: &[u8; 32], now: i64, expires_at: i64) -> Result<()> {
    tx.delete_expired_sessions(now)?;
    tx.insert_session(token_hash, user, now, expires_at)
}

pub(crate) fn delete_user<T: UsersTx + LibraryTx + ?Sized>(tx: &mut T, username: &str) -> Result<Vec<ContentHash>> {
    let uid = user_named(tx, username)?;
    let mut refs = Vec::new();
    let mut media = Vec::new();
    for held in tx.user_blobs(uid)? {
        refs.extend(rules::track_refs(&held.parts, held.cover));
        media.push(held.media);
    }
    tx.delete_user_rows(uid)?;
    tx.drop_unused_media(&media)?;
    release_blobs(tx, &refs)
}

// Library.

pub(crate) fn add_tracks<T: LibraryTx + ?Sized>(tx: &mut T, batch: &[NewTrack], now: i64) -> Result<Vec<AddOutcome>> {
    let mut users: Vec<UserId> = batch.iter().map(|t| t.user).collect();
    users.sort_unstable_by_key(|u| u.0);
    users.dedup();
    for u in users {
        tx.bump_generation(u, now)?;
    }
    batch.iter().map(|t| add_track(tx, t, now)).collect()
}

fn record_source<T: LibraryTx + ?Sized>(tx: &mut T, t: &NewTrack, track: TrackId) -> Result<()> {
    match &t.source {
        Some(s) => tx.record_source(t.user, s, track),
        None => Ok(()),
    }
}

fn add_track<T: LibraryTx + ?Sized>(tx: &mut T, t: &NewTrack, now: i64) -> Result<AddOutcome> {
    let user = t.user;
    if let Some(id) = tx.track_with_media(user, &t.media.hash)? {
        record_source(tx, t, id)?;
        return Ok(AddOutcome::AlreadyPresent(id));
    }
    // A file already stored for someone keeps its recorded parts (they describe the same bytes).
    let parts = match tx.media_parts(&t.media.hash)? {
        Some(parts) => parts,
        None => t.media.parts.clone(),
    };
    if !rules::parts_add_up(&parts, t.media.size) {
        return Err(CatalogError::Invalid(format!("parts of {} do not add up to its size", t.media.hash)));
    }
    for part in &parts {
        tx.add_blob_ref(&part.hash, part.len, now)?;
    }
    tx.put_media(&t.media, &parts)?;
    // A file stored before lyrics were kept may meet its lyrics here (or later, in the
    // background read of `Blobs::lyrics_unread`).
    if !t.tags.lyrics.is_empty() {
        tx.put_lyrics(&t.media.hash, &t.tags.lyrics)?;
    }
    if let Some(c) = &t.cover {
        tx.add_blob_ref(&c.hash, c.size, now)?;
        tx.put_cover(c)?;
    }
    let tags = &t.tags;
    let title = rules::track_title(tags, &t.file_name);
    let display = rules::display_artist(tags);
    let names = rules::artist_names(tags, &display);
    let primary = artist_id(tx, user, &names[0])?;
    let plan = rules::plan_album(tags, t.folder.as_deref(), &display);
    let choice = choose_album(tx, user, &plan, None)?;
    let album = match choice.album {
        Some(id) => id,
        None => new_album(tx, user, &plan, tags, now)?,
    };
    let cover = t.cover.as_ref().map(|c| c.hash);
    let at = Placed { album, artist: primary, title: &title, display: &display, names: &names };
    let id = tx.insert_track(t, &at, cover.as_ref(), now)?;
    link_artists(tx, user, id, primary, &names)?;
    join_album(tx, user, album, t.media.props.duration_secs(), tags, cover.as_ref())?;
    absorb(tx, &choice, album)?;
    record_source(tx, t, id)?;
    Ok(AddOutcome::Added(id))
}

/// The artist row for `name` in `user`'s library, created if needed.
fn artist_id<T: LibraryTx + ?Sized>(tx: &mut T, user: UserId, name: &str) -> Result<ArtistId> {
    let key = rules::artist_key(name);
    if let Some(id) = tx.artist_by_key(user, &key)? {
        return Ok(id);
    }
    tx.insert_artist(user, name, &key, &rules::sort_key(name))
}

/// Looks up what the plan's choice depends on and lets the rules choose.
fn choose_album<T: LibraryTx + ?Sized>(tx: &mut T, user: UserId, plan: &AlbumPlan, except: Option<TrackId>) -> Result<AlbumChoice> {
    let mut found = AlbumsFound { keyed: tx.album_by_key(user, &plan.key)?, ..AlbumsFound::default() };
    match &plan.folder {
        Some(FolderLink::Join { key, folder }) => {
            if let Some(id) = tx.album_by_key(user, key)?
                && tx.album_has_folder(id, folder, except)?
            {
                found.tagged = Some(id);
            }
        }
        Some(FolderLink::Absorb { key }) => {
            if let Some(id) = tx.album_by_key(user, key)? {
                found.untagged = Some(FolderAlbum { id, head: tx.album_head(id)?, artist_count: tx.album_artist_count(id)? });
            }
        }
        None => {}
    }
    Ok(rules::choose_album(plan, &found))
}

fn new_album<T: LibraryTx + ?Sized>(tx: &mut T, user: UserId, plan: &AlbumPlan, tags: &Tags, now: i64) -> Result<AlbumId> {
    let artist_id = artist_id(tx, user, &plan.artist)?;
    tx.insert_album(
        user,
        &NewAlbum {
            key: &plan.key,
            title: &plan.title,
            artist: &plan.artist,
            artist_id,
            explicit: plan.explicit,
            sort_title: rules::sort_key(&plan.title),
            sort_artist: rules::sort_key(&plan.artist),
            year: tags.year,
            genre: tags.genre.as_deref(),
            compilation: tags.compilation,
            added_at: now,
        },
    )
}

fn link_artists<T: LibraryTx + ?Sized>(tx: &mut T, user: UserId, track: TrackId, primary: ArtistId, names: &[String]) -> Result<()> {
    for (pos, name) in names.iter().enumerate() {
        let aid = if pos == 0 { primary } else { artist_id(tx, user, name)? };
        tx.link_artist(track, aid, pos)?;
    }
    Ok(())
}

/// Counts a track (already pointing at `album`) into the album, which may make it a
/// compilation.
fn join_album<T: LibraryTx + ?Sized>(tx: &mut T, user: UserId, album: AlbumId, secs: f64, tags: &Tags, cover: Option<&ContentHash>) -> Result<()> {
    tx.album_add_track(album, secs, tags.year, tags.genre.as_deref(), cover)?;
    let head = tx.album_head(album)?;
    // Its artists are counted only where they can make a difference.
    if rules::may_become_various(&head) && rules::becomes_various(&head, tx.album_artist_count(album)?) {
        let va = artist_id(tx, user, VARIOUS)?;
        tx.set_album_various(album, VARIOUS, va, &rules::sort_key(VARIOUS))?;
    }
    Ok(())
}

/// Merges the album the choice takes in (if it is still there) into `album`.
fn absorb<T: LibraryTx + ?Sized>(tx: &mut T, choice: &AlbumChoice, album: AlbumId) -> Result<()> {
    match choice.absorb {
        Some(from) if from != album => tx.merge_album(from, album),
        _ => Ok(()),
    }
}

pub(crate) fn edit_track<T: LibraryTx + ?Sized>(tx: &mut T, user: UserId, id: TrackId, edit: &TagEdit, now: i64) -> Result<()> {
    rules::validate_edit(edit).map_err(CatalogError::Invalid)?;
    let st = tx.edit_state(user, id)?.ok_or_else(|| CatalogError::NotFound(format!("track {id}")))?;
    let mut tags = st.tags;
    // A track of an album its tags named has that album artist until an edit changes it.
    tags.album_artist = st.explicit.then_some(st.album_artist);
    rules::apply_edit(&mut tags, edit);
    let title = tags.title.clone().ok_or_else(|| CatalogError::Invalid("a track needs a title".into()))?;
    let display = rules::display_artist(&tags);
    let names = rules::artist_names(&tags, &display);
    let primary = artist_id(tx, user, &names[0])?;
    let plan = rules::plan_album(&tags, st.folder.as_deref(), &display);
    let choice = choose_album(tx, user, &plan, Some(id))?;
    let album = match choice.album {
        Some(a) => a,
        None => new_album(tx, user, &plan, &tags, now)?,
    };
    tx.update_track(id, &tags, &Placed { album, artist: primary, title: &title, display: &display, names: &names })?;
    tx.unlink_artists(id)?;
    link_artists(tx, user, id, primary, &names)?;
    // Joined before leaving, so an album the track stays in is never emptied.
    join_album(tx, user, album, st.secs, &tags, st.cover.as_ref())?;
    tx.album_remove_track(st.album, st.secs)?;
    if album == st.album {
        // Its year and genre may have been this track's alone.
        tx.album_refresh(album)?;
    }
    absorb(tx, &choice, album)?;
    tx.bump_generation(user, now)
}

pub(crate) fn delete_tracks<T: LibraryTx + ?Sized>(tx: &mut T, user: UserId, ids: &[TrackId], now: i64) -> Result<Vec<ContentHash>> {
    let mut refs = Vec::new();
    let mut media = Vec::new();
    for &id in ids {
        let (held, album, secs) = tx.delete_state(user, id)?.ok_or_else(|| CatalogError::NotFound(format!("track {id}")))?;
        tx.delete_track_row(id)?;
        tx.album_remove_track(album, secs)?;
        refs.extend(rules::track_refs(&held.parts, held.cover));
        media.push(held.media);
    }
    tx.bump_generation(user, now)?;
    tx.drop_unused_media(&media)?;
    release_blobs(tx, &refs)
}

/// Drops one reference per entry; blobs left without any lose their catalog rows and are
/// returned for deletion from the store.
fn release_blobs<T: LibraryTx + ?Sized>(tx: &mut T, refs: &[ContentHash]) -> Result<Vec<ContentHash>> {
    let mut counts = tx.blob_refs(refs)?;
    let freed = rules::release(&mut counts, refs);
    for (hash, n) in &counts {
        tx.set_blob_refs(hash, *n)?;
    }
    for hash in &freed {
        tx.forget_blob(hash)?;
    }
    Ok(freed)
}

// Lists.

/// Fails with `NotFound` unless playlist `id` is `user`'s.
fn owned_playlist<T: ListsTx + ?Sized>(tx: &mut T, user: UserId, id: PlaylistId) -> Result<()> {
    if tx.playlist_is_users(user, id)? { Ok(()) } else { Err(CatalogError::NotFound("playlist".into())) }
}

/// Fails with `NotFound` unless every track is `user`'s.
fn owned_tracks<T: ListsTx + ?Sized>(tx: &mut T, user: UserId, tracks: &[TrackId]) -> Result<()> {
    for &t in tracks {
        if !tx.track_is_users(user, t)? {
            return Err(CatalogError::NotFound(format!("track {t}")));
        }
    }
    Ok(())
}

fn put_playlist_tracks<T: ListsTx + ?Sized>(tx: &mut T, user: UserId, id: PlaylistId, tracks: &[TrackId], from: i64) -> Result<()> {
    owned_tracks(tx, user, tracks)?;
    for (i, &t) in tracks.iter().enumerate() {
        tx.insert_playlist_track(id, from + i as i64, t)?;
    }
    Ok(())
}

/// Creates the playlist; its id.
pub(crate) fn create_playlist<T: ListsTx + ?Sized>(tx: &mut T, user: UserId, name: &str, tracks: &[TrackId], now: i64) -> Result<PlaylistId> {
    let id = tx.insert_playlist(user, name, now)?;
    put_playlist_tracks(tx, user, id, tracks, 0)?;
    Ok(id)
}

pub(crate) fn update_playlist<T: ListsTx + ?Sized>(
    tx: &mut T,
    user: UserId,
    id: PlaylistId,
    name: Option<&str>,
    tracks: Option<&[TrackId]>,
    now: i64,
) -> Result<()> {
    owned_playlist(tx, user, id)?;
    if let Some(n) = name {
        tx.rename_playlist(id, n)?;
    }
    if let Some(t) = tracks {
        tx.clear_playlist(id)?;
        put_playlist_tracks(tx, user, id, t, 0)?;
    }
    tx.touch_playlist(id, now)
}

pub(crate) fn append_to_playlist<T: ListsTx + ?Sized>(tx: &mut T, user: UserId, id: PlaylistId, tracks: &[TrackId], now: i64) -> Result<()> {
    owned_playlist(tx, user, id)?;
    let next = tx.next_playlist_position(id)?;
    put_playlist_tracks(tx, user, id, tracks, next)?;
    tx.touch_playlist(id, now)
}

pub(crate) fn delete_playlist<T: ListsTx + ?Sized>(tx: &mut T, user: UserId, id: PlaylistId) -> Result<()> {
    owned_playlist(tx, user, id)?;
    tx.remove_playlist(id)
}

pub(crate) fn set_star<T: ListsTx + ?Sized>(tx: &mut T, user: UserId, track: TrackId, starred: bool, now: i64) -> Result<()> {
    owned_tracks(tx, user, &[track])?;
    if starred { tx.star(user, track, now) } else { tx.unstar(user, track) }
}

pub(crate) fn record_play<T: ListsTx + ?Sized>(tx: &mut T, user: UserId, track: TrackId, at: i64) -> Result<()> {
    owned_tracks(tx, user, &[track])?;
    tx.insert_play(user, track, at)
}
