//! A user's library as devices on the local network browse it (UPnP/DLNA ContentDirectory
//! today; a tree such as Sonos' SMAPI would map onto the same): which users' libraries the
//! network sees, the folder tree (Artists → Albums → Tracks, Albums, Playlists, Recently
//! added, Favourites) with paging, search by field over the library's folded search, what
//! each track is offered as (the original, a seekable MP3, a seekable ADTS AAC), and which
//! peers count as the local network.
//!
//! Owns those rules; protocol-neutral (no XML, no SOAP, no DLNA profile names). Depends on
//! the `accounts`, `library` and `playback` services; blocks (call it off the executor),
//! except [`Lan::grant`].

use std::net::IpAddr;

use super::accounts::{AccountError, Actor};
use super::library::LibraryError;
use super::playback::{Format, PlaybackError, SignedGrant, original_mime, seekable_mp3_len};
use super::{Accounts, Library, Playback};
use crate::catalog::{Album, AlbumSort, Artist, Page, Track, fold};
use crate::domain::{AlbumId, ArtistId, PlaylistId, TrackId, UserId};
use crate::encode::Codec;

/// Albums in "Recently added".
pub const RECENT_ALBUMS: u32 = 50;
/// Most entries one answer holds; a device asking for more (or for "all") pages on.
pub const MAX_PAGE: u32 = Page::MAX_LIMIT;
/// Candidates per kind and search term that a search looks at: the library's search answers
/// its best 1,000 (`Page::MAX_LIMIT`), so a search matches at most that many of each kind.
const SEARCH_CANDIDATES: u32 = Page::MAX_LIMIT;
/// The bitrate of the MP3 and AAC transcodes offered (kbps).
const MP3_KBPS: u32 = 320;
const AAC_KBPS: u32 = 192;

#[derive(Debug, thiserror::Error)]
pub enum LanError {
    #[error("no library is shared on the local network under that name")]
    NotShared,
    #[error("no such object")]
    NoSuchObject,
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Library(#[from] LibraryError),
    #[error(transparent)]
    Playback(#[from] PlaybackError),
}

pub type Result<T, E = LanError> = std::result::Result<T, E>;

/// One library the local network sees: whose, and the device UUID it is announced under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shared {
    pub user: UserId,
    pub username: String,
    pub uuid: String,
}

/// A folder of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Folder {
    Root,
    Artists,
    Artist(ArtistId),
    Albums,
    Album(AlbumId),
    Playlists,
    Playlist(PlaylistId),
    Recent,
    Favourites,
}

/// Anything in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Node {
    Folder(Folder),
    Track(TrackId),
}

/// What a folder holds, for a device's icons and classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Track,
    Album,
    Artist,
    Playlist,
    /// Root, Artists, Albums, Playlists, Recently added, Favourites.
    Plain,
}

impl Folder {
    pub fn kind(self) -> Kind {
        match self {
            Folder::Artist(_) => Kind::Artist,
            Folder::Album(_) => Kind::Album,
            Folder::Playlist(_) => Kind::Playlist,
            _ => Kind::Plain,
        }
    }
}

/// A folder as listed: where it hangs, its title and how many children it has; an album's
/// tags and cover come with it.
#[derive(Debug, Clone)]
pub struct FolderEntry {
    pub folder: Folder,
    /// `None` for the root.
    pub parent: Option<Folder>,
    pub title: String,
    pub children: u64,
    pub album: Option<Album>,
}

/// One entry of a listing.
#[derive(Debug, Clone)]
pub enum Entry {
    Folder(FolderEntry),
    Track { track: Box<Track>, parent: Folder },
}

/// A page of entries and how many there are in all.
#[derive(Debug, Clone)]
pub struct Listing {
    pub entries: Vec<Entry>,
    pub total: u64,
}

/// A field a search names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Title,
    Artist,
    Album,
    Genre,
}

/// A search, as a tree of conditions over the fields of tracks, albums and artists.
#[derive(Debug, Clone, PartialEq)]
pub enum Match {
    /// Everything (`*`).
    All,
    And(Vec<Match>),
    Or(Vec<Match>),
    /// The field contains the text (folded: case and accents ignored).
    Contains(Field, String),
    /// The field is the text (folded).
    Is(Field, String),
    /// The field is present (`true`) or absent.
    Exists(Field, bool),
    /// The entry is of one of these kinds.
    KindIn(Vec<Kind>),
    Not(Box<Match>),
    /// Never true (a condition on something this library does not have).
    Nothing,
}

