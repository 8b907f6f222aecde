//! Radio: one of the user's lists (an album, a playlist, the favourites, a shuffle of the
//! library) as one MP3 or ADTS AAC stream for internet-radio devices, finite or endless,
//! with ICY metadata (`icy-metaint`, `StreamTitle`) when the client asks for it.
//!
//! The list plays in stations of up to [`STATION_TRACKS`] tracks. A station is one source
//! to the segment cache ([`MediaRef::station`]): its tracks back to back on one timeline and
//! one encoder across their joins, so they are gapless; cached under the ordered list of its
//! audio, so every listener of the same list shares its encodes, and read ahead as a track
//! is. A shuffle is a new random station each round. Part of `playback`: the same cache,
//! patience, grants and errors. Loudness normalisation applies per track (or by album),
//! so a shuffle of a mixed library does not jump in volume.

use std::io;
use std::sync::Arc;

use bytes::Bytes;

use super::{ByteStream, MID_STREAM_PATIENCE, Normalize, Playback, PlaybackError, Result, SignedList, kbps_bounds, media_ref, rules};
use crate::cache::{MediaRef, StreamError};
use crate::catalog::Track;
use crate::domain::UserId;
use crate::encode::{self, Codec};
use crate::package::progressive::adts_header;
use crate::package::{Layout, Rung, fmp4};
use crate::signing::List;

/// Tracks per station: an album or most of one (a join between stations is not gapless).
pub const STATION_TRACKS: usize = 24;
/// Audio bytes between two ICY metadata blocks (what SHOUTcast servers use).
pub const ICY_METAINT: usize = 16_000;

/// A list as a station the user can tune to, with a grant to tune to it.
pub struct Station {
    pub list: List,
    pub name: String,
    pub grant: SignedList,
}

/// A radio stream: what it carries, and the bytes (ICY blocks inside when `metaint` is set).
pub struct RadioStream {
    pub codec: Codec,
    pub kbps: u32,
    pub name: String,
    pub metaint: Option<usize>,
    pub body: ByteStream,
}

/// One round of the stream: a station and where its tracks start.
struct Round {
    station: MediaRef,
    layout: Layout,
    /// Output sample where each track starts, and its title.
    starts: Vec<u64>,
    titles: Vec<String>,
}

impl Round {
    fn title_at(&self, packet: u64) -> &str {
        let t = (packet * self.layout.frame_len).saturating_sub(self.layout.delay);
        let i = self.starts.partition_point(|&s| s <= t).saturating_sub(1);
        self.titles.get(i).map(String::as_str).unwrap_or("")
    }
}

/// ICY metadata interleaving (the SHOUTcast protocol): after every `every` audio bytes a
/// length byte (in 16-byte units) and that many bytes of `StreamTitle='…';`, or a zero
/// length when the title has not changed.
struct Icy {
    every: usize,
    left: usize,
    sent: Option<String>,
}

impl Icy {
    fn put(&mut self, mut data: &[u8], title: &str, out: &mut Vec<u8>) {
        while !data.is_empty() {
            let n = self.left.min(data.len());
            out.extend_from_slice(&data[..n]);
            data = &data[n..];
            self.left -= n;
            if self.left == 0 {
                self.meta(title, out);
                self.left = self.every;
            }
        }
    }

    fn meta(&mut self, title: &str, out: &mut Vec<u8>) {
        if self.sent.as_deref() == Some(title) {
            out.push(0);
            return;
        }
        // No quote can end the value early, no control character can end the line.
        let clean: String = title
            .chars()
            .map(|c| {
                if c == '\'' {
                    '’'
                } else if c.is_control() {
                    ' '
                } else {
                    c
                }
            })
            .collect();
        let mut text = format!("StreamTitle='{clean}';");
        while text.len() > 255 * 16 {
            let mut cut = 255 * 16 - 3;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str("';");
        }
        let blocks = text.len().div_ceil(16);
        out.push(blocks as u8);
        out.extend_from_slice(text.as_bytes());
        out.resize(out.len() + blocks * 16 - text.len(), 0);
        self.sent = Some(title.to_string());
    }
}

struct Tuner {
    playback: Playback,
    user: UserId,
    list: List,
    rung: Rung,
    repeat: bool,
    normalize: Normalize,
    /// The list as it was when the stream started (a shuffle draws anew each round).
    tracks: Arc<Vec<Track>>,
    round_no: usize,
    round: Option<Round>,
    k: u32,
    icy: Option<Icy>,
}

