//! A focused CMAF / fragmented-MP4 writer for one audio track: the initialization segment
//! (`ftyp` + `moov`) and media segments (`styp` + `moof` + `mdat`).
//!
//! Every box cites its definition: ISO/IEC 14496-12:2015 ("12") for the ISO base media file
//! format, ISO/IEC 14496-14 and 14496-1 for `esds`, and "Encapsulation of Opus in ISO Base
//! Media File Format" v0.8.1 ("Opus") for `Opus`/`dOps`, pre-roll and trimming.

/// Codec description for the sample entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SampleEntry {
    /// AAC: the AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) and the nominal bitrate.
    Aac { asc: Vec<u8>, bitrate: u32 },
    /// Opus: the encoder's pre-skip in 48 kHz samples and the source's original rate.
    Opus { pre_skip: u16 },
}

/// Everything the init segment declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackConfig {
    pub entry: SampleEntry,
    pub channels: u16,
    /// Media timescale (the sample rate, 48000).
    pub timescale: u32,
    /// Samples per packet (Opus 960, AAC 1024): the default sample duration.
    pub frame_len: u32,
    /// Encoder priming to skip at the start (edit list `media_time`).
    pub priming: u32,
    /// Playable samples (edit list `segment_duration`).
    pub duration: u64,
}

const TRACK_ID: u32 = 1;
/// sample_depends_on = 2 (does not depend on others): every audio sample is a sync sample
/// (12 §8.8.3.1 sample flags; Opus §4.3.6.1: every Opus sample is a random access point).
const SYNC_SAMPLE_FLAGS: u32 = 0x0200_0000;

struct W(Vec<u8>);