impl Match {
    /// The texts the condition can only be true with: the candidates of a search.
    fn terms(&self, out: &mut Vec<String>) {
        match self {
            Match::Contains(_, t) | Match::Is(_, t) => out.push(t.clone()),
            Match::And(v) | Match::Or(v) => v.iter().for_each(|m| m.terms(out)),
            _ => {}
        }
    }

    /// Whether a condition needs some text to match (so candidates come from a search), or
    /// can be true of every entry of a kind.
    fn needs_text(&self) -> bool {
        match self {
            Match::Contains(..) | Match::Is(..) => true,
            Match::And(v) => v.iter().any(Match::needs_text),
            Match::Or(v) => !v.is_empty() && v.iter().all(Match::needs_text),
            Match::Nothing => true,
            _ => false,
        }
    }

    /// Whether the condition says nothing of fields: it holds for every entry of the kinds
    /// it admits (so they can be paged straight from the library).
    fn kind_only(&self) -> bool {
        match self {
            Match::All | Match::KindIn(_) => true,
            Match::And(v) | Match::Or(v) => v.iter().all(Match::kind_only),
            Match::Not(m) => matches!(**m, Match::KindIn(_)),
            _ => false,
        }
    }

    /// Whether the condition can hold for some entry of `kind`.
    fn admits(&self, kind: Kind) -> bool {
        match self {
            Match::KindIn(k) => k.contains(&kind),
            Match::And(v) => v.iter().all(|m| m.admits(kind)),
            Match::Or(v) => v.iter().any(|m| m.admits(kind)),
            Match::Nothing => false,
            Match::Not(m) => !matches!(**m, Match::KindIn(_)) || !m.admits(kind),
            _ => true,
        }
    }

    fn eval(&self, kind: Kind, field: &dyn Fn(Field) -> Option<String>) -> bool {
        match self {
            Match::All => true,
            Match::Nothing => false,
            Match::And(v) => v.iter().all(|m| m.eval(kind, field)),
            Match::Or(v) => v.iter().any(|m| m.eval(kind, field)),
            Match::Contains(f, t) => field(*f).is_some_and(|v| fold(&v).contains(&fold(t))),
            Match::Is(f, t) => field(*f).is_some_and(|v| fold(&v) == fold(t)),
            Match::Exists(f, want) => field(*f).is_some() == *want,
            Match::KindIn(k) => k.contains(&kind),
            Match::Not(m) => !m.eval(kind, field),
        }
    }
}

/// How a rendition may be entered other than at its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seek {
    /// By byte ranges (`Range`).
    pub bytes: bool,
    /// By a time (the stream maps a time to a byte).
    pub time: bool,
}

/// One way a track is offered: the format and bitrate its stream URL asks for, the MIME
/// type it is served as, its length when known, how it seeks, whether it is converted,
/// and its audio.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendition {
    pub format: Format,
    /// The bitrate to ask for (transcodes).
    pub kbps: Option<u32>,
    pub mime: &'static str,
    /// The stored file's codec and container, for an original.
    pub original: Option<(String, String)>,
    pub size: Option<u64>,
    pub seek: Seek,
    /// Bits per second.
    pub bitrate: u32,
    pub sample_rate: u32,
    pub channels: u16,
    pub bits_per_sample: Option<u32>,
}

/// What `t` is offered as, in order of preference: the original, then a seekable MP3
/// (every device plays it; not offered beside an MP3 original), then a seekable ADTS AAC,
/// then LPCM (for renderers that decode nothing else). Transcodes are 48 kHz, at most
/// stereo, and seek by byte and by time.
pub fn renditions(t: &Track) -> Vec<Rendition> {
    let mut out = vec![original(t)];
    let channels = t.audio.channels;
    if t.audio.codec != "mp3" {
        out.push(transcode(Codec::Mp3, MP3_KBPS, channels, Some(seekable_mp3_len(t, MP3_KBPS)), true));
    }
    out.push(transcode(Codec::Aac, AAC_KBPS, channels, None, true));
    out.push(lpcm(channels, super::playback::lpcm_len(t)));
    out
}

