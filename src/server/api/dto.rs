//! Wire shapes of the JSON API. Domain types never derive `Serialize`; they are converted
//! here, so a field rename in the catalog can never silently change what clients see.

use serde::Serialize;

use crate::catalog::{Album, ApiKey, Artist, Playlist, SearchResults, Track, User};
use crate::service::library::Storage;

#[derive(Serialize)]
pub struct ListDto<T> {
    pub items: Vec<T>,
    pub total: u64,
}

#[derive(Serialize)]
pub struct UserDto {
    pub id: i64,
    pub username: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub quota_bytes: Option<u64>,
}

impl From<&User> for UserDto {
    fn from(u: &User) -> Self {
        UserDto { id: u.id.0, username: u.username.clone(), is_admin: u.is_admin, disabled: u.disabled, quota_bytes: u.quota_bytes }
    }
}

#[derive(Serialize)]
pub struct ReplayGainDto {
    pub track_gain: Option<f64>,
    pub track_peak: Option<f64>,
    pub album_gain: Option<f64>,
    pub album_peak: Option<f64>,
}

/// EBU R128 loudness as the library states it (ReplayGain tags preferred): LUFS and
/// linear true peaks, `null` until known.
#[derive(Serialize)]
pub struct LoudnessDto {
    pub track_lufs: Option<f64>,
    pub track_peak: Option<f64>,
    pub album_lufs: Option<f64>,
    pub album_peak: Option<f64>,
}

#[derive(Serialize)]
pub struct TrackDto {
    pub id: i64,
    pub title: String,
    pub artist: String,
    pub artists: Vec<String>,
    pub album: String,
    pub album_artist: String,
    pub album_id: i64,
    pub artist_id: i64,
    pub track_number: Option<u32>,
    pub track_total: Option<u32>,
    pub disc_number: Option<u32>,
    pub disc_total: Option<u32>,
    pub year: Option<i32>,
    pub genre: Option<String>,
    pub compilation: bool,
    pub duration: f64,
    /// Exact length in sample frames at `sample_rate`.
    pub frames: u64,
    pub container: String,
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u16,
    pub bit_depth: Option<u32>,
    pub bitrate: u32,
    pub size: u64,
    pub has_cover: bool,
    pub damaged: Option<String>,
    pub file_name: String,
    pub added_at: i64,
    pub replaygain: ReplayGainDto,
    pub loudness: LoudnessDto,
    pub musicbrainz_track_id: Option<String>,
    pub musicbrainz_album_id: Option<String>,
}

impl From<&Track> for TrackDto {
    fn from(t: &Track) -> Self {
        TrackDto {
            id: t.id.0,
            title: t.tags.title.clone(),
            artist: t.tags.artist.clone(),
            artists: t.tags.artists.clone(),
            album: t.tags.album.clone(),
            album_artist: t.tags.album_artist.clone(),
            album_id: t.album_id.0,
            artist_id: t.artist_id.0,
            track_number: t.tags.track_number,
            track_total: t.tags.track_total,
            disc_number: t.tags.disc_number,
            disc_total: t.tags.disc_total,
            year: t.tags.year,
            genre: t.tags.genre.clone(),
            compilation: t.tags.compilation,
            duration: (t.audio.duration * 1000.0).round() / 1000.0,
            frames: t.audio.frames,
            container: t.audio.container.clone(),
            codec: t.audio.codec.clone(),
            sample_rate: t.audio.sample_rate,
            channels: t.audio.channels,
            bit_depth: t.audio.bits_per_sample,
            bitrate: t.audio.bitrate,
            size: t.file.size,
            has_cover: t.file.cover.is_some(),
            damaged: t.audio.damage.clone(),
            file_name: t.file.file_name.clone(),
            added_at: t.added_at,
            replaygain: ReplayGainDto {
                track_gain: t.tags.replaygain.track_gain,
                track_peak: t.tags.replaygain.track_peak,
                album_gain: t.tags.replaygain.album_gain,
                album_peak: t.tags.replaygain.album_peak,
            },
            loudness: {
                let l = crate::catalog::rules::loudness(t);
                let r = |x: Option<f64>, places: i32| x.map(|v| (v * 10f64.powi(places)).round() / 10f64.powi(places));
                LoudnessDto { track_lufs: r(l.track_lufs, 2), track_peak: r(l.track_peak, 6), album_lufs: r(l.album_lufs, 2), album_peak: r(l.album_peak, 6) }
            },
            musicbrainz_track_id: t.tags.mb_track_id.clone(),
            musicbrainz_album_id: t.tags.mb_album_id.clone(),
        }
    }
}

