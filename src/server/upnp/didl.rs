//! DIDL-Lite (ContentDirectory:1 §2.8, with the DLNA metadata namespace): object ids, and
//! containers and items written from the library's entries: title, artist, album, track
//! number, genre, date, duration, album art (`upnp:albumArtURI`, `dlna:profileID`) and one
//! `<res>` per rendition with its exact `protocolInfo`, size, duration, bitrate (bytes per
//! second, as the spec counts it), sample rate and channels.
//!
//! Wire only: the tree and the renditions are `service::lan`.

use std::fmt::Write;

use super::criteria::class;
use super::dlna;
use crate::domain::{AlbumId, ArtistId, PlaylistId, TrackId};
use crate::server::markup::escape_into;
use crate::service::lan::{Entry, Folder, FolderEntry, Node, Rendition};
use crate::service::playback::{Format, SignedGrant, SignedList};

/// Object ids: `0` (the root, as the spec fixes it), `artists`, `artist/N`, `albums`,
/// `album/N`, `playlists`, `playlist/N`, `recent`, `favourites`, `track/N`.
pub fn object_id(n: Node) -> String {
    match n {
        Node::Track(t) => format!("track/{t}"),
        Node::Folder(f) => match f {
            Folder::Root => "0".into(),
            Folder::Artists => "artists".into(),
            Folder::Artist(a) => format!("artist/{a}"),
            Folder::Albums => "albums".into(),
            Folder::Album(a) => format!("album/{a}"),
            Folder::Playlists => "playlists".into(),
            Folder::Playlist(p) => format!("playlist/{p}"),
            Folder::Recent => "recent".into(),
            Folder::Favourites => "favourites".into(),
        },
    }
}

/// The node an object id names.
pub fn node(id: &str) -> Option<Node> {
    let num = |s: &str| s.parse::<i64>().ok().filter(|n| *n > 0);
    Some(match id.split_once('/') {
        None => Node::Folder(match id {
            "0" => Folder::Root,
            "artists" => Folder::Artists,
            "albums" => Folder::Albums,
            "playlists" => Folder::Playlists,
            "recent" => Folder::Recent,
            "favourites" => Folder::Favourites,
            _ => return None,
        }),
        Some(("artist", n)) => Node::Folder(Folder::Artist(ArtistId(num(n)?))),
        Some(("album", n)) => Node::Folder(Folder::Album(AlbumId(num(n)?))),
        Some(("playlist", n)) => Node::Folder(Folder::Playlist(PlaylistId(num(n)?))),
        Some(("track", n)) => Node::Track(TrackId(num(n)?)),
        _ => return None,
    })
}

/// What a track's URLs are made with: the origin devices reach this server at, and the
/// track's grant.
pub struct Signed<'a> {
    pub base: &'a str,
    pub grant: &'a SignedGrant,
}

/// An entry with the grants its URLs need.
pub enum Item<'a> {
    Folder { entry: &'a FolderEntry, art: Option<&'a SignedList> },
    Track { entry: &'a Entry, signed: Signed<'a>, renditions: Vec<Rendition>, has_cover: bool },
}

pub const OPEN: &str = r#"<DIDL-Lite xmlns="urn:schemas-upnp-org:metadata-1-0/DIDL-Lite/" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:upnp="urn:schemas-upnp-org:metadata-1-0/upnp/" xmlns:dlna="urn:schemas-dlna-org:metadata-1-0/">"#;
pub const CLOSE: &str = "</DIDL-Lite>";

fn element(out: &mut String, name: &str, value: &str) {
    let _ = write!(out, "<{name}>");
    escape_into(value, out);
    let _ = write!(out, "</{name}>");
}