/// 16-bit PCM at 48 kHz (at most stereo) of `size` bytes: seekable by byte and time.
pub fn lpcm(channels: u16, size: u64) -> Rendition {
    let channels = channels.min(2);
    Rendition {
        format: Format::Lpcm,
        kbps: None,
        mime: crate::package::pcm::mime(channels),
        original: None,
        size: Some(size),
        seek: Seek { bytes: true, time: true },
        bitrate: crate::package::pcm::bitrate(channels),
        sample_rate: crate::encode::OUTPUT_RATE,
        channels,
        bits_per_sample: Some(16),
    }
}

/// The stored file as it is: byte-seekable.
pub fn original(t: &Track) -> Rendition {
    let a = &t.audio;
    Rendition {
        format: Format::Original,
        kbps: None,
        mime: original_mime(&a.container, &a.codec),
        original: Some((a.container.clone(), a.codec.clone())),
        size: Some(t.file.size),
        seek: Seek { bytes: true, time: false },
        bitrate: a.bitrate,
        sample_rate: a.sample_rate,
        channels: a.channels,
        bits_per_sample: a.bits_per_sample,
    }
}

/// A transcode of a source with `channels` (at most stereo out) at `kbps`: seekable by byte
/// and time (MP3 and AAC from the start), or neither (a chunked stream).
pub fn transcode(codec: Codec, kbps: u32, channels: u16, size: Option<u64>, seekable: bool) -> Rendition {
    Rendition {
        format: Format::Codec(codec),
        kbps: Some(kbps),
        mime: super::playback::stream_mime(codec),
        original: None,
        size,
        seek: Seek { bytes: seekable, time: seekable },
        bitrate: kbps * 1000,
        sample_rate: crate::encode::OUTPUT_RATE,
        channels: channels.min(2),
        bits_per_sample: None,
    }
}

/// Whether `ip` is on the local network: loopback, private (RFC 1918, RFC 4193), link-local,
/// or shared address space (RFC 6598, which VPN meshes use). Everything else is the internet.
pub fn is_lan(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback() || v4.is_private() || v4.is_link_local() || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_lan(IpAddr::V4(v4)),
            None => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00 || (v6.segments()[0] & 0xffc0) == 0xfe80,
        },
    }
}

#[derive(Clone)]
pub struct Lan {
    accounts: Accounts,
    library: Library,
    playback: Playback,
}

/// `start..start+count` of `n` items (count 0: as many as a page holds).
fn window(start: u64, count: u32) -> (usize, usize) {
    let count = if count == 0 { MAX_PAGE } else { count.min(MAX_PAGE) };
    (start.min(usize::MAX as u64) as usize, count as usize)
}

fn slice<T>(v: Vec<T>, start: u64, count: u32) -> Vec<T> {
    let (s, n) = window(start, count);
    v.into_iter().skip(s).take(n).collect()
}

fn page(start: u64, count: u32) -> Page {
    let (s, n) = window(start, count);
    Page { limit: n as u32, offset: s.min(u32::MAX as usize) as u32 }
}

fn plain(folder: Folder, title: &str, children: u64) -> Entry {
    Entry::Folder(FolderEntry { folder, parent: Some(Folder::Root), title: title.into(), children, album: None })
}

fn album_entry(a: Album, parent: Folder) -> Entry {
    Entry::Folder(FolderEntry { folder: Folder::Album(a.id), parent: Some(parent), title: a.title.clone(), children: u64::from(a.track_count), album: Some(a) })
}

fn artist_entry(a: &Artist) -> Entry {
    Entry::Folder(FolderEntry {
        folder: Folder::Artist(a.id),
        parent: Some(Folder::Artists),
        title: a.name.clone(),
        children: u64::from(a.album_count),
        album: None,
    })
}

fn tracks(v: Vec<Track>, parent: Folder) -> Vec<Entry> {
    v.into_iter().map(|track| Entry::Track { track: Box::new(track), parent }).collect()
}

impl Lan {
    pub fn new(accounts: Accounts, library: Library, playback: Playback) -> Lan {
        Lan { accounts, library, playback }
    }

    /// The libraries the local network sees.
    pub fn shared(&self) -> Result<Vec<Shared>> {
        let users = self.accounts.lan_shared()?;
        Ok(users.into_iter().map(|u| Shared { uuid: self.playback.device_uuid(u.id), user: u.id, username: u.username }).collect())
    }

    /// The shared library announced under `uuid`.
    pub fn by_uuid(&self, uuid: &str) -> Result<Shared> {
        self.shared()?.into_iter().find(|s| s.uuid.eq_ignore_ascii_case(uuid)).ok_or(LanError::NotShared)
    }

