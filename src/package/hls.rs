//! HLS playlists (RFC 8216), written with m3u8-rs: the master playlist with one variant per
//! rung, and a VOD media playlist per rung on the shared segment grid.
//!
//! URIs are relative (`aac-96/index.m3u8`, `init.mp4`, `3.m4s`) and carry `query` (the
//! signed-URL parameters, or nothing) so that players without headers can follow them.

use m3u8_rs::{Map, MasterPlaylist, MediaPlaylist, MediaPlaylistType, MediaSegment, VariantStream};

use super::{Rung, Timeline};

fn with_query(uri: String, query: &str) -> String {
    if query.is_empty() { uri } else { format!("{uri}?{query}") }
}

/// The master playlist: one variant per rung, in the order given.
pub fn master(rungs: &[Rung], query: &str) -> Vec<u8> {
    let pl = MasterPlaylist {
        version: Some(7),
        independent_segments: true,
        variants: rungs
            .iter()
            .map(|r| VariantStream {
                uri: with_query(format!("{}/index.m3u8", r.id()), query),
                bandwidth: r.peak_bandwidth(),
                average_bandwidth: Some(r.average_bandwidth()),
                codecs: Some(r.codecs_attr().to_string()),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = pl.write_to(&mut out);
    out
}

/// The VOD media playlist of one rung.
pub fn media(timeline: &Timeline, query: &str) -> Vec<u8> {
    let n = timeline.segment_count();
    let segments = (0..n)
        .map(|k| MediaSegment {
            uri: with_query(format!("{k}.m4s"), query),
            duration: timeline.duration_secs(k) as f32,
            map: (k == 0).then(|| Map { uri: with_query("init.mp4".into(), query), ..Default::default() }),
            ..Default::default()
        })
        .collect();
    let pl = MediaPlaylist {
        version: Some(7),
        // RFC 8216 §4.3.3.1: EXTINF rounded to the nearest integer must not exceed it.
        target_duration: timeline.max_segment_secs().round().max(1.0) as u64,
        media_sequence: 0,
        segments,
        end_list: true,
        playlist_type: Some(MediaPlaylistType::Vod),
        independent_segments: true,
        ..Default::default()
    };
    let mut out = Vec::new();
    let _ = pl.write_to(&mut out);
    out
}