impl Tuner {
    /// The tracks of round `n`, or none when the list has ended.
    async fn tracks_of(&mut self, n: usize) -> Result<Option<Vec<Track>>> {
        if self.list == List::Shuffle {
            let (_, t) = self.playback.list_tracks(self.user, List::Shuffle).await?;
            return Ok(Some(t).filter(|t| !t.is_empty()));
        }
        let rounds = self.tracks.len().div_ceil(STATION_TRACKS);
        let n = if n >= rounds && self.repeat && rounds > 0 { n % rounds } else { n };
        Ok(self.tracks.get(n * STATION_TRACKS..).map(|t| t.iter().take(STATION_TRACKS).cloned().collect()).filter(|t: &Vec<Track>| !t.is_empty()))
    }

    async fn load(&mut self) -> Result<bool> {
        let Some(tracks) = self.tracks_of(self.round_no).await? else { return Ok(false) };
        let playable: Vec<&Track> =
            tracks.iter().filter(|t| crate::media::probe::playable(t.audio.sample_rate, t.audio.channels, t.audio.frames).is_ok()).collect();
        if playable.is_empty() {
            return Err(PlaybackError::NoSuchList("playable track"));
        }
        let items: Vec<MediaRef> = playable
            .iter()
            .map(|t| {
                let m = media_ref(t);
                match rules::normalisation_gain(&rules::loudness(t), self.normalize) {
                    Some(db) if db.abs() >= 0.01 => m.with_gain(db as f32),
                    _ => m,
                }
            })
            .collect();
        let mut starts = Vec::with_capacity(items.len());
        let mut at = 0;
        for m in &items {
            starts.push(at);
            at += m.timeline().frames;
        }
        let titles = playable.iter().map(|t| format!("{} - {}", t.tags.artist, t.tags.title)).collect();
        let station = MediaRef::station(items);
        let delay = match self.rung.codec {
            Codec::Aac => {
                let init = self.playback.0.streamer.init(&station, self.rung).await?;
                fmp4::priming(&init).ok_or_else(|| PlaybackError::Internal("init segment without an edit list".into()))?
            }
            _ => encode::Mp3Encoder::PRIMING,
        };
        let layout = Layout::new(station.timeline(), self.rung.codec.frame_len(), delay as u32);
        self.round = Some(Round { station, layout, starts, titles });
        self.k = 0;
        Ok(true)
    }

