//! The few MP4 boxes symphonia's demuxer ignores but exact durations need: the edit list
//! (`elst`, ISO/IEC 14496-12 §8.6.6) and Apple's `iTunSMPB` gapless comment. Reads box
//! headers only; never trusts a size without checking it against the file.

use std::io::{Read, Seek, SeekFrom};

/// Encoder priming and the playable length, in media timescale units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gapless {
    pub priming: u64,
    pub frames: u64,
}

const MAX_BOX_READ: u64 = 16 << 20;

struct BoxHeader {
    kind: [u8; 4],
    body: u64,
    end: u64,
}

fn read_header<R: Read + Seek + ?Sized>(r: &mut R, pos: u64, limit: u64) -> Option<BoxHeader> {
    if pos + 8 > limit {
        return None;
    }
    r.seek(SeekFrom::Start(pos)).ok()?;
    let mut h = [0u8; 8];
    r.read_exact(&mut h).ok()?;
    let size32 = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as u64;
    let kind = [h[4], h[5], h[6], h[7]];
    let (size, body) = match size32 {
        0 => (limit - pos, pos + 8),
        1 => {
            let mut l = [0u8; 8];
            r.read_exact(&mut l).ok()?;
            (u64::from_be_bytes(l), pos + 16)
        }
        s => (s, pos + 8),
    };
    let end = pos.checked_add(size)?;
    if size < 8 || end > limit || body > end {
        return None;
    }
    Some(BoxHeader { kind, body, end })
}

/// Finds the first child of `kind` between `from` and `to`.
fn find<R: Read + Seek + ?Sized>(r: &mut R, from: u64, to: u64, kind: &[u8; 4]) -> Option<BoxHeader> {
    let mut pos = from;
    while let Some(h) = read_header(r, pos, to) {
        if &h.kind == kind {
            return Some(h);
        }
        pos = h.end;
    }
    None
}

fn read_body<R: Read + Seek + ?Sized>(r: &mut R, h: &BoxHeader) -> Option<Vec<u8>> {
    let len = h.end - h.body;
    if len > MAX_BOX_READ {
        return None;
    }
    r.seek(SeekFrom::Start(h.body)).ok()?;
    let mut v = vec![0u8; len as usize];
    r.read_exact(&mut v).ok()?;
    Some(v)
}

/// The body of the first child of `kind` inside `parent`.
fn child_body<R: Read + Seek + ?Sized>(r: &mut R, parent: &BoxHeader, kind: &[u8; 4]) -> Option<Vec<u8>> {
    let h = find(r, parent.body, parent.end, kind)?;
    read_body(r, &h)
}

fn be(b: &[u8], at: usize, n: usize) -> Option<u64> {
    let s = b.get(at..at + n)?;
    Some(s.iter().fold(0u64, |a, &x| (a << 8) | x as u64))
}

/// Reads gapless info for the first audio track (`hdlr` = `soun`): the edit list first,
/// then `iTunSMPB`. `None` when the file says nothing (or is not MP4).
pub fn gapless<R: Read + Seek + ?Sized>(r: &mut R, file_len: u64) -> Option<Gapless> {
    let moov = find(r, 0, file_len, b"moov")?;
    let mvhd = child_body(r, &moov, b"mvhd")?;
    let movie_ts = if mvhd.first() == Some(&1) { be(&mvhd, 20, 4)? } else { be(&mvhd, 12, 4)? };
    let mut pos = moov.body;
    while let Some(trak) = find(r, pos, moov.end, b"trak") {
        pos = trak.end;
        if let Some(g) = track_gapless(r, &trak, movie_ts) {
            return Some(g);
        }
    }
    itunsmpb(r, &moov)
}

fn track_gapless<R: Read + Seek + ?Sized>(r: &mut R, trak: &BoxHeader, movie_ts: u64) -> Option<Gapless> {
    let mdia = find(r, trak.body, trak.end, b"mdia")?;
    let hdlr = child_body(r, &mdia, b"hdlr")?;
    if hdlr.get(8..12)? != b"soun" {
        return None;
    }
    let mdhd = child_body(r, &mdia, b"mdhd")?;
    let media_ts = if mdhd.first() == Some(&1) { be(&mdhd, 20, 4)? } else { be(&mdhd, 12, 4)? };
    let edts = find(r, trak.body, trak.end, b"edts")?;
    let elst = child_body(r, &edts, b"elst")?;
    // §8.6.6: version, flags, entry_count, then (segment_duration, media_time, rate) entries.
    let v1 = elst.first() == Some(&1);
    let count = be(&elst, 4, 4)?;
    let entry = if v1 { 20 } else { 12 };
    let n = if v1 { 8 } else { 4 };
    for i in 0..count.min(64) as usize {
        let at = 8 + i * entry;
        let seg = be(&elst, at, n)?;
        let media_time = be(&elst, at + n, n)?;
        let empty = if v1 { media_time == u64::MAX } else { media_time == u32::MAX as u64 };
        if empty {
            continue; // an empty edit (a delay before the presentation) carries no priming
        }
        if movie_ts == 0 || seg == 0 {
            return None;
        }
        let frames = (seg as u128 * media_ts as u128 / movie_ts as u128) as u64;
        return Some(Gapless { priming: media_time, frames });
    }
    None
}

/// `----:com.apple.iTunes:iTunSMPB` = " 00000000 PRIMING PADDING TOTAL ...", hex fields.
fn itunsmpb<R: Read + Seek + ?Sized>(r: &mut R, moov: &BoxHeader) -> Option<Gapless> {
    let udta = find(r, moov.body, moov.end, b"udta")?;
    let meta = find(r, udta.body, udta.end, b"meta")?;
    // `meta` is a full box (4 bytes of version and flags) in Apple's files.
    let ilst = find(r, meta.body + 4, meta.end, b"ilst")?;
    let mut pos = ilst.body;
    while let Some(item) = find(r, pos, ilst.end, b"----") {
        pos = item.end;
        let body = read_body(r, &item)?;
        if !body.windows(8).any(|w| w == b"iTunSMPB") {
            continue;
        }
        let data = find(r, item.body, item.end, b"data")?;
        let d = read_body(r, &data)?;
        let text = String::from_utf8_lossy(d.get(8..)?).to_string();
        let f: Vec<u64> = text.split_whitespace().filter_map(|x| u64::from_str_radix(x, 16).ok()).collect();
        if f.len() >= 4 && f[3] > 0 {
            return Some(Gapless { priming: f[1], frames: f[3] });
        }
    }
    None
}
