//! Subsonic ids on the wire: typed strings (`tr-12`, `al-3`, `ar-7`, `pl-2`), so that one
//! kind can never be taken for another. A foreign, malformed or wrong-kind id is error 70,
//! exactly like a missing one.

use super::envelope::{Code, Failure};
use crate::domain::{AlbumId, ArtistId, PlaylistId, TrackId};

pub fn track(id: TrackId) -> String {
    format!("tr-{}", id.0)
}

pub fn album(id: AlbumId) -> String {
    format!("al-{}", id.0)
}

pub fn artist(id: ArtistId) -> String {
    format!("ar-{}", id.0)
}

pub fn playlist(id: PlaylistId) -> String {
    format!("pl-{}", id.0)
}

fn number(raw: &str, prefix: &str) -> Option<i64> {
    raw.strip_prefix(prefix)?.parse::<i64>().ok().filter(|&n| n > 0)
}

fn not_found(what: &str) -> Failure {
    Failure::new(Code::NotFound, format!("{what} not found"))
}

pub fn parse_track(raw: &str) -> Result<TrackId, Failure> {
    number(raw, "tr-").map(TrackId).ok_or_else(|| not_found("song"))
}

pub fn parse_album(raw: &str) -> Result<AlbumId, Failure> {
    number(raw, "al-").map(AlbumId).ok_or_else(|| not_found("album"))
}

pub fn parse_playlist(raw: &str) -> Result<PlaylistId, Failure> {
    number(raw, "pl-").map(PlaylistId).ok_or_else(|| not_found("playlist"))
}

pub fn parse_artist(raw: &str) -> Result<ArtistId, Failure> {
    number(raw, "ar-").map(ArtistId).ok_or_else(|| not_found("artist"))
}

/// What a cover-art id names: a track's cover or an album's.
pub enum Cover {
    Track(TrackId),
    Album(AlbumId),
    /// An artist's picture: the cover of one of their albums (no artist images are kept).
    Artist(ArtistId),
}

pub fn parse_cover(raw: &str) -> Result<Cover, Failure> {
    if let Some(n) = number(raw, "tr-") {
        return Ok(Cover::Track(TrackId(n)));
    }
    if let Some(n) = number(raw, "ar-") {
        return Ok(Cover::Artist(ArtistId(n)));
    }
    number(raw, "al-").map(|n| Cover::Album(AlbumId(n))).ok_or_else(|| not_found("cover art"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_never_mix() {
        assert_eq!(parse_track(&track(TrackId(12))).ok(), Some(TrackId(12)));
        assert!(parse_track("al-12").is_err());
        assert!(parse_album("12").is_err());
        assert!(parse_artist("ar-0").is_err());
        assert!(parse_artist("ar--3").is_err());
        assert!(parse_album("al-1x").is_err());
        assert!(matches!(parse_cover("al-4"), Ok(Cover::Album(AlbumId(4)))));
        assert!(matches!(parse_cover("ar-4"), Ok(Cover::Artist(ArtistId(4)))));
        assert!(parse_cover("pl-4").is_err());
    }
}
