//! HLS playlists (RFC 8216), written with m3u8-rs: the master playlist with one variant per
//! rung (m3u8-rs), and a VOD media playlist per rung on the shared segment grid.
//!
//! URIs are relative (`aac-96/index.m3u8`, `init.mp4`, `3.m4s`) and carry `query` (the
//! signed-URL parameters, or nothing) so that players without headers can follow them.
//! The MPEG-TS playlists ([`Container::Ts`]: `aac-96/ts.m3u8`, `3.ts`) are version 3, for
//! the clients that take nothing newer.

use m3u8_rs::{MasterPlaylist, VariantStream};

use super::{Rung, Timeline};

fn with_query(uri: String, query: &str) -> String {
    if query.is_empty() { uri } else { format!("{uri}?{query}") }
}

/// How the segments of a rendition are packaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// Fragmented MP4 (CMAF): `init.mp4` and `N.m4s`, version 7.
    Fmp4,
    /// MPEG-2 transport stream: `N.ts`, no map, version 3 (AAC rungs only).
    Ts,
}

impl Container {
    fn version(self) -> u8 {
        match self {
            Container::Fmp4 => 7,
            Container::Ts => 3,
        }
    }

    fn playlist(self) -> &'static str {
        match self {
            Container::Fmp4 => "index.m3u8",
            Container::Ts => "ts.m3u8",
        }
    }
}