    /// Shares `username`'s library with the local network, or stops.
    pub fn set_shared(&self, actor: Actor<'_>, username: &str, on: bool) -> Result<Shared> {
        let u = self.accounts.set_lan_shared(actor, username, on)?;
        Ok(Shared { uuid: self.playback.device_uuid(u.id), user: u.id, username: u.username })
    }

    /// A number that changes whenever the user's library does (UPnP's `SystemUpdateID`):
    /// the library's change time in milliseconds, which every change moves forward, as a
    /// 32-bit counter (wrapping every 49 days, as the spec lets it).
    pub fn update_id(&self, user: UserId) -> Result<u32> {
        Ok(self.library.changed_at(user)?.map_or(0, |ms| ms.rem_euclid(1 << 32) as u32))
    }

    /// A grant for one track's stream URLs (and its cover).
    pub async fn grant(&self, user: UserId, track: TrackId) -> Result<SignedGrant> {
        Ok(self.playback.grant(user, track).await?)
    }

    /// A grant for the cover of an album listed from `user`'s library.
    pub async fn album_grant(&self, user: UserId, album: &Album) -> Result<super::playback::SignedList> {
        Ok(self.playback.album_grant(user, album).await?)
    }

    fn found<T>(r: std::result::Result<T, LibraryError>) -> Result<T> {
        r.map_err(|e| match e {
            LibraryError::NotFound(_) => LanError::NoSuchObject,
            e => LanError::Library(e),
        })
    }

    /// The entry of `node` itself.
    pub fn object(&self, user: UserId, node: Node) -> Result<Entry> {
        let lib = &self.library;
        let folder = match node {
            Node::Track(id) => {
                let t = Self::found(lib.track(user, id))?;
                let parent = Folder::Album(t.album_id);
                return Ok(Entry::Track { track: Box::new(t), parent });
            }
            Node::Folder(f) => f,
        };
        Ok(match folder {
            Folder::Root => Entry::Folder(FolderEntry { folder, parent: None, title: "Tonearm".into(), children: 5, album: None }),
            Folder::Artist(id) => artist_entry(&Self::found(lib.artist(user, id))?.0),
            Folder::Album(id) => album_entry(Self::found(lib.album(user, id))?.0, Folder::Albums),
            Folder::Playlist(id) => {
                let (p, _) = Self::found(lib.playlist(user, id, 0, Some(0)))?;
                Entry::Folder(FolderEntry { folder, parent: Some(Folder::Playlists), title: p.name, children: u64::from(p.track_count), album: None })
            }
            Folder::Artists | Folder::Albums | Folder::Playlists | Folder::Recent | Folder::Favourites => {
                self.top(user)?.into_iter().find(|e| matches!(e, Entry::Folder(f) if f.folder == folder)).ok_or(LanError::NoSuchObject)?
            }
        })
    }

    /// The root's five folders, with their sizes.
    fn top(&self, user: UserId) -> Result<Vec<Entry>> {
        let lib = &self.library;
        let one = Page { limit: 1, offset: 0 };
        let artists = lib.artists(user, one)?.1;
        let albums = lib.albums(user, AlbumSort::Title, one)?.1;
        let playlists = lib.playlists(user)?.len() as u64;
        let favourites = lib.favourites(user)?.len() as u64;
        Ok(vec![
            plain(Folder::Artists, "Artists", artists),
            plain(Folder::Albums, "Albums", albums),
            plain(Folder::Playlists, "Playlists", playlists),
            plain(Folder::Recent, "Recently added", albums.min(u64::from(RECENT_ALBUMS))),
            plain(Folder::Favourites, "Favourites", favourites),
        ])
    }

