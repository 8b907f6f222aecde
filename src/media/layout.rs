//! Where the coded audio sits inside a file, apart from its tag blocks: the byte range that
//! two copies of one recording share when only their tags differ. The store keeps the file
//! as head + audio + tail, so that range is stored once while every owner's own head and
//! tail (tags, cover, sample tables) keep their original bytes exactly.
//!
//! Works on the container structure only (no decoding) and never trusts a size field: any
//! inconsistency gives `None`, and the whole file is then treated as the audio.

use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;

use super::Input;

/// Files whose container is not understood, or whose audio region would be smaller than
/// this, are kept whole.
const MIN_AUDIO: u64 = 4096;

/// The coded-audio byte range of the file, or `None` to keep it whole.
pub fn audio_region(input: &Input) -> Option<Range<u64>> {
    let len = input.len().ok()?;
    let mut r = input.reader().ok()?;
    let region = find(&mut r, len).ok().flatten()?;
    (region.start <= region.end && region.end <= len && region.end - region.start >= MIN_AUDIO).then_some(region)
}

type Res<T> = std::io::Result<T>;

fn read_at<R: Read + Seek + ?Sized>(r: &mut R, at: u64, buf: &mut [u8]) -> Res<bool> {
    r.seek(SeekFrom::Start(at))?;
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..])? {
            0 => return Ok(false),
            n => got += n,
        }
    }
    Ok(true)
}

fn find<R: Read + Seek + ?Sized>(r: &mut R, len: u64) -> Res<Option<Range<u64>>> {
    let mut magic = [0u8; 12];
    if !read_at(r, 0, &mut magic)? {
        return Ok(None);
    }
    if &magic[4..8] == b"ftyp" {
        return mp4(r, len);
    }
    if &magic[0..4] == b"RIFF" && &magic[8..12] == b"WAVE" {
        return riff(r, len);
    }
    if &magic[0..4] == b"OggS" {
        return ogg(r, len);
    }
    // FLAC and MPEG audio may both start with ID3v2 tags.
    let start = skip_id3v2(r, len)?;
    let mut m = [0u8; 4];
    if !read_at(r, start, &mut m)? {
        return Ok(None);
    }
    let end = trailing_tags_start(r, start, len)?;
    if &m == b"fLaC" {
        return Ok(flac_frames(r, start + 4, end)?.map(|s| s..end));
    }
    if m[0] == 0xFF && m[1] & 0xE0 == 0xE0 {
        return Ok(Some(start..end));
    }
    Ok(None)
}

/// Offset after any ID3v2 tags at `0` (some files carry several).
fn skip_id3v2<R: Read + Seek + ?Sized>(r: &mut R, len: u64) -> Res<u64> {
    let mut at = 0u64;
    for _ in 0..4 {
        let mut h = [0u8; 10];
        if !read_at(r, at, &mut h)? || &h[0..3] != b"ID3" || h[6..10].iter().any(|b| b & 0x80 != 0) {
            break;
        }
        let size = h[6..10].iter().fold(0u64, |a, &b| (a << 7) | b as u64);
        let footer = if h[5] & 0x10 != 0 { 10 } else { 0 };
        let next = at + 10 + size + footer;
        if next > len {
            break;
        }
        at = next;
    }
    Ok(at)
}

/// Where ID3v1, APEv2 and Lyrics3 blocks at the end of the file begin (`len` if none).
fn trailing_tags_start<R: Read + Seek + ?Sized>(r: &mut R, floor: u64, len: u64) -> Res<u64> {
    let mut end = len;
    for _ in 0..4 {
        let before = end;
        let mut tag = [0u8; 3];
        if end >= floor + 128 && read_at(r, end - 128, &mut tag)? && &tag == b"TAG" {
            end -= 128;
        }
        let mut f = [0u8; 32];
        if end >= floor + 32 && read_at(r, end - 32, &mut f)? && &f[0..8] == b"APETAGEX" {
            let size = u32::from_le_bytes([f[12], f[13], f[14], f[15]]) as u64;
            let header = if f[23] & 0x80 != 0 { 32 } else { 0 };
            if size + header <= end - floor {
                end -= size + header;
            }
        }
        let mut l = [0u8; 15];
        if end >= floor + 15 && read_at(r, end - 15, &mut l)? && &l[6..15] == b"LYRICS200" {
            let size: u64 = std::str::from_utf8(&l[0..6]).ok().and_then(|s| s.parse().ok()).unwrap_or(u64::MAX);
            if size.checked_add(15).is_some_and(|t| t <= end - floor) {
                end -= size + 15;
            }
        }
        if end == before {
            break;
        }
    }
    Ok(end)
}

/// Offset of the first FLAC frame: past every metadata block (RFC 9639 §8).
fn flac_frames<R: Read + Seek + ?Sized>(r: &mut R, mut at: u64, end: u64) -> Res<Option<u64>> {
    for _ in 0..10_000 {
        let mut h = [0u8; 4];
        if !read_at(r, at, &mut h)? {
            return Ok(None);
        }
        let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as u64;
        at += 4 + size;
        if at > end {
            return Ok(None);
        }
        if h[0] & 0x80 != 0 {
            return Ok(Some(at));
        }
    }
    Ok(None)
}