impl W {
    fn new() -> W {
        W(Vec::with_capacity(1024))
    }
    fn u8(&mut self, v: u8) -> &mut W {
        self.0.push(v);
        self
    }
    fn u16(&mut self, v: u16) -> &mut W {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u32(&mut self, v: u32) -> &mut W {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut W {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn bytes(&mut self, b: &[u8]) -> &mut W {
        self.0.extend_from_slice(b);
        self
    }
    fn zeros(&mut self, n: usize) -> &mut W {
        self.0.resize(self.0.len() + n, 0);
        self
    }
    /// A box (12 §4.2): size, type, then what `body` writes.
    fn boxed(&mut self, kind: &[u8; 4], body: impl FnOnce(&mut W)) -> &mut W {
        let at = self.0.len();
        self.u32(0).bytes(kind);
        body(self);
        let size = (self.0.len() - at) as u32;
        self.0[at..at + 4].copy_from_slice(&size.to_be_bytes());
        self
    }
    /// A full box (12 §4.2): a box with version and 24-bit flags.
    fn full(&mut self, kind: &[u8; 4], version: u8, flags: u32, body: impl FnOnce(&mut W)) -> &mut W {
        self.boxed(kind, |w| {
            w.u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
            body(w);
        })
    }
}

/// Unity matrix for mvhd/tkhd (12 §8.2.2.3).
const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// The initialization segment: `ftyp` + `moov`.
pub fn init_segment(t: &TrackConfig) -> Vec<u8> {
    let mut w = W::new();
    // 12 §4.3 File Type Box. iso6 covers sample groups in fragments; cmfc is CMAF; Opus §4.1
    // asks for the 'Opus' brand.
    w.boxed(b"ftyp", |w| {
        w.bytes(b"iso6").u32(0).bytes(b"iso6").bytes(b"cmfc").bytes(b"mp41");
        if matches!(t.entry, SampleEntry::Opus { .. }) {
            w.bytes(b"Opus");
        }
    });
    // 12 §8.2.1 Movie Box.
    w.boxed(b"moov", |w| {
        // 12 §8.2.2 Movie Header Box: duration 0, the fragments carry the samples.
        w.full(b"mvhd", 0, 0, |w| {
            w.u32(0).u32(0).u32(t.timescale).u32(0);
            w.u32(0x0001_0000).u16(0x0100).zeros(10);
            for m in MATRIX {
                w.u32(m);
            }
            w.zeros(24).u32(TRACK_ID + 1);
        });
        // 12 §8.8.1 Movie Extends Box: this file is fragmented.
        w.boxed(b"mvex", |w| {
            // 12 §8.8.2 Movie Extends Header Box: the whole presentation's length.
            w.full(b"mehd", 1, 0, |w| {
                w.u64(t.duration + u64::from(t.priming));
            });
            // 12 §8.8.3 Track Extends Box: defaults for every fragment.
            w.full(b"trex", 0, 0, |w| {
                w.u32(TRACK_ID).u32(1).u32(t.frame_len).u32(0).u32(SYNC_SAMPLE_FLAGS);
            });
        });
        w.boxed(b"trak", |w| trak(w, t));
    });
    w.0
}

/// 12 §8.3.1 Track Box.
fn trak(w: &mut W, t: &TrackConfig) {
    // 12 §8.3.2 Track Header Box: enabled, in movie and preview (flags 7); audio volume 1.0.
    w.full(b"tkhd", 0, 7, |w| {
        w.u32(0).u32(0).u32(TRACK_ID).u32(0).u32(0);
        w.zeros(8).u16(0).u16(1).u16(0x0100).u16(0);
        for m in MATRIX {
            w.u32(m);
        }
        w.u32(0).u32(0);
    });
    // 12 §8.6.5 Edit Box / §8.6.6 Edit List Box: skip the encoder priming and end at the
    // playable length (Opus §4.4: media_time = pre-skip; the same holds for AAC priming).
    // The movie timescale equals the media timescale, so durations need no rescaling.
    w.boxed(b"edts", |w| {
        w.full(b"elst", 1, 0, |w| {
            w.u32(1).u64(t.duration).u64(u64::from(t.priming)).u16(1).u16(0);
        });
    });
    // 12 §8.4.1 Media Box.
    w.boxed(b"mdia", |w| {
        // 12 §8.4.2 Media Header Box; language "und" packed as ISO-639-2/T.
        w.full(b"mdhd", 0, 0, |w| {
            w.u32(0).u32(0).u32(t.timescale).u32(0).u16(0x55c4).u16(0);
        });
        // 12 §8.4.3 Handler Reference Box: a sound track.
        w.full(b"hdlr", 0, 0, |w| {
            w.u32(0).bytes(b"soun").zeros(12).bytes(b"Tonearm\0");
        });
        // 12 §8.4.4 Media Information Box.
        w.boxed(b"minf", |w| {
            // 12 §12.2.2 Sound Media Header Box.
            w.full(b"smhd", 0, 0, |w| {
                w.u16(0).u16(0);
            });
            // 12 §8.7.1 Data Information Box / §8.7.2 Data Reference Box: media in this file.
            w.boxed(b"dinf", |w| {
                w.full(b"dref", 0, 0, |w| {
                    w.u32(1).full(b"url ", 0, 1, |_| {});
                });
            });
            stbl(w, t);
        });
    });
}

/// 12 §8.5.1 Sample Table Box: the sample description, empty tables (the samples live in
/// fragments), and the pre-roll sample group description.
fn stbl(w: &mut W, t: &TrackConfig) {
    w.boxed(b"stbl", |w| {
        // 12 §8.5.2 Sample Description Box.
        w.full(b"stsd", 0, 0, |w| {
            w.u32(1);
            match &t.entry {
                SampleEntry::Opus { pre_skip } => opus_entry(w, t, *pre_skip),
                SampleEntry::Aac { asc, bitrate } => mp4a_entry(w, t, asc, *bitrate),
            }
        });
        // 12 §8.6.1.2 stts, §8.7.4 stsc, §8.7.3.2 stsz, §8.7.5 stco: empty in a fragmented file.
        w.full(b"stts", 0, 0, |w| {
            w.u32(0);
        });
        w.full(b"stsc", 0, 0, |w| {
            w.u32(0);
        });
        w.full(b"stsz", 0, 0, |w| {
            w.u32(0).u32(0);
        });
        w.full(b"stco", 0, 0, |w| {
            w.u32(0);
        });
        // 12 §8.9.3 Sample Group Description Box, grouping 'roll' with one
        // AudioRollRecoveryEntry (12 §10.1.1.2): decoding must start `roll_distance` samples
        // early. Opus §4.3.6.2: pre-roll of 80 ms = 4 packets of 20 ms; AAC: one frame.
        w.full(b"sgpd", 1, 0, |w| {
            w.bytes(b"roll").u32(2).u32(1).u16(roll_distance(t) as u16);
        });
    });
}

fn roll_distance(t: &TrackConfig) -> i16 {
    match t.entry {
        SampleEntry::Opus { .. } => -(3840u32.div_ceil(t.frame_len.max(1)) as i16),
        SampleEntry::Aac { .. } => -1,
    }
}

/// The fields every AudioSampleEntry starts with (12 §8.5.2.2 SampleEntry, §12.2.3.2).
fn audio_sample_entry_fields(w: &mut W, channels: u16, rate: u32) {
    w.zeros(6).u16(1); // reserved, data_reference_index
    w.zeros(8); // reserved (version 0 entry)
    w.u16(channels).u16(16).u16(0).u16(0);
    w.u32(rate.min(0xffff) << 16); // 16.16 fixed point; 48000 fits
}

/// Opus §4.3.1 OpusSampleEntry ('Opus') with Opus §4.3.2 OpusSpecificBox ('dOps').
/// Big-endian, Version 0 (unlike Ogg's little-endian OpusHead).
fn opus_entry(w: &mut W, t: &TrackConfig, pre_skip: u16) {
    w.boxed(b"Opus", |w| {
        audio_sample_entry_fields(w, t.channels, 48_000);
        w.boxed(b"dOps", |w| {
            // InputSampleRate is informational (Opus §4.3.2), but Chromium's MSE demuxer
            // rejects an init segment where it differs from the sample entry's 48000. The
            // encoder's input is 48 kHz anyway (we resample to it).
            w.u8(0).u8(t.channels as u8).u16(pre_skip).u32(48_000).u16(0);
            // ChannelMappingFamily 0: mono or stereo, no mapping table (RFC 7845 §5.1.1.2).
            w.u8(0);
        });
    });
}

/// MP4AudioSampleEntry ('mp4a', ISO/IEC 14496-14 §5.6) with its ESDBox.
fn mp4a_entry(w: &mut W, t: &TrackConfig, asc: &[u8], bitrate: u32) {
    w.boxed(b"mp4a", |w| {
        audio_sample_entry_fields(w, t.channels, t.timescale);
        w.full(b"esds", 0, 0, |w| {
            // ISO/IEC 14496-1 §7.2.6.5 ES_Descriptor (tag 3).
            let dsi_len = asc.len();
            let dcd_len = 13 + 2 + dsi_len;
            let es_len = 3 + 2 + dcd_len + 3;
            w.u8(0x03).u8(es_len as u8).u16(0).u8(0);
            // §7.2.6.6 DecoderConfigDescriptor (tag 4): objectTypeIndication 0x40 (MPEG-4
            // audio), streamType 5 (audio) << 2 | upStream 0 | reserved 1.
            w.u8(0x04).u8(dcd_len as u8).u8(0x40).u8(0x15);
            w.u8(0).u16(6144 / 8 * t.channels); // bufferSizeDB: 6144 bits per channel
            w.u32(bitrate).u32(bitrate);
            // §7.2.6.7 DecoderSpecificInfo (tag 5): the AudioSpecificConfig.
            w.u8(0x05).u8(dsi_len as u8).bytes(asc);
            // §7.3.2.3 SLConfigDescriptor (tag 6): predefined = 2 (MP4).
            w.u8(0x06).u8(1).u8(2);
        });
    });
}

/// One media segment: `styp`, then one `moof` + `mdat` holding `packets`, whose first
/// packet has decode time `base_time` (in timescale units). `sequence` starts at 1.
pub fn media_segment(t: &TrackConfig, sequence: u32, base_time: u64, packets: &[Vec<u8>]) -> Vec<u8> {
    let payload: usize = packets.iter().map(Vec::len).sum();
    let mut w = W(Vec::with_capacity(payload + 128 + packets.len() * 4));
    // 12 §8.16.2 Segment Type Box: a general media segment ('msdh', ISO/IEC 23009-1
    // §6.3.4.2) and a CMAF segment ('cmfs'). Not 'msix', which promises a 'sidx'.
    w.boxed(b"styp", |w| {
        w.bytes(b"msdh").u32(0).bytes(b"msdh").bytes(b"cmfs");
    });
    let moof_at = w.0.len();
    let mut data_offset_at = 0;
    // 12 §8.8.4 Movie Fragment Box.
    w.boxed(b"moof", |w| {
        // 12 §8.8.5 Movie Fragment Header Box.
        w.full(b"mfhd", 0, 0, |w| {
            w.u32(sequence);
        });
        // 12 §8.8.6 Track Fragment Box.
        w.boxed(b"traf", |w| {
            // 12 §8.8.7 Track Fragment Header Box: default-base-is-moof (0x020000),
            // default-sample-duration (0x08) and default-sample-flags (0x20) present.
            w.full(b"tfhd", 0, 0x02_0028, |w| {
                w.u32(TRACK_ID).u32(t.frame_len).u32(SYNC_SAMPLE_FLAGS);
            });
            // 12 §8.8.12 Track Fragment Base Media Decode Time Box (64-bit).
            w.full(b"tfdt", 1, 0, |w| {
                w.u64(base_time);
            });
            // 12 §8.8.8 Track Fragment Run Box: data-offset (0x01) and sample-size (0x200).
            w.full(b"trun", 0, 0x0201, |w| {
                w.u32(packets.len() as u32);
                data_offset_at = w.0.len();
                w.u32(0);
                for p in packets {
                    w.u32(p.len() as u32);
                }
            });
            // 12 §8.9.2 Sample to Group Box: every sample of this fragment belongs to the
            // 'roll' description 1 in the moov (Opus §4.3.6.2 requires it in each traf).
            w.full(b"sbgp", 0, 0, |w| {
                w.bytes(b"roll").u32(1).u32(packets.len() as u32).u32(1);
            });
        });
    });
    let moof_len = w.0.len() - moof_at;
    // data_offset counts from the start of the moof to the first sample byte (after mdat's
    // 8-byte header).
    let off = (moof_len + 8) as u32;
    w.0[data_offset_at..data_offset_at + 4].copy_from_slice(&off.to_be_bytes());
    // 12 §8.1.1 Media Data Box.
    w.u32((payload + 8) as u32).bytes(b"mdat");
    for p in packets {
        w.bytes(p);
    }
    w.0
}

/// Reading back what this module wrote (for progressive streams cut from cached segments).
/// Walks boxes by their sizes, bounded by the buffer; anything unexpected is `None`.
mod read {
    /// The boxes directly inside `b`: (type, body).
    pub fn boxes(mut b: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
        std::iter::from_fn(move || {
            if b.len() < 8 {
                return None;
            }
            let size = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
            if size < 8 || size > b.len() {
                return None;
            }
            let (kind, body) = (&b[4..8], &b[8..size]);
            b = &b[size..];
            Some((kind, body))
        })
    }

    pub fn find<'a>(b: &'a [u8], path: &[&[u8; 4]]) -> Option<&'a [u8]> {
        let (first, rest) = path.split_first()?;
        let (_, body) = boxes(b).find(|(k, _)| k == first)?;
        if rest.is_empty() { Some(body) } else { find(body, rest) }
    }

    pub fn u32_at(b: &[u8], at: usize) -> Option<u32> {
        b.get(at..at + 4).map(|x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]))
    }

    pub fn u64_at(b: &[u8], at: usize) -> Option<u64> {
        b.get(at..at + 8).map(|x| u64::from_be_bytes([x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]]))
    }
}

