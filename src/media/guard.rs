//! Structure checks on untrusted files before any third-party parser reads them, for what
//! those parsers do not bound themselves.
//!
//! ID3v2 chapter frames (`CHAP`, `CTOC`, ID3v2 Chapter Frame Addendum) may embed frames,
//! including further chapter frames; symphonia and lofty both read them by recursion on the
//! thread's stack (tens of kB per level), so a 35 kB file nesting them ~100 deep aborts the
//! process with a stack overflow, which no panic handler can catch. Real tags embed one
//! level (a chapter's title, link or picture). [`check`] finds every ID3v2 tag the parsers
//! would read (at the head, appended with a footer, in WAV/AIFF `id3 ` chunks) and measures
//! how deep chapter frames nest, reading embedded frame sizes both as ID3v2.4 says
//! (syncsafe) and as plain integers (what some readers do), so that neither reading can
//! hide a deeper chain. It walks with an explicit bound, never deeper than the limit.
//!
//! MP4 boxes, Ogg pages, FLAC metadata blocks and the image decoders were checked and do
//! not recurse on the input (tests/hostile.rs feeds deep MP4 boxes through the server).
//!
//! Pure and synchronous; reads the file through [`Input`], at most the tags' own bytes.

use std::io::{Read, Seek, SeekFrom};

use super::Input;

/// Chapter frames inside chapter frames, at most (a chapter in a table of contents is 2).
pub const MAX_CHAPTER_NESTING: usize = 4;
/// ID3v2 tags read at the head of a file, at most (some files carry two or three).
const MAX_HEAD_TAGS: usize = 16;
/// Bytes of one tag read for the check, at most (a tag with large cover art is a few MB).
const MAX_TAG_BYTES: u64 = 64 << 20;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Malformed {
    #[error("ID3v2 chapter frames nested more than {MAX_CHAPTER_NESTING} deep")]
    ChapterNesting,
}

/// Checks every ID3v2 tag of the file; `Ok` also when there is none or it cannot be read
/// (the parsers then find nothing to recurse into either).
pub fn check(input: &Input) -> Result<(), Malformed> {
    let Ok(mut r) = input.reader() else { return Ok(()) };
    let Ok(len) = input.len() else { return Ok(()) };
    for tag in tags_of(&mut r, len) {
        check_tag(&tag)?;
    }
    Ok(())
}

/// The ID3v2 tags (header + body) a reader may parse: consecutive tags at the head, one
/// appended before the end (found by its `3DI` footer, also before an ID3v1 tag), and those
/// in RIFF/AIFF `id3 ` chunks.
fn tags_of<R: Read + Seek>(r: &mut R, len: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0u64;
    for _ in 0..MAX_HEAD_TAGS {
        match tag_at(r, at, len) {
            Some(t) => {
                at += t.len() as u64;
                out.push(t);
            }
            None => break,
        }
    }
    for end in [len, len.saturating_sub(128)] {
        if let Some(t) = tag_before_footer(r, end) {
            out.push(t);
        }
    }
    out.extend(riff_tags(r, len));
    out
}

fn read_at<R: Read + Seek>(r: &mut R, at: u64, buf: &mut [u8]) -> bool {
    r.seek(SeekFrom::Start(at)).is_ok() && r.read_exact(buf).is_ok()
}

/// A 28-bit syncsafe integer as lenient readers take it: the high bit of each byte ignored
/// (a set high bit is invalid, but readers parse such tags anyway, so the check must too).
fn syncsafe(b: &[u8]) -> u32 {
    b.iter().fold(0u32, |n, &x| (n << 7) | u32::from(x & 0x7F))
}

fn plain(b: &[u8]) -> u32 {
    b.iter().fold(0u32, |n, &x| (n << 8) | u32::from(x))
}

/// An ID3v2 tag starting at `at` (header and body; a footer is not needed for the check),
/// as long as the larger of the two readings of its size says (bounded by the file).
fn tag_at<R: Read + Seek>(r: &mut R, at: u64, len: u64) -> Option<Vec<u8>> {
    let mut h = [0u8; 10];
    if !read_at(r, at, &mut h) || &h[..3] != b"ID3" {
        return None;
    }
    let size = u64::from(syncsafe(&h[6..10]).max(plain(&h[6..10])));
    let total = (10 + size).min(len.saturating_sub(at)).min(MAX_TAG_BYTES);
    let mut tag = vec![0u8; total as usize];
    read_at(r, at, &mut tag).then_some(tag)
}