    /// Entries `start..start+count` of `folder` (count 0: a page's worth), and how many it holds.
    pub fn children(&self, user: UserId, folder: Folder, start: u64, count: u32) -> Result<Listing> {
        let lib = &self.library;
        let (entries, total) = match folder {
            Folder::Root => {
                let top = self.top(user)?;
                let n = top.len() as u64;
                (slice(top, start, count), n)
            }
            Folder::Artists => {
                let (v, n) = lib.artists(user, page(start, count))?;
                (v.iter().map(artist_entry).collect(), n)
            }
            Folder::Artist(id) => {
                let (_, albums) = Self::found(lib.artist(user, id))?;
                let n = albums.len() as u64;
                (slice(albums, start, count).into_iter().map(|a| album_entry(a, folder)).collect(), n)
            }
            Folder::Albums => {
                let (v, n) = lib.albums(user, AlbumSort::Title, page(start, count))?;
                (v.into_iter().map(|a| album_entry(a, folder)).collect(), n)
            }
            Folder::Recent => {
                let n = lib.albums(user, AlbumSort::Recent, Page { limit: 1, offset: 0 })?.1.min(u64::from(RECENT_ALBUMS));
                let mut p = page(start, count);
                p.limit = p.limit.min((n.saturating_sub(u64::from(p.offset))) as u32);
                let v = if p.limit == 0 { Vec::new() } else { lib.albums(user, AlbumSort::Recent, p)?.0 };
                (v.into_iter().map(|a| album_entry(a, folder)).collect(), n)
            }
            Folder::Album(id) => {
                let (_, t) = Self::found(lib.album(user, id))?;
                let n = t.len() as u64;
                (tracks(slice(t, start, count), folder), n)
            }
            Folder::Playlists => {
                let all = lib.playlists(user)?;
                let n = all.len() as u64;
                let v = slice(all, start, count)
                    .into_iter()
                    .map(|p| {
                        Entry::Folder(FolderEntry {
                            folder: Folder::Playlist(p.id),
                            parent: Some(folder),
                            title: p.name,
                            children: u64::from(p.track_count),
                            album: None,
                        })
                    })
                    .collect();
                (v, n)
            }
            Folder::Playlist(id) => {
                let (s, n) = window(start, count);
                let (p, t) = Self::found(lib.playlist(user, id, s, Some(n)))?;
                (tracks(t, folder), u64::from(p.track_count))
            }
            Folder::Favourites => {
                let all = lib.favourites(user)?;
                let n = all.len() as u64;
                (tracks(slice(all, start, count), folder), n)
            }
        };
        Ok(Listing { entries, total })
    }

    /// Every artist, album and track of the kinds `m` admits, in that order, paged from the
    /// library (a search such as `upnp:class derivedfrom "object.item.audioItem"`, which
    /// asks for the whole library).
    fn every(&self, user: UserId, m: &Match, start: u64, count: u32) -> Result<Listing> {
        let lib = &self.library;
        let one = Page { limit: 1, offset: 0 };
        let sizes = [
            if m.admits(Kind::Artist) { lib.artists(user, one)?.1 } else { 0 },
            if m.admits(Kind::Album) { lib.albums(user, AlbumSort::Title, one)?.1 } else { 0 },
            if m.admits(Kind::Track) { lib.tracks(user, one)?.1 } else { 0 },
        ];
        let (from, n) = window(start, count);
        let (mut from, mut left) = (from as u64, n as u64);
        let mut entries = Vec::new();
        for (kind, size) in sizes.into_iter().enumerate() {
            if from >= size {
                from -= size;
                continue;
            }
            let p = Page { offset: from as u32, limit: left.min(size - from) as u32 };
            match kind {
                0 => entries.extend(lib.artists(user, p)?.0.iter().map(artist_entry)),
                1 => entries.extend(lib.albums(user, AlbumSort::Title, p)?.0.into_iter().map(|a| album_entry(a, Folder::Albums))),
                _ => entries.extend(lib.tracks(user, p)?.0.into_iter().map(|t| {
                    let parent = Folder::Album(t.album_id);
                    Entry::Track { track: Box::new(t), parent }
                })),
            }
            left -= u64::from(p.limit);
            from = 0;
            if left == 0 {
                break;
            }
        }
        Ok(Listing { entries, total: sizes.iter().sum() })
    }