/// The priming (encoder delay, in timescale units) an init segment's edit list trims.
pub fn priming(init: &[u8]) -> Option<u64> {
    let elst = read::find(init, &[b"moov", b"trak", b"edts", b"elst"])?;
    // Version 1: flags, entry count, then segment duration (64) and media time (64).
    read::u64_at(elst, 16)
}

/// A media segment's first decode time and its packets, as [`media_segment`] wrote them.
pub fn packets(segment: &[u8]) -> Option<(u64, Vec<&[u8]>)> {
    let mut moof_at = None;
    let mut offset = 0;
    for (kind, body) in read::boxes(segment) {
        if kind == b"moof" {
            moof_at = Some(offset);
        }
        offset += body.len() + 8;
    }
    let moof_at = moof_at?;
    let moof = read::find(segment, &[b"moof"])?;
    let traf = read::find(moof, &[b"traf"])?;
    let tfdt = read::find(traf, &[b"tfdt"])?;
    let base = if tfdt.first() == Some(&1) { read::u64_at(tfdt, 4)? } else { u64::from(read::u32_at(tfdt, 4)?) };
    let trun = read::find(traf, &[b"trun"])?;
    let count = read::u32_at(trun, 4)? as usize;
    let data_offset = read::u32_at(trun, 8)? as usize;
    let mut at = moof_at.checked_add(data_offset)?;
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let size = read::u32_at(trun, 12 + 4 * i)? as usize;
        out.push(segment.get(at..at.checked_add(size)?)?);
        at += size;
    }
    Some((base, out))
}