/// The payload of the (largest) `mdat` box (ISO/IEC 14496-12 §8.1.1).
fn mp4<R: Read + Seek + ?Sized>(r: &mut R, len: u64) -> Res<Option<Range<u64>>> {
    let mut at = 0u64;
    let mut best: Option<Range<u64>> = None;
    for _ in 0..100_000 {
        if at + 8 > len {
            break;
        }
        let mut h = [0u8; 16];
        let have = read_at(r, at, &mut h)? || read_at(r, at, &mut h[..8])?;
        if !have {
            return Ok(None);
        }
        let small = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as u64;
        let (size, header) = match small {
            0 => (len - at, 8),
            1 => (u64::from_be_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]), 16),
            s => (s, 8),
        };
        if size < header || at + size > len {
            return Ok(None);
        }
        if &h[4..8] == b"mdat" && best.as_ref().is_none_or(|b| b.end - b.start < size - header) {
            best = Some(at + header..at + size);
        }
        at += size;
    }
    Ok(if at == len { best } else { None })
}

/// The payload of the `data` chunk of a RIFF/WAVE file.
fn riff<R: Read + Seek + ?Sized>(r: &mut R, len: u64) -> Res<Option<Range<u64>>> {
    let mut at = 12u64;
    for _ in 0..10_000 {
        let mut h = [0u8; 8];
        if !read_at(r, at, &mut h)? {
            return Ok(None);
        }
        let size = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as u64;
        if &h[0..4] == b"data" {
            return Ok(Some(at + 8..(at + 8 + size).min(len)));
        }
        at += 8 + size + (size & 1);
        if at >= len {
            return Ok(None);
        }
    }
    Ok(None)
}

/// From the first Ogg page with a granule position past the headers (RFC 3533): the
/// header pages (identification, comments, setup) carry granule 0.
fn ogg<R: Read + Seek + ?Sized>(r: &mut R, len: u64) -> Res<Option<Range<u64>>> {
    let mut at = 0u64;
    for _ in 0..10_000 {
        let mut h = [0u8; 27];
        if !read_at(r, at, &mut h)? || &h[0..4] != b"OggS" {
            return Ok(None);
        }
        let granule = u64::from_le_bytes([h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13]]);
        if granule != 0 && at > 0 {
            return Ok(Some(at..len));
        }
        let mut lacing = vec![0u8; h[26] as usize];
        if !read_at(r, at + 27, &mut lacing)? {
            return Ok(None);
        }
        at += 27 + lacing.len() as u64 + lacing.iter().map(|&b| b as u64).sum::<u64>();
        if at >= len {
            return Ok(None);
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(bytes: Vec<u8>) -> Option<Range<u64>> {
        audio_region(&Input::Bytes(bytes.into()))
    }

    #[test]
    fn mp3_without_its_id3_tags() {
        let mut f = b"ID3\x04\x00\x00\x00\x00\x00\x05hello".to_vec();
        f.extend(std::iter::repeat_n(0xFFu8, 1).chain(std::iter::repeat_n(0xFB, 1)).chain(std::iter::repeat_n(0u8, 8000)));
        let audio_end = f.len() as u64;
        f.extend(b"TAG");
        f.extend([0u8; 125]);
        assert_eq!(region(f), Some(15..audio_end));
    }

    #[test]
    fn flac_frames_after_the_last_metadata_block() {
        let mut f = b"fLaC".to_vec();
        f.extend([0x00, 0, 0, 34]);
        f.extend([0u8; 34]);
        f.extend([0x84, 0, 0, 10]); // last block: VORBIS_COMMENT of 10 bytes
        f.extend([1u8; 10]);
        let start = f.len() as u64;
        f.extend([0xFF, 0xF8]);
        f.extend([0u8; 6000]);
        let len = f.len() as u64;
        assert_eq!(region(f), Some(start..len));
    }

    #[test]
    fn hostile_sizes_keep_the_file_whole() {
        let mut f = b"fLaC".to_vec();
        f.extend([0x00, 0xFF, 0xFF, 0xFF]);
        f.extend([0u8; 5000]);
        assert_eq!(region(f), None);
        let mut m = vec![0, 0, 0, 16];
        m.extend(b"ftypM4A ");
        m.extend([0u8; 4]);
        m.extend([0xFF, 0xFF, 0xFF, 0xFF]);
        m.extend(b"mdat");
        m.extend([0u8; 5000]);
        assert_eq!(region(m), None);
        assert_eq!(region(b"RIFF\0\0\0\0WAVEdata".to_vec()), None);
        assert_eq!(region(Vec::new()), None);
    }

    #[test]
    fn every_fixture_format_has_its_audio_found() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/library");
        let mut seen = std::collections::BTreeSet::new();
        for dir in std::fs::read_dir(&root).unwrap().flatten() {
            for f in std::fs::read_dir(dir.path()).unwrap().flatten() {
                let ext = f.path().extension().and_then(|e| e.to_str()).unwrap_or("").to_string();
                if ext == "jpg" {
                    continue;
                }
                let len = f.metadata().unwrap().len();
                let r = audio_region(&Input::File(f.path())).unwrap_or_else(|| panic!("{}", f.path().display()));
                assert!(r.end - r.start > len / 2 && r.end <= len, "{}: {r:?} of {len}", f.path().display());
                seen.insert(ext);
            }
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["flac", "m4a", "mp3", "ogg", "opus", "wav"]);
    }
}