#[derive(Serialize)]
pub struct AlbumDto {
    pub id: i64,
    pub title: String,
    pub artist: String,
    pub artist_id: i64,
    pub year: Option<i32>,
    pub genre: Option<String>,
    pub compilation: bool,
    pub track_count: u32,
    pub duration: f64,
    pub has_cover: bool,
    pub added_at: i64,
}

impl From<&Album> for AlbumDto {
    fn from(a: &Album) -> Self {
        AlbumDto {
            id: a.id.0,
            title: a.title.clone(),
            artist: a.artist.clone(),
            artist_id: a.artist_id.0,
            year: a.year,
            genre: a.genre.clone(),
            compilation: a.compilation,
            track_count: a.track_count,
            duration: (a.duration * 1000.0).round() / 1000.0,
            has_cover: a.cover.is_some(),
            added_at: a.added_at,
        }
    }
}

#[derive(Serialize)]
pub struct AlbumDetailDto {
    #[serde(flatten)]
    pub album: AlbumDto,
    pub tracks: Vec<TrackDto>,
}

#[derive(Serialize)]
pub struct ArtistDto {
    pub id: i64,
    pub name: String,
    pub album_count: u32,
    pub track_count: u32,
}

impl From<&Artist> for ArtistDto {
    fn from(a: &Artist) -> Self {
        ArtistDto { id: a.id.0, name: a.name.clone(), album_count: a.album_count, track_count: a.track_count }
    }
}

#[derive(Serialize)]
pub struct ArtistDetailDto {
    #[serde(flatten)]
    pub artist: ArtistDto,
    pub albums: Vec<AlbumDto>,
}

#[derive(Serialize)]
pub struct SearchDto {
    pub tracks: Vec<TrackDto>,
    pub albums: Vec<AlbumDto>,
    pub artists: Vec<ArtistDto>,
}

impl From<&SearchResults> for SearchDto {
    fn from(r: &SearchResults) -> Self {
        SearchDto {
            tracks: r.tracks.iter().map(TrackDto::from).collect(),
            albums: r.albums.iter().map(AlbumDto::from).collect(),
            artists: r.artists.iter().map(ArtistDto::from).collect(),
        }
    }
}

#[derive(Serialize)]
pub struct PlaylistDto {
    pub id: i64,
    pub name: String,
    pub track_count: u32,
    pub duration: f64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<&Playlist> for PlaylistDto {
    fn from(p: &Playlist) -> Self {
        PlaylistDto {
            id: p.id.0,
            name: p.name.clone(),
            track_count: p.track_count,
            duration: (p.duration * 1000.0).round() / 1000.0,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Serialize)]
pub struct ApiKeyDto {
    pub id: i64,
    pub label: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl From<&ApiKey> for ApiKeyDto {
    fn from(k: &ApiKey) -> Self {
        ApiKeyDto { id: k.id, label: k.label.clone(), created_at: k.created_at, last_used_at: k.last_used_at }
    }
}

#[derive(Serialize)]
pub struct UsageDto {
    pub id: i64,
    pub username: String,
    pub tracks: u64,
    pub bytes: u64,
}

#[derive(Serialize)]
pub struct StorageDto {
    pub logical_bytes: u64,
    pub physical_bytes: u64,
    pub store_bytes_on_disk: Option<u64>,
    pub dedup_ratio: f64,
    pub blobs: u64,
    pub users: Vec<UsageDto>,
}

impl From<&Storage> for StorageDto {
    fn from(s: &Storage) -> Self {
        StorageDto {
            logical_bytes: s.logical_bytes,
            physical_bytes: s.physical_bytes,
            store_bytes_on_disk: s.store_bytes_on_disk,
            dedup_ratio: (s.dedup_ratio() * 1000.0).round() / 1000.0,
            blobs: s.blobs,
            users: s.users.iter().map(|u| UsageDto { id: u.user.0, username: u.username.clone(), tracks: u.tracks, bytes: u.bytes }).collect(),
        }
    }
}

pub fn list<T, D: for<'a> From<&'a T>>(items: &[T], total: u64) -> ListDto<D> {
    ListDto { items: items.iter().map(D::from).collect(), total }
}