/// `H:MM:SS.mmm`.
pub fn duration(secs: f64) -> String {
    let ms = (secs.max(0.0) * 1000.0).round() as u64;
    format!("{}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

/// The URL of a track's stream in rendition `r`.
pub fn stream_url(base: &str, g: &SignedGrant, r: &Rendition) -> String {
    let format = match r.format {
        Format::Original => "original",
        Format::Codec(c) => c.name(),
        Format::Lpcm => "lpcm",
    };
    let kbps = r.kbps.map(|k| format!("&bitrate={k}")).unwrap_or_default();
    format!("{base}/api/v1/tracks/{}/stream?format={format}{kbps}&u={}&e={}&s={}", g.track, g.user, g.expires, g.sig)
}

/// Album art at the edge DLNA's thumbnail profile allows (JPEG_TN: 160 px).
const ART_EDGE: u32 = 160;

/// Appends one object to `out`.
pub fn write(out: &mut String, item: &Item<'_>, base: &str) {
    match item {
        Item::Folder { entry: f, art } => {
            let parent = f.parent.map(|p| object_id(Node::Folder(p))).unwrap_or_else(|| "-1".into());
            out.push_str("<container id=\"");
            escape_into(&object_id(Node::Folder(f.folder)), out);
            out.push_str("\" parentID=\"");
            escape_into(&parent, out);
            let _ = write!(out, "\" restricted=\"1\" searchable=\"1\" childCount=\"{}\">", f.children);
            element(out, "dc:title", &f.title);
            element(out, "upnp:class", class(f.folder.kind()));
            if let Some(a) = &f.album {
                element(out, "dc:creator", &a.artist);
                element(out, "upnp:artist", &a.artist);
                element(out, "upnp:albumArtist", &a.artist);
                if let Some(g) = &a.genre {
                    element(out, "upnp:genre", g);
                }
                if let Some(y) = a.year {
                    element(out, "dc:date", &format!("{y:04}-01-01"));
                }
                if let (Some(_), Some(g)) = (a.cover, art) {
                    let url = format!("{base}/api/v1/albums/{}/cover?size={ART_EDGE}&u={}&e={}&s={}", a.id, g.user, g.expires, g.sig);
                    out.push_str("<upnp:albumArtURI dlna:profileID=\"JPEG_TN\">");
                    escape_into(&url, out);
                    out.push_str("</upnp:albumArtURI>");
                }
            }
            out.push_str("</container>");
        }
        Item::Track { entry, signed, renditions, has_cover } => {
            let Entry::Track { track: t, parent } = entry else { return };
            out.push_str("<item id=\"");
            escape_into(&object_id(Node::Track(t.id)), out);
            out.push_str("\" parentID=\"");
            escape_into(&object_id(Node::Folder(*parent)), out);
            out.push_str("\" restricted=\"1\">");
            element(out, "dc:title", &t.tags.title);
            element(out, "dc:creator", &t.tags.artist);
            element(out, "upnp:artist", &t.tags.artist);
            element(out, "upnp:album", &t.tags.album);
            if !t.tags.album_artist.is_empty() {
                element(out, "upnp:albumArtist", &t.tags.album_artist);
            }
            if let Some(n) = t.tags.track_number {
                element(out, "upnp:originalTrackNumber", &n.to_string());
            }
            if let Some(g) = &t.tags.genre {
                element(out, "upnp:genre", g);
            }
            if let Some(y) = t.tags.year {
                element(out, "dc:date", &format!("{y:04}-01-01"));
            }
            element(out, "upnp:class", class(crate::service::lan::Kind::Track));
            let g = signed.grant;
            if *has_cover {
                let url = format!("{}/api/v1/tracks/{}/cover?size={ART_EDGE}&u={}&e={}&s={}", signed.base, t.id, g.user, g.expires, g.sig);
                out.push_str("<upnp:albumArtURI dlna:profileID=\"JPEG_TN\">");
                escape_into(&url, out);
                out.push_str("</upnp:albumArtURI>");
            }
            for r in renditions {
                out.push_str("<res protocolInfo=\"");
                escape_into(&dlna::protocol_info(r), out);
                let _ = write!(out, "\" duration=\"{}\"", duration(t.audio.duration));
                if let Some(size) = r.size {
                    let _ = write!(out, " size=\"{size}\"");
                }
                if r.bitrate > 0 {
                    let _ = write!(out, " bitrate=\"{}\"", r.bitrate / 8);
                }
                let _ = write!(out, " sampleFrequency=\"{}\" nrAudioChannels=\"{}\"", r.sample_rate, r.channels);
                if let Some(b) = r.bits_per_sample {
                    let _ = write!(out, " bitsPerSample=\"{b}\"");
                }
                out.push('>');
                escape_into(&stream_url(signed.base, g, r), out);
                out.push_str("</res>");
            }
            out.push_str("</item>");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_round_trip() {
        for id in ["0", "artists", "artist/4", "albums", "album/12", "playlists", "playlist/3", "recent", "favourites", "track/99"] {
            assert_eq!(object_id(node(id).unwrap()), id);
        }
        for bad in ["", "1", "album", "album/", "album/x", "album/-2", "album/0", "track/1/2", "song/3", "-1"] {
            assert_eq!(node(bad), None, "{bad}");
        }
    }

    #[test]
    fn durations_are_h_mm_ss_mmm() {
        assert_eq!(duration(0.0), "0:00:00.000");
        assert_eq!(duration(3725.5), "1:02:05.500");
        assert_eq!(duration(59.9996), "0:01:00.000");
    }
}
