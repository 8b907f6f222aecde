//! MPEG-2 transport stream segments (ISO/IEC 13818-1) for HLS clients that take only TS
//! (Alexa, Android's MediaPlayer, older Sonos, MPD): the AAC packets of an fMP4 segment,
//! each behind an ADTS header (ISO/IEC 14496-3 §1.A.2), in PES packets of up to
//! [`FRAMES_PER_PES`] frames, after a PAT and a PMT.
//!
//! A TS segment is a view of the fMP4 segment of the same rung and index: the same grid,
//! the same packets, the same cache. Timestamps follow from the packet's place on the
//! timeline (`base` in 48 kHz units, the encoder delay subtracted, plus [`PTS_OFFSET`]), so
//! a segment made cold carries the timestamps a continuous stream would. Each segment
//! opens with one PAT and one PMT whose continuity counters are the segment's index
//! (mod 16), so segments read in order continue them as one stream would (libdvbpsi, in
//! VLC, reports a repeated counter as a duplicate); the audio's counter starts at 0 in
//! every segment and says so (`discontinuity_indicator`), as a segment that may be fetched
//! alone must.
//!
//! Pure functions over bytes (the ADTS header is `progressive`'s).

use super::progressive::adts_header;

/// Packet identifiers: the PMT's, and the audio's (which also carries the PCR).
const PMT_PID: u16 = 0x1000;
const AUDIO_PID: u16 = 0x0100;
/// `stream_type` of ADTS AAC (ISO/IEC 13818-7).
const STREAM_TYPE_AAC: u8 = 0x0f;
/// AAC frames per PES packet (about 0.17 s at 48 kHz).
pub const FRAMES_PER_PES: usize = 8;
/// Where the timeline's first sample sits, in 90 kHz ticks (1 s: room for the encoder
/// delay before it, and the PCR before that).
pub const PTS_OFFSET: u64 = 90_000;
/// How far the PCR runs ahead of the PTS it precedes (100 ms of decoder buffer).
const PCR_LEAD: u64 = 9_000;
const PACKET: usize = 188;

/// Media segment `index`: `packets` (raw AAC-LC frames of 1024 samples at 48 kHz,
/// `channels` channels) whose first starts at `base` samples of the encoder's output,
/// `priming` of which are the encoder's delay.
pub fn media_segment(index: u32, channels: u16, base: u64, priming: u64, packets: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(packets.iter().map(|p| p.len() + 7).sum::<usize>() * 21 / 20 + 2 * PACKET);
    let psi_cc = (index % 16) as u8;
    let mut cc = Counters { pat: psi_cc, pmt: psi_cc, audio: 0 };
    psi(&mut out, 0, &pat(), &mut cc.pat);
    psi(&mut out, PMT_PID, &pmt(), &mut cc.pmt);
    let rate = u64::from(crate::encode::OUTPUT_RATE);
    for (i, chunk) in packets.chunks(FRAMES_PER_PES).enumerate() {
        let first = base + (i * FRAMES_PER_PES) as u64 * 1024;
        let ticks = |samples: u64| (u128::from(samples) * 90_000 / u128::from(rate)) as u64;
        // The delay is under a second (PTS_OFFSET): the first sample heard is at PTS_OFFSET.
        let pts = PTS_OFFSET + ticks(first) - ticks(priming).min(PTS_OFFSET);
        let mut es = Vec::with_capacity(chunk.iter().map(|p| p.len() + 7).sum());
        for p in chunk {
            es.extend_from_slice(&adts_header(channels, p.len()));
            es.extend_from_slice(p);
        }
        pes(&mut out, pts, &es, i == 0, &mut cc.audio);
    }
    out
}

struct Counters {
    pat: u8,
    pmt: u8,
    audio: u8,
}

/// The PAT: one program, its PMT on [`PMT_PID`].
fn pat() -> Vec<u8> {
    section(0x00, 1, &[0x00, 0x01, 0xe0 | (PMT_PID >> 8) as u8, PMT_PID as u8])
}

/// The PMT: the audio stream, which carries the PCR.
fn pmt() -> Vec<u8> {
    let body = [
        0xe0 | (AUDIO_PID >> 8) as u8,
        AUDIO_PID as u8, // PCR PID
        0xf0,
        0x00, // no program descriptors
        STREAM_TYPE_AAC,
        0xe0 | (AUDIO_PID >> 8) as u8,
        AUDIO_PID as u8,
        0xf0,
        0x00, // no stream descriptors
    ];
    section(0x02, 1, &body)
}

/// A PSI section: table id, the id field (transport stream / program number), version 0,
/// current, section 0 of 0, `body`, CRC-32.
fn section(table: u8, id: u16, body: &[u8]) -> Vec<u8> {
    let len = 5 + body.len() + 4;
    let mut s = vec![table, 0xb0 | (len >> 8) as u8, len as u8, (id >> 8) as u8, id as u8, 0xc1, 0x00, 0x00];
    s.extend_from_slice(body);
    let crc = crc32(&s);
    s.extend_from_slice(&crc.to_be_bytes());
    s
}

/// CRC-32/MPEG-2 (polynomial 0x04C11DB7, no reflection, no final XOR).
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ 0x04c1_1db7 } else { crc << 1 };
        }
    }
    crc
}