/// The master playlist: one variant per rung, in the order given.
pub fn master(rungs: &[Rung], query: &str, container: Container) -> Vec<u8> {
    let pl = MasterPlaylist {
        version: Some(container.version() as usize),
        independent_segments: container == Container::Fmp4,
        variants: rungs
            .iter()
            .map(|r| VariantStream {
                uri: with_query(format!("{}/{}", r.id(), container.playlist()), query),
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

/// The VOD media playlist of one rung, written by hand rather than with m3u8-rs, whose
/// writer drops `#EXT-X-MEDIA-SEQUENCE:0` and prints durations as `f32`.
///
/// RFC 8216 §4.3.3.1: every `EXTINF` rounded to the nearest integer is ≤
/// `EXT-X-TARGETDURATION`, so the target is taken from the durations as printed (the last
/// segment, with a merged tail, can be the longest).
pub fn media(timeline: &Timeline, query: &str, container: Container) -> Vec<u8> {
    use std::fmt::Write;
    let n = timeline.segment_count();
    let durations: Vec<String> = (0..n).map(|k| format!("{:.5}", timeline.duration_secs(k))).collect();
    let target = durations.iter().filter_map(|d| d.parse::<f64>().ok()).map(f64::round).fold(1.0, f64::max) as u64;
    let mut out = String::with_capacity(120 + 40 * n as usize);
    // Writing to a String cannot fail.
    let _ = write!(out, "#EXTM3U\n#EXT-X-VERSION:{}\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n", container.version());
    let ext = match container {
        Container::Fmp4 => {
            let _ = write!(out, "#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"{}\"\n", with_query("init.mp4".into(), query));
            "m4s"
        }
        Container::Ts => "ts",
    };
    for (k, d) in durations.iter().enumerate() {
        let _ = write!(out, "#EXTINF:{d},\n{}\n", with_query(format!("{k}.{ext}"), query));
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::OUTPUT_RATE;
    use crate::package::UNIT;
    use m3u8_rs::Playlist;

    /// Parses a media playlist and checks RFC 8216's rules for it: every rounded EXTINF ≤
    /// the target duration, an explicit media sequence of 0, the map, VOD and end list, and
    /// durations that add up to the timeline on the shared grid.
    fn check(t: &Timeline) {
        let text = String::from_utf8(media(t, "u=1&e=2&s=x", Container::Fmp4)).unwrap();
        let pl = match m3u8_rs::parse_playlist_res(text.as_bytes()) {
            Ok(Playlist::MediaPlaylist(pl)) => pl,
            other => panic!("not a media playlist: {other:?}\n{text}"),
        };
        assert!(text.contains("\n#EXT-X-MEDIA-SEQUENCE:0\n"), "{text}");
        assert_eq!(pl.media_sequence, 0);
        assert_eq!(pl.version, Some(7));
        assert!(pl.end_list && pl.independent_segments);
        assert_eq!(pl.playlist_type, Some(m3u8_rs::MediaPlaylistType::Vod));
        assert_eq!(pl.segments.len() as u32, t.segment_count());
        assert_eq!(pl.segments[0].map.as_ref().map(|m| m.uri.as_str()), Some("init.mp4?u=1&e=2&s=x"));
        let mut longest = 0u64;
        // EXTINFs parsed from the text (m3u8-rs keeps them as f32).
        let extinfs: Vec<f64> = text.lines().filter_map(|l| l.strip_prefix("#EXTINF:")).map(|d| d.trim_end_matches(',').parse().unwrap()).collect();
        for (k, d) in extinfs.iter().enumerate() {
            assert!(*d > 0.0, "segment {k} of {} frames is empty", t.frames);
            assert!(d.round() as u64 <= pl.target_duration, "EXTINF {d} > target {} for {} frames", pl.target_duration, t.frames);
            longest = longest.max(d.round() as u64);
            if k + 1 < extinfs.len() {
                assert_eq!(t.end(k as u32) % UNIT, 0, "boundary off the shared grid");
            }
        }
        // The target is the smallest that fits (not a blanket 10).
        assert_eq!(pl.target_duration, longest.max(1));
        assert!(pl.target_duration <= 5, "segments stay short: {}", pl.target_duration);
        let total: f64 = extinfs.iter().sum();
        assert!((total - t.frames as f64 / f64::from(OUTPUT_RATE)).abs() < 1e-4 * extinfs.len() as f64, "durations add up");
    }

    #[test]
    fn every_length_from_a_tenth_of_a_second_to_two_hours_obeys_rfc8216() {
        let rate = u64::from(OUTPUT_RATE);
        // Every length around each grid boundary of the first 40 segments (where the merged
        // tail changes), then pseudo-random lengths up to two hours at common source rates.
        for b in (0..=480u64).map(|u| u * UNIT) {
            for d in [b.saturating_sub(1), b, b + 1, b + 479, b + UNIT / 2] {
                if d >= rate / 10 {
                    check(&Timeline { frames: d });
                }
            }
        }
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let src_rate = [8_000u32, 22_050, 44_100, 48_000, 88_200, 96_000, 192_000][(x % 7) as usize];
            let secs_e4 = 1_000 + x % (7_200 * 10_000 - 1_000); // 0.1 s .. 2 h
            let frames = secs_e4 * u64::from(src_rate) / 10_000;
            check(&Timeline::for_source(frames, src_rate));
        }
        // The case that broke: 90 s, whose last segment is 4.56 s.
        let t = Timeline::for_source(90 * 44_100, 44_100);
        assert!((t.duration_secs(t.segment_count() - 1) - 4.56).abs() < 1e-9);
        assert!(String::from_utf8(media(&t, "", Container::Fmp4)).unwrap().contains("#EXT-X-TARGETDURATION:5\n"));
    }

    #[test]
    fn ts_playlists_are_version_3_without_a_map() {
        let t = Timeline::for_source(90 * 44_100, 44_100);
        let text = String::from_utf8(media(&t, "a=k", Container::Ts)).unwrap();
        let pl = match m3u8_rs::parse_playlist_res(text.as_bytes()) {
            Ok(Playlist::MediaPlaylist(pl)) => pl,
            other => panic!("not a media playlist: {other:?}\n{text}"),
        };
        assert_eq!(pl.version, Some(3));
        assert!(pl.segments.iter().all(|s| s.map.is_none()) && !text.contains("EXT-X-MAP") && !text.contains("INDEPENDENT"));
        assert_eq!(pl.segments[2].uri, "2.ts?a=k");
        let master = String::from_utf8(super::master(&[Rung { codec: crate::encode::Codec::Aac, bitrate: 96_000 }], "a=k", Container::Ts)).unwrap();
        assert!(master.contains("#EXT-X-VERSION:3") && master.contains("aac-96/ts.m3u8?a=k"), "{master}");
    }
}
