//! Subsonic ids on the wire: typed strings (`tr-12`, `al-3`, `ar-7`, `pl-2`, `sh-5`), so that one
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

pub fn share(id: i64) -> String {
    format!("sh-{id}")
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

pub fn parse_share(raw: &str) -> Result<i64, Failure> {
    number(raw, "sh-").ok_or_else(|| not_found("share"))
}

pub fn parse_artist(raw: &str) -> Result<ArtistId, Failure> {
    number(raw, "ar-").map(ArtistId).ok_or_else(|| not_found("artist"))
}

/// What an id that may name any of the three kinds names (cover art, stars, ratings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    Track(TrackId),
    Album(AlbumId),
    Artist(ArtistId),
}

/// A song, album or artist id; anything else is 70 ("`what` not found").
pub fn parse_item(raw: &str, what: &str) -> Result<Item, Failure> {
    if let Some(n) = number(raw, "tr-") {
        return Ok(Item::Track(TrackId(n)));
    }
    if let Some(n) = number(raw, "ar-") {
        return Ok(Item::Artist(ArtistId(n)));
    }
    number(raw, "al-").map(|n| Item::Album(AlbumId(n))).ok_or_else(|| not_found(what))
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
        assert_eq!(parse_share(&share(5)).ok(), Some(5));
        assert!(parse_share("pl-5").is_err());
        assert_eq!(parse_item("al-4", "x").ok(), Some(Item::Album(AlbumId(4))));
        assert_eq!(parse_item("ar-4", "x").ok(), Some(Item::Artist(ArtistId(4))));
        assert_eq!(parse_item("tr-4", "x").ok(), Some(Item::Track(TrackId(4))));
        assert!(parse_item("pl-4", "x").is_err());
    }
}