    /// Entries matching `m` under `within` (the root or a folder: a search there looks
    /// only at what the folder holds), artists, then albums, then tracks.
    pub fn search(&self, user: UserId, within: Folder, m: &Match, start: u64, count: u32) -> Result<Listing> {
        let lib = &self.library;
        let mut terms = Vec::new();
        m.terms(&mut terms);
        terms.sort();
        terms.dedup();
        if within == Folder::Root && m.kind_only() {
            return self.every(user, m, start, count);
        }
        let (mut artists, mut albums, mut found) = (Vec::<Artist>::new(), Vec::<Album>::new(), Vec::<Track>::new());
        if within != Folder::Root {
            // A folder's own children, then the condition over them.
            for e in self.children(user, within, 0, MAX_PAGE)?.entries {
                match e {
                    Entry::Track { track, .. } => found.push(*track),
                    Entry::Folder(FolderEntry { album: Some(a), .. }) => albums.push(a),
                    Entry::Folder(_) => {}
                }
            }
        } else if m.needs_text() {
            for t in &terms {
                let r = lib.search(user, t, Some(SEARCH_CANDIDATES))?;
                artists.extend(r.artists);
                albums.extend(r.albums);
                found.extend(r.tracks);
            }
        } else {
            if m.admits(Kind::Artist) {
                artists = lib.artists(user, Page { limit: MAX_PAGE, offset: 0 })?.0;
            }
            if m.admits(Kind::Album) {
                albums = lib.albums(user, AlbumSort::Title, Page { limit: MAX_PAGE, offset: 0 })?.0;
            }
            if m.admits(Kind::Track) {
                found = lib.tracks(user, Page { limit: MAX_PAGE, offset: 0 })?.0;
            }
        }
        let mut seen = std::collections::HashSet::new();
        let mut out: Vec<Entry> = Vec::new();
        for a in artists {
            let field = |f: Field| match f {
                Field::Title | Field::Artist => Some(a.name.clone()),
                _ => None,
            };
            if m.eval(Kind::Artist, &field) && seen.insert(Node::Folder(Folder::Artist(a.id))) {
                out.push(artist_entry(&a));
            }
        }
        for a in albums {
            let field = |f: Field| match f {
                Field::Title | Field::Album => Some(a.title.clone()),
                Field::Artist => Some(a.artist.clone()),
                Field::Genre => a.genre.clone(),
            };
            if m.eval(Kind::Album, &field) && seen.insert(Node::Folder(Folder::Album(a.id))) {
                let parent = if within == Folder::Root { Folder::Albums } else { within };
                out.push(album_entry(a, parent));
            }
        }
        for t in found {
            let field = |f: Field| match f {
                Field::Title => Some(t.tags.title.clone()),
                Field::Artist => Some(t.tags.artist.clone()),
                Field::Album => Some(t.tags.album.clone()),
                Field::Genre => t.tags.genre.clone(),
            };
            if m.eval(Kind::Track, &field) && seen.insert(Node::Track(t.id)) {
                let parent = if within == Folder::Root { Folder::Album(t.album_id) } else { within };
                out.push(Entry::Track { track: Box::new(t), parent });
            }
        }
        let total = out.len() as u64;
        Ok(Listing { entries: slice(out, start, count), total })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_network_is_private_loopback_and_link_local() {
        for lan in ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.20", "169.254.3.3", "100.100.1.1", "::1", "fd00::5", "fe80::1", "::ffff:192.168.0.2"] {
            assert!(is_lan(lan.parse().unwrap()), "{lan}");
        }
        for wan in ["8.8.8.8", "172.32.0.1", "100.128.0.1", "2001:db8::1", "::ffff:1.1.1.1", "0.0.0.0"] {
            assert!(!is_lan(wan.parse().unwrap()), "{wan}");
        }
    }

    #[test]
    fn matches_fold_case_and_accents_and_respect_kinds() {
        let title = |f: Field| match f {
            Field::Title => Some("Jóga".to_string()),
            Field::Artist => Some("Björk".to_string()),
            _ => None,
        };
        let m = Match::And(vec![Match::KindIn(vec![Kind::Track]), Match::Contains(Field::Artist, "bjork".into())]);
        assert!(m.eval(Kind::Track, &title));
        assert!(!m.eval(Kind::Album, &title));
        assert!(m.admits(Kind::Track) && !m.admits(Kind::Artist));
        assert!(Match::Is(Field::Title, "JOGA".into()).eval(Kind::Track, &title));
        assert!(!Match::Exists(Field::Genre, true).eval(Kind::Track, &title));
        let either = Match::Or(vec![Match::Contains(Field::Title, "x".into()), Match::Contains(Field::Artist, "bj".into())]);
        assert!(either.eval(Kind::Track, &title) && either.needs_text());
        assert!(!Match::Or(vec![Match::All, Match::Contains(Field::Title, "x".into())]).needs_text());
    }

    #[test]
    fn windows_cap_at_a_page() {
        assert_eq!(window(5, 0), (5, MAX_PAGE as usize));
        assert_eq!(window(0, 10), (0, 10));
        assert_eq!(slice(vec![1, 2, 3, 4], 1, 2), vec![2, 3]);
        assert_eq!(slice(vec![1, 2], 7, 2), Vec::<i32>::new());
    }
}