    /// The next bytes of the stream; `None` at its end. `patient`: wait out a busy
    /// transcoder (mid-stream) instead of answering `Busy` (the first bytes).
    async fn next(&mut self, patient: bool) -> Result<Option<Bytes>> {
        loop {
            if self.round.is_none() && !self.load().await? {
                return Ok(None);
            }
            let Some(r) = &self.round else { continue };
            if self.k >= r.station.timeline().segment_count() {
                self.round = None;
                self.round_no += 1;
                continue;
            }
            let waited = std::time::Instant::now();
            let seg = loop {
                match self.playback.0.streamer.segment(&r.station, self.rung, self.k).await {
                    Ok(b) => break b,
                    Err(StreamError::Busy(_)) if patient && waited.elapsed() < MID_STREAM_PATIENCE => {
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            let mut out = Vec::with_capacity(seg.len() + 1024);
            let channels = r.station.info.out_channels();
            let mut put = |data: &[u8], title: &str, out: &mut Vec<u8>| match self.icy.as_mut() {
                Some(icy) => icy.put(data, title, out),
                None => out.extend_from_slice(data),
            };
            match self.rung.codec {
                Codec::Aac => {
                    let (base, packets) = fmp4::packets(&seg).ok_or_else(|| PlaybackError::Internal("a cached segment does not parse".into()))?;
                    for (i, p) in packets.iter().enumerate() {
                        let title = r.title_at(base / 1024 + i as u64);
                        put(&adts_header(channels, p.len()), title, &mut out);
                        put(p, title, &mut out);
                    }
                }
                _ => {
                    let f = encode::mp3_frame_bytes(self.rung.bitrate / 1000);
                    let first = r.layout.first_packet(self.k);
                    for (i, frame) in seg.chunks(f).enumerate() {
                        put(frame, r.title_at(first + i as u64), &mut out);
                    }
                }
            }
            self.k += 1;
            return Ok(Some(Bytes::from(out)));
        }
    }
}

impl Playback {
    /// The lists `user` can tune to: a shuffle of the library, the favourites, every
    /// playlist and every album, each signed (they are the user's: no list is looked up).
    pub async fn stations(&self, user: UserId) -> Result<Vec<Station>> {
        let catalog = self.0.catalog.clone();
        let lists = super::blocking(move || {
            let mut out = vec![(List::Shuffle, "Shuffle".to_string()), (List::Favourites, "Favourites".to_string())];
            out.extend(catalog.list_playlists(user)?.into_iter().map(|p| (List::Playlist(p.id), p.name)));
            let page = crate::catalog::Page { limit: u32::MAX, offset: 0 };
            let (albums, _) = catalog.list_albums(user, crate::catalog::AlbumSort::Artist, page)?;
            out.extend(albums.into_iter().map(|a| (List::Album(a.id), format!("{} - {}", a.artist, a.title))));
            Ok(out)
        })
        .await?;
        let mut out = Vec::with_capacity(lists.len());
        for (list, name) in lists {
            out.push(Station { list, name, grant: self.sign_list(user, list).await? });
        }
        Ok(out)
    }

    /// One of `user`'s lists as a station (`NoSuchList` if it is not theirs).
    pub async fn station(&self, user: UserId, list: List) -> Result<Station> {
        let (name, _) = self.list_tracks(user, list).await?;
        Ok(Station { list, name, grant: self.sign_list(user, list).await? })
    }

    /// `list` as a radio stream in `codec` (MP3 or AAC) at `kbps` (the codec's default
    /// when `None`), with ICY metadata when `icy`. A shuffle never ends; another list ends
    /// after its last track unless `repeat`. The first bytes are made before this returns,
    /// so an empty list, a busy transcoder or a broken file is an error, not a cut stream.
    #[allow(clippy::too_many_arguments)]
    pub async fn radio(&self, user: UserId, list: List, codec: Codec, kbps: Option<u32>, icy: bool, repeat: bool, normalize: Normalize) -> Result<RadioStream> {
        let (default, range) = kbps_bounds(codec);
        let kbps = kbps.unwrap_or(default);
        if !range.contains(&kbps) {
            return Err(PlaybackError::BadBitrate { codec: codec.name(), min: *range.start(), max: *range.end() });
        }
        let rung = match codec {
            Codec::Mp3 => Rung { codec, bitrate: encode::mp3_standard_kbps(kbps * 1000) * 1000 },
            Codec::Aac => Rung { codec, bitrate: kbps * 1000 },
            Codec::Opus => return Err(PlaybackError::BadFormat("opus (radio streams are mp3 or aac)".into())),
        };
        let (name, tracks) = self.list_tracks(user, list).await?;
        let metaint = icy.then_some(ICY_METAINT);
        let mut tuner = Tuner {
            playback: self.clone(),
            user,
            list,
            rung,
            repeat: repeat || list == List::Shuffle,
            normalize,
            tracks: Arc::new(tracks),
            round_no: 0,
            round: None,
            k: 0,
            icy: metaint.map(|every| Icy { every, left: every, sent: None }),
        };
        let first = tuner.next(false).await?.ok_or(PlaybackError::NoSuchList("playable track"))?;
        let body = futures_util::stream::unfold((Some(first), tuner), |(first, mut tuner)| async move {
            if let Some(b) = first {
                return Some((Ok::<_, io::Error>(b), (None, tuner)));
            }
            match tuner.next(true).await {
                Ok(Some(b)) => Some((Ok(b), (None, tuner))),
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "radio stream ends early");
                    None
                }
            }
        });
        Ok(RadioStream { codec, kbps: rung.bitrate / 1000, name, metaint, body: Box::pin(body) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icy_blocks_come_every_metaint_bytes_and_carry_the_title_once() {
        let mut icy = Icy { every: 10, left: 10, sent: None };
        let mut out = Vec::new();
        icy.put(&[1; 25], "A - B's", &mut out);
        // 10 bytes, a block, 10 bytes, a zero, 5 bytes.
        assert!(out[..10].iter().all(|&b| b == 1));
        let n = out[10] as usize * 16;
        let meta = std::str::from_utf8(&out[11..11 + n]).unwrap().trim_end_matches('\0');
        assert_eq!(meta, "StreamTitle='A - B’s';");
        assert_eq!(out[11 + n + 10], 0);
        assert_eq!(out.len(), 25 + 1 + n + 1);
    }
}