fn tag_before_footer<R: Read + Seek>(r: &mut R, end: u64) -> Option<Vec<u8>> {
    let mut f = [0u8; 10];
    if end < 20 || !read_at(r, end - 10, &mut f) || &f[..3] != b"3DI" {
        return None;
    }
    let size = u64::from(syncsafe(&f[6..10]));
    let start = end.checked_sub(20 + size)?;
    tag_at(r, start, end)
}

/// `id3 `/`ID3 ` chunks of a RIFF (little-endian sizes) or AIFF (`FORM`, big-endian) file.
fn riff_tags<R: Read + Seek>(r: &mut R, len: u64) -> Vec<Vec<u8>> {
    let mut head = [0u8; 12];
    if !read_at(r, 0, &mut head) {
        return Vec::new();
    }
    let big_endian = match &head[..4] {
        b"RIFF" | b"RF64" => false,
        b"FORM" => true,
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    let mut at = 12u64;
    // Bounded: every step moves forward by at least 8 bytes within the file.
    while at + 8 <= len && out.len() < MAX_HEAD_TAGS {
        let mut c = [0u8; 8];
        if !read_at(r, at, &mut c) {
            break;
        }
        let size = if big_endian { u32::from_be_bytes([c[4], c[5], c[6], c[7]]) } else { u32::from_le_bytes([c[4], c[5], c[6], c[7]]) };
        if c[..4].eq_ignore_ascii_case(b"id3 ")
            && let Some(t) = tag_at(r, at + 8, (at + 8 + u64::from(size)).min(len))
        {
            out.push(t);
        }
        at += 8 + u64::from(size) + u64::from(size & 1);
    }
    out
}

fn check_tag(tag: &[u8]) -> Result<(), Malformed> {
    if tag.len() < 10 {
        return Ok(());
    }
    // Every reading a lenient parser might take: with and without the unsynchronisation and
    // the extended header the flags announce, each frame size syncsafe or plain at the top
    // level and inside chapter frames. The deepest chain under any of them counts.
    let version = tag[3];
    let flags = tag[5];
    let raw = &tag[10..];
    let resynced = resync(raw);
    for body in [raw, resynced.as_slice()] {
        let ext = if version == 4 { body.get(..4).map(|b| syncsafe(b) as usize) } else { body.get(..4).map(|b| 4 + plain(b) as usize) };
        let after_ext = body.get(ext.unwrap_or(body.len())..).unwrap_or(&[]);
        let starts: &[&[u8]] = if flags & 0x40 != 0 { &[body, after_ext] } else { &[body] };
        for &start in starts {
            for top in [true, false] {
                for embedded in [true, false] {
                    if depth(start, Sizes { top, embedded }, true, 0) > MAX_CHAPTER_NESTING {
                        return Err(Malformed::ChapterNesting);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Which frame sizes are read as syncsafe: at the top level, inside chapter frames.
#[derive(Clone, Copy)]
struct Sizes {
    top: bool,
    embedded: bool,
}

fn resync(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut prev = 0u8;
    for &x in b {
        if !(prev == 0xFF && x == 0) {
            out.push(x);
        }
        prev = x;
    }
    out
}

/// How deep chapter frames nest in the frames of `b` (0: none). `level` is the depth of
/// `b` itself; the walk stops one level past the limit.
fn depth(mut b: &[u8], sizes: Sizes, top: bool, level: usize) -> usize {
    if level > MAX_CHAPTER_NESTING {
        return level;
    }
    let mut deepest = level;
    while b.len() >= 10 && b[0] != 0 {
        let (id, size_bytes) = (&b[..4], &b[4..8]);
        let size = if (top && sizes.top) || (!top && sizes.embedded) { syncsafe(size_bytes) } else { plain(size_bytes) } as usize;
        let frame = &b[10..(10 + size).min(b.len())];
        if let Some(sub) = match id {
            b"CHAP" => chap_children(frame),
            b"CTOC" => ctoc_children(frame),
            _ => None,
        } {
            deepest = deepest.max(depth(sub, sizes, false, level + 1));
            if deepest > MAX_CHAPTER_NESTING {
                return deepest;
            }
        }
        b = &b[(10 + size).min(b.len())..];
    }
    deepest
}

/// The embedded frames of a CHAP frame: after the element id (NUL-terminated) and four
/// 32-bit times and offsets.
fn chap_children(f: &[u8]) -> Option<&[u8]> {
    let nul = f.iter().position(|&c| c == 0)?;
    f.get(nul + 1 + 16..)
}

/// The embedded frames of a CTOC frame: after the element id, flags, the entry count and
/// that many NUL-terminated child ids.
fn ctoc_children(f: &[u8]) -> Option<&[u8]> {
    let mut at = f.iter().position(|&c| c == 0)? + 1;
    let count = *f.get(at + 1)?;
    at += 2;
    for _ in 0..count {
        at += f.get(at..)?.iter().position(|&c| c == 0)? + 1;
    }
    f.get(at..)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(id: &[u8; 4], body: &[u8], syncsafe_size: bool) -> Vec<u8> {
        let n = body.len() as u32;
        let size = if syncsafe_size { [(n >> 21) as u8 & 0x7f, (n >> 14) as u8 & 0x7f, (n >> 7) as u8 & 0x7f, n as u8 & 0x7f] } else { n.to_be_bytes() };
        [&id[..], &size, &[0, 0], body].concat()
    }

    fn chap(inner: &[u8], syncsafe_size: bool) -> Vec<u8> {
        frame(b"CHAP", &[b"ch\0".as_slice(), &[0; 16], inner].concat(), syncsafe_size)
    }

    fn tag(version: u8, frames: &[u8]) -> Vec<u8> {
        let n = frames.len() as u32;
        [&b"ID3"[..], &[version, 0, 0], &[(n >> 21) as u8 & 0x7f, (n >> 14) as u8 & 0x7f, (n >> 7) as u8 & 0x7f, n as u8 & 0x7f], frames].concat()
    }

    fn nested(levels: usize, syncsafe_size: bool) -> Vec<u8> {
        let mut f = frame(b"TIT2", b"\x00Title", syncsafe_size);
        for _ in 0..levels {
            f = chap(&f, syncsafe_size);
        }
        f
    }

    #[test]
    fn chapter_nesting_is_measured_under_both_size_readings() {
        for version in [3u8, 4] {
            for syncsafe_size in [true, false] {
                let ok = tag(version, &[nested(2, syncsafe_size), frame(b"TIT2", b"\x00x", syncsafe_size)].concat());
                assert_eq!(check_tag(&ok), Ok(()), "v2.{version}");
                let deep = tag(version, &nested(200, syncsafe_size));
                assert_eq!(check_tag(&deep), Err(Malformed::ChapterNesting), "v2.{version} syncsafe {syncsafe_size}");
            }
        }
        // A table of contents holding a chapter: two levels, fine.
        let toc = frame(b"CTOC", &[b"toc\0".as_slice(), &[3, 1], b"ch\0", &nested(1, true)].concat(), true);
        assert_eq!(check_tag(&tag(4, &toc)), Ok(()));
        // Truncated and garbage frames end the walk without a panic.
        let mut cut = tag(4, &nested(50, true));
        cut.truncate(200);
        assert!(check_tag(&cut).is_ok() || check_tag(&cut).is_err());
        assert_eq!(check_tag(&tag(4, &[0xFF; 64])), Ok(()));
    }

    #[test]
    fn tags_are_found_at_the_head_in_riff_chunks_and_before_a_footer() {
        let deep = tag(3, &nested(100, false));
        let mut file = deep.clone();
        file.extend([0u8; 100]);
        assert_eq!(tags_of(&mut std::io::Cursor::new(&file), file.len() as u64).len(), 1);
        let mut wav = b"RIFF\0\0\0\0WAVEdata\x04\0\0\0abcd".to_vec();
        wav.extend(b"id3 ");
        wav.extend((deep.len() as u32).to_le_bytes());
        wav.extend(&deep);
        let found = tags_of(&mut std::io::Cursor::new(&wav), wav.len() as u64);
        assert_eq!(found.len(), 1);
        assert_eq!(check_tag(&found[0]), Err(Malformed::ChapterNesting));
        let mut appended = vec![0u8; 500];
        appended.extend(&deep);
        let n = deep.len() as u32 - 10;
        appended.extend([&b"3DI"[..], &[3, 0, 0x10], &[(n >> 21) as u8 & 0x7f, (n >> 14) as u8 & 0x7f, (n >> 7) as u8 & 0x7f, n as u8 & 0x7f]].concat());
        assert_eq!(tags_of(&mut std::io::Cursor::new(&appended), appended.len() as u64).len(), 1);
    }
}