/// One TS packet carrying a PSI section (pointer field 0, the rest stuffed with 0xff).
fn psi(out: &mut Vec<u8>, pid: u16, section: &[u8], cc: &mut u8) {
    let start = out.len();
    // The section's first packet in this segment: a discontinuity of the counter.
    out.extend_from_slice(&[0x47, 0x40 | (pid >> 8) as u8, pid as u8, 0x30 | (*cc & 0x0f), 1, 0x80]);
    *cc = cc.wrapping_add(1);
    out.push(0x00);
    out.extend_from_slice(section);
    out.resize(start + PACKET, 0xff);
}

/// Splits one PES packet (PTS only) into TS packets on [`AUDIO_PID`]; the first carries
/// the PCR, and in a segment's first PES the discontinuity indicator. The last is filled
/// out by stuffing its adaptation field.
fn pes(out: &mut Vec<u8>, pts: u64, es: &[u8], first_in_segment: bool, cc: &mut u8) {
    let mut pes = Vec::with_capacity(es.len() + 14);
    let pes_len = (3 + 5 + es.len()).min(0xffff);
    pes.extend_from_slice(&[0, 0, 1, 0xc0, (pes_len >> 8) as u8, pes_len as u8, 0x80, 0x80, 5]);
    pes.extend_from_slice(&timestamp(0x2, pts));
    pes.extend_from_slice(es);
    let mut rest = &pes[..];
    let mut first = true;
    while !rest.is_empty() {
        // The adaptation field after its length byte: flags, then the PCR, then stuffing.
        let mut af: Option<Vec<u8>> = None;
        if first {
            let pcr = pts.saturating_sub(PCR_LEAD);
            let flags = if first_in_segment { 0x90 } else { 0x10 }; // (discontinuity,) PCR
            af = Some(vec![flags, (pcr >> 25) as u8, (pcr >> 17) as u8, (pcr >> 9) as u8, (pcr >> 1) as u8, (((pcr & 1) << 7) as u8) | 0x7e, 0x00]);
        }
        let room = PACKET - 4 - af.as_ref().map_or(0, |a| 1 + a.len());
        let take = rest.len().min(room);
        if take < room {
            let stuffing = room - take;
            match af.as_mut() {
                Some(a) => a.resize(a.len() + stuffing, 0xff),
                // One byte: the length byte alone (an empty field); more: flags, then 0xff.
                None if stuffing == 1 => af = Some(Vec::new()),
                None => {
                    let mut a = vec![0x00];
                    a.resize(stuffing - 1, 0xff);
                    af = Some(a);
                }
            }
        }
        let control = if af.is_some() { 0x30 } else { 0x10 };
        out.extend_from_slice(&[0x47, (if first { 0x40 } else { 0 }) | (AUDIO_PID >> 8) as u8, AUDIO_PID as u8, control | (*cc & 0x0f)]);
        *cc = cc.wrapping_add(1);
        if let Some(a) = af {
            out.push(a.len() as u8);
            out.extend_from_slice(&a);
        }
        out.extend_from_slice(&rest[..take]);
        rest = &rest[take..];
        first = false;
    }
}

/// A 33-bit PES timestamp with its 4-bit prefix and marker bits.
fn timestamp(prefix: u8, t: u64) -> [u8; 5] {
    let t = t & 0x1_ffff_ffff;
    [(prefix << 4) | (((t >> 30) as u8 & 0x07) << 1) | 1, (t >> 22) as u8, (((t >> 15) as u8 & 0x7f) << 1) | 1, (t >> 7) as u8, ((t as u8 & 0x7f) << 1) | 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crc_is_mpeg2s() {
        // The catalogued check value of CRC-32/MPEG-2.
        assert_eq!(crc32(b"123456789"), 0x0376_e6e7);
    }

    #[test]
    fn every_packet_is_188_bytes_with_a_sync_byte_and_counters_run() {
        let frames: Vec<Vec<u8>> = (0..23).map(|i| vec![i as u8; 150 + i * 37]).collect();
        let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        let seg = media_segment(0, 2, 1024 * 40, 2048, &refs);
        // The PAT and PMT of segment k carry counter k mod 16.
        let later = media_segment(17, 2, 1024 * 40, 2048, &refs);
        assert_eq!((later[3] & 0x0f, later[PACKET + 3] & 0x0f), (1, 1));
        assert_eq!((seg[3] & 0x0f, seg[PACKET + 3] & 0x0f), (0, 0));
        assert_eq!(seg.len() % PACKET, 0);
        let mut expect = 0u8;
        let mut payload = 0usize;
        for p in seg.chunks(PACKET) {
            assert_eq!(p[0], 0x47);
            let pid = (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
            if pid == AUDIO_PID {
                assert_eq!(p[3] & 0x0f, expect);
                expect = (expect + 1) & 0x0f;
                let afc = (p[3] >> 4) & 3;
                let start = if afc & 2 != 0 { 5 + p[4] as usize } else { 4 };
                payload += PACKET - start;
            }
        }
        // Every frame behind its 7-byte header, and one 14-byte PES header per 8 frames.
        let es: usize = frames.iter().map(|f| f.len() + 7).sum();
        assert_eq!(payload, es + 14 * frames.len().div_ceil(FRAMES_PER_PES));
    }
}
