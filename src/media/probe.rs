//! Audio probing: container, codec, sample rate, channels, bit depth, exact duration and
//! bitrate, plus a decode check that tells playable files from junk and damaged files.
//!
//! Duration rules: trust the container where it states the length exactly (FLAC STREAMINFO,
//! MP4 sample tables corrected by the edit list / iTunSMPB, Ogg granule positions, WAV data
//! size); count packets where it does not (MP3 always, since a Xing/LAME header can be absent
//! or stale; anything with an unknown length). Never estimate from the bitrate.

use std::io::{Read, Seek};
use std::path::Path;

use symphonia::core::codecs::CodecParameters;
use symphonia::core::codecs::audio::well_known::{CODEC_ID_AAC, CODEC_ID_MP3};
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::Time;

use super::{Input, codecs, heaac, mp4};
pub use crate::domain::{AudioProps, DurationSource};

/// Why a file cannot be imported. `code()` is the stable machine-readable name.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("empty file")]
    Empty,
    #[error("not an audio file: {0}")]
    NotAudio(String),
    #[error("unsupported codec: {0}")]
    UnsupportedCodec(String),
    #[error("audio cannot be decoded: {0}")]
    Undecodable(String),
    /// A header or tag structure no real file has (a sample rate of 0 or 4 GHz, chapter
    /// frames nested hundreds deep): refused before it can cost memory or stack.
    #[error("malformed file: {0}")]
    Malformed(String),
    #[error("reading the file: {0}")]
    Io(#[from] std::io::Error),
}

impl ProbeError {
    pub fn code(&self) -> &'static str {
        match self {
            ProbeError::Empty => "empty",
            ProbeError::NotAudio(_) => "not_audio",
            ProbeError::UnsupportedCodec(_) => "unsupported_codec",
            ProbeError::Undecodable(_) => "undecodable",
            ProbeError::Malformed(_) => "malformed",
            ProbeError::Io(_) => "io",
        }
    }
}

/// What real music uses, with room to spare: 8 kHz (telephone band) to 768 kHz (DXD and
/// beyond), up to 16 channels, up to 100 hours in one file (audiobooks). A header outside
/// these lies, and decoding, resampling and the playlist would scale with the lie.
pub const SAMPLE_RATES: std::ops::RangeInclusive<u32> = 8_000..=768_000;
pub const MAX_CHANNELS: u16 = 16;
pub const MAX_SECONDS: u64 = 100 * 3600;

/// Whether stored properties are within what the probe accepts (files stored by older
/// versions may not be): playback refuses them rather than decode at a lying rate.
pub fn playable(rate: u32, channels: u16, frames: u64) -> Result<(), ProbeError> {
    check_format(Some(rate), Some(channels))?;
    if frames / u64::from(rate) > MAX_SECONDS {
        return Err(ProbeError::Malformed(format!("{} s long (at most {MAX_SECONDS} s)", frames / u64::from(rate))));
    }
    Ok(())
}

fn check_format(rate: Option<u32>, channels: Option<u16>) -> Result<(), ProbeError> {
    if let Some(r) = rate
        && !SAMPLE_RATES.contains(&r)
    {
        return Err(ProbeError::Malformed(format!("sample rate {r} Hz is outside {}-{} Hz", SAMPLE_RATES.start(), SAMPLE_RATES.end())));
    }
    if let Some(c) = channels
        && !(1..=MAX_CHANNELS).contains(&c)
    {
        return Err(ProbeError::Malformed(format!("{c} channels (at most {MAX_CHANNELS})")));
    }
    Ok(())
}

/// Packets decoded to prove a file plays.
const CHECK_PACKETS: usize = 2;
/// Decode errors tolerated (and reported as damage) before a file counts as undecodable.
const MAX_BAD_PACKETS: usize = 16;

/// Probes the file at `path`. The extension is only a hint; the bytes decide.
pub fn probe_path(path: &Path) -> Result<AudioProps, ProbeError> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    probe(&Input::File(path.to_path_buf()), ext)
}

/// Probes a file or in-memory bytes. `ext_hint` is the file name's extension, if any.
pub fn probe(input: &Input, ext_hint: &str) -> Result<AudioProps, ProbeError> {
    let len = input.len()?;
    if len == 0 {
        return Err(ProbeError::Empty);
    }
    let (mut fmt, track, params) = open_audio(input, ext_hint)?;
    let container = fmt.format_info().short_name.to_string();
    let codec_name = codecs()
        .get_audio_decoder(params.codec)
        .map(|d| d.codec.info.short_name.to_string())
        .ok_or_else(|| ProbeError::UnsupportedCodec(format!("{}", params.codec)))?;
    let sample_rate = params.sample_rate;
    let channels = params.channels.as_ref().map(|c| c.count() as u16);
    let mut dec = Decoder::new(&params, &codec_name)?;
    let check = decode_check(fmt.as_mut(), dec.checker(sample_rate), track.id)?;
    let sample_rate = sample_rate.or(check.rate).ok_or_else(|| ProbeError::Undecodable("no sample rate".into()))?;
    let channels = channels.or(check.channels).ok_or_else(|| ProbeError::Undecodable("no channels".into()))?;
    check_format(Some(sample_rate), Some(channels))?;
    let mut damage = check.damage;

    let mut priming = track.delay.unwrap_or(0) as u64;
    let declared = if params.codec == CODEC_ID_MP3 { None } else { track.num_frames };
    let declared = match (container.as_str(), declared) {
        ("isomp4", Some(n)) => Some(mp4_frames(&mut input.reader()?, len, n, &mut priming)),
        // Ogg Opus: the last granule position counts the pre-skip (RFC 7845 §4.2).
        ("ogg", Some(n)) if codec_name == "opus" => Some(n.saturating_sub(track.delay.unwrap_or(0) as u64)),
        (_, d) => d,
    };
    let (frames, source) = match declared {
        Some(n) if n > 0 && ends_early(fmt.as_mut(), &track, n, sample_rate) => {
            // Suspected truncation (or a reader that cannot seek well): count from the
            // start to know for sure. Only suspect files pay for this.
            let counted = count_frames(input, ext_hint)?;
            if counted + u64::from(sample_rate / 4) < n {
                damage.get_or_insert(format!(
                    "truncated: the container declares {:.3} s but the audio ends at {:.3} s",
                    n as f64 / sample_rate as f64,
                    counted as f64 / sample_rate as f64
                ));
                (counted, DurationSource::Counted)
            } else {
                (n, DurationSource::Container)
            }
        }
        Some(n) if n > 0 => (n, DurationSource::Container),
        _ => (count_frames(input, ext_hint)?, DurationSource::Counted),
    };
    if frames == 0 {
        return Err(ProbeError::Undecodable("no audio frames".into()));
    }
    if frames / u64::from(sample_rate) > MAX_SECONDS {
        return Err(ProbeError::Malformed(format!("{} s long (at most {MAX_SECONDS} s)", frames / u64::from(sample_rate))));
    }
    let secs = frames as f64 / sample_rate as f64;
    Ok(AudioProps {
        container: container_name(&container, &codec_name),
        codec: codec_name,
        sample_rate,
        channels,
        bits_per_sample: params.bits_per_sample.filter(|_| params.codec != CODEC_ID_AAC),
        frames,
        priming,
        duration_source: source,
        bitrate: ((len as f64 * 8.0) / secs).round().min(u32::MAX as f64) as u32,
        damage,
    })
}

/// Packet-level errors after which a verification stops counting.
const MAX_VERIFY_ERRORS: usize = 10_000;

/// Decodes the whole file (after import, off the request path): the damage the probe's
/// first packets could not show. `None` when every packet decodes; otherwise how many do
/// not, and where the first is.
pub fn verify(input: &Input, ext_hint: &str) -> Result<Option<String>, ProbeError> {
    let (mut fmt, track, params) = open_audio(input, ext_hint)?;
    let mut owned = Decoder::new(&params, &params.codec.to_string())?;
    let mut dec = owned.checker(params.sample_rate);
    let (mut packets, mut bad, mut first_bad) = (0u64, 0usize, None);
    loop {
        let pkt = match fmt.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) | Err(SymError::IoError(_)) => break,
            Err(SymError::ResetRequired) => {
                dec.reset();
                continue;
            }
            Err(_) => {
                bad += 1;
                first_bad.get_or_insert(packets);
                if bad > MAX_VERIFY_ERRORS {
                    break;
                }
                continue;
            }
        };
        if pkt.track_id != track.id {
            continue;
        }
        packets += 1;
        if dec.decode(&pkt).is_err() {
            bad += 1;
            first_bad.get_or_insert(packets);
            if bad > MAX_VERIFY_ERRORS {
                break;
            }
        }
    }
    Ok(first_bad.map(|at| format!("{bad} of {packets} packets do not decode (the first is packet {at}); they play as silence")))
}

/// The structure guard, the container, its audio track and codec parameters, refused
/// before anything is decoded when the rate or channels are absurd (buffers are sized from
/// them). What [`probe`] and [`verify`] both start with.
fn open_audio(input: &Input, ext_hint: &str) -> Result<(Box<dyn FormatReader>, symphonia::core::formats::Track, AudioCodecParameters), ProbeError> {
    super::guard::check(input).map_err(|e| ProbeError::Malformed(e.to_string()))?;
    let fmt = open_format(input, ext_hint)?;
    let track = fmt.default_track(TrackType::Audio).ok_or_else(|| ProbeError::NotAudio("no audio track".into()))?.clone();
    let params = match &track.codec_params {
        Some(CodecParameters::Audio(a)) => a.clone(),
        _ => return Err(ProbeError::NotAudio("no audio track".into())),
    };
    check_format(params.sample_rate, params.channels.as_ref().map(|c| c.count().min(usize::from(u16::MAX)) as u16))?;
    Ok((fmt, track, params))
}

/// The decoder a check owns: symphonia's, or FDK's for HE-AAC (symphonia refuses explicit
/// SBR and half-decodes implicit; FDK plays both).
enum Decoder {
    Symphonia(Box<dyn AudioDecoder>),
    HeAac(heaac::HeAacDecoder),
}

impl Decoder {
    /// `name` is what an unsupported codec is called in the error.
    fn new(params: &AudioCodecParameters, name: &str) -> Result<Decoder, ProbeError> {
        let asc = params.extra_data.as_deref().unwrap_or(&[]);
        if params.codec == CODEC_ID_AAC && heaac::is_he_aac(asc, params.sample_rate.unwrap_or(0)) {
            return heaac::HeAacDecoder::new(asc).map(Decoder::HeAac).map_err(|e| ProbeError::UnsupportedCodec(e.to_string()));
        }
        codecs()
            .make_audio_decoder(params, &AudioDecoderOptions::default())
            .map(Decoder::Symphonia)
            .map_err(|e| ProbeError::UnsupportedCodec(format!("{name}: {e}")))
    }

    fn checker(&mut self, rate: Option<u32>) -> Checker<'_> {
        match self {
            Decoder::Symphonia(d) => Checker::Symphonia(d.as_mut()),
            Decoder::HeAac(d) => Checker::HeAac(d, rate),
        }
    }
}

fn open_format(input: &Input, ext_hint: &str) -> Result<Box<dyn FormatReader>, ProbeError> {
    let mss = MediaSourceStream::new(input.reader()?, MediaSourceStreamOptions::default());
    let mut hint = Hint::new();
    if !ext_hint.is_empty() {
        hint.with_extension(&ext_hint.to_ascii_lowercase());
    }
    symphonia::default::get_probe().probe(&hint, mss, FormatOptions::default(), MetadataOptions::default()).map_err(|e| match e {
        SymError::Unsupported(_) => ProbeError::NotAudio("no known audio container".into()),
        SymError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => ProbeError::NotAudio("no known audio container (file ends early)".into()),
        SymError::IoError(e) => ProbeError::Io(e),
        other => ProbeError::Undecodable(other.to_string()),
    })
}

fn container_name(sym: &str, codec: &str) -> String {
    match sym {
        "isomp4" => "mp4".into(),
        "wave" | "riff" => "wav".into(),
        "mpa" | "mp3" => {
            if codec.starts_with("mp") {
                "mp3".into()
            } else {
                sym.into()
            }
        }
        other => other.into(),
    }
}

/// MP4: the sample tables count priming and padding; the edit list or iTunSMPB trims them.
fn mp4_frames<R: Read + Seek + ?Sized>(r: &mut R, len: u64, table_frames: u64, priming: &mut u64) -> u64 {
    match mp4::gapless(r, len) {
        Some(g) if g.frames > 0 && g.priming + g.frames <= table_frames => {
            *priming = g.priming;
            g.frames
        }
        _ => table_frames,
    }
}

struct Check {
    rate: Option<u32>,
    channels: Option<u16>,
    damage: Option<String>,
}

/// The decoder a decode check runs: symphonia's, or FDK's for HE-AAC.
enum Checker<'a> {
    Symphonia(&'a mut dyn AudioDecoder),
    HeAac(&'a mut heaac::HeAacDecoder, Option<u32>),
}

impl Checker<'_> {
    fn decode(&mut self, pkt: &symphonia::core::packet::Packet) -> Result<(Option<u32>, u16), SymError> {
        match self {
            Checker::Symphonia(d) => d.decode(pkt).map(|b| (Some(b.spec().rate()), b.spec().channels().count() as u16)),
            Checker::HeAac(d, rate) => {
                let mut pcm = Vec::new();
                d.decode(&pkt.data, &mut pcm).map(|ch| (*rate, ch as u16)).map_err(|_| SymError::DecodeError("HE-AAC frame does not decode"))
            }
        }
    }

    fn reset(&mut self) {
        if let Checker::Symphonia(d) = self {
            d.reset();
        }
    }
}

/// Decodes the first packets. Some good packets with a few bad ones is damage; no good
/// packet at all is undecodable.
fn decode_check(fmt: &mut dyn FormatReader, mut dec: Checker<'_>, track: u32) -> Result<Check, ProbeError> {
    let (mut good, mut bad, mut last_err) = (0usize, 0usize, String::new());
    let mut check = Check { rate: None, channels: None, damage: None };
    while good < CHECK_PACKETS && bad <= MAX_BAD_PACKETS {
        let pkt = match fmt.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(SymError::ResetRequired) => {
                dec.reset();
                continue;
            }
            // The file ends here; whether early is for `ends_early` to say.
            Err(SymError::IoError(e)) => {
                last_err = e.to_string();
                break;
            }
            Err(e) => {
                bad += 1;
                last_err = e.to_string();
                continue;
            }
        };
        if pkt.track_id != track {
            continue;
        }
        match dec.decode(&pkt) {
            Ok((rate, channels)) => {
                good += 1;
                check.rate = rate;
                check.channels = Some(channels);
            }
            Err(SymError::DecodeError(m)) => {
                bad += 1;
                last_err = m.to_string();
            }
            Err(e) => {
                bad += 1;
                last_err = e.to_string();
                if !matches!(e, SymError::IoError(_)) {
                    break;
                }
            }
        }
    }
    if good == 0 {
        let why = if last_err.is_empty() { "no audio packets".to_string() } else { last_err };
        return Err(ProbeError::Undecodable(why));
    }
    if bad > 0 {
        check.damage = Some(format!("{bad} corrupt packet(s) near the start: {last_err}"));
    }
    Ok(check)
}

/// Seeks to just before the declared end and reads on to the end of the file. True when
/// the packets stop short of the declared length (a truncated file whose header still states
/// the full length). Decode errors are no evidence either way and are not looked at.
fn ends_early(fmt: &mut dyn FormatReader, track: &symphonia::core::formats::Track, frames: u64, rate: u32) -> bool {
    let declared = frames as f64 / rate as f64;
    let Some(time) = Time::try_from_secs_f64((declared - 0.5).max(0.0)) else { return false };
    let Some(tb) = track.time_base else { return false };
    let secs = |ts: i64| ts as f64 * tb.numer.get() as f64 / tb.denom.get() as f64;
    let mut end = match fmt.seek(SeekMode::Coarse, SeekTo::Time { time, track_id: Some(track.id) }) {
        Ok(to) => secs(to.actual_ts.get()),
        Err(_) => return true,
    };
    for _ in 0..100_000 {
        match fmt.next_packet() {
            Ok(Some(p)) if p.track_id == track.id => end = end.max(secs(p.pts.get() + p.dur.get() as i64)),
            Ok(Some(_)) | Err(SymError::ResetRequired) | Err(SymError::DecodeError(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    // Packet durations here may still include padding (see `count_frames`), so only a
    // shortfall larger than any padding counts.
    end + 0.25 < declared
}

/// Demuxes the whole stream and sums the packets' playable frames.
fn count_frames(input: &Input, ext_hint: &str) -> Result<u64, ProbeError> {
    super::guard::check(input).map_err(|e| ProbeError::Malformed(e.to_string()))?;
    let mut fmt = open_format(input, ext_hint)?;
    let track = fmt.default_track(TrackType::Audio).ok_or_else(|| ProbeError::NotAudio("no audio track".into()))?;
    // The end trim is only trustworthy when the encoder stated its padding (LAME tag);
    // otherwise symphonia derives the "end" from a bitrate estimate, which must not cut.
    let trust_end = track.padding.is_some();
    let track = track.id;
    let mut total = 0u64;
    loop {
        match fmt.next_packet() {
            // symphonia 0.6.1's `PacketBuilder::trimmed_dur` fills `trim_start`/`trim_end`
            // but leaves them in `dur` (it subtracts the builder's zeroed fields), so the
            // trims are removed here. Cargo.toml pins symphonia to 0.6.1 for this reason;
            // tests/durations.rs catches a change.
            Ok(Some(p)) if p.track_id == track => {
                let trim_end = if trust_end { p.trim_end.get() } else { 0 };
                total += p.dur.get().saturating_sub(p.trim_start.get() + trim_end);
            }
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(SymError::ResetRequired) => continue,
            // A damaged tail: what was read so far is what plays.
            Err(_) => break,
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(rel)
    }

    fn all_library_files() -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = walkdir::WalkDir::new(fixture("library"))
            .into_iter()
            .flatten()
            .filter(|e| e.file_type().is_file() && e.path().extension().is_none_or(|x| x != "jpg"))
            .map(|e| e.into_path())
            .collect();
        out.sort();
        out
    }

    #[test]
    fn every_library_fixture_probes_clean() {
        let files = all_library_files();
        assert_eq!(files.len(), 12);
        for f in files {
            let p = probe_path(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            assert_eq!(p.damage, None, "{}", f.display());
            assert!(p.frames > 0 && p.sample_rate > 0 && p.channels > 0, "{}", f.display());
        }
    }

    #[test]
    fn exact_durations_and_sources() {
        let p = probe_path(&fixture("library/Björk - Homogenic/01 Hunter.flac")).unwrap();
        assert_eq!((p.frames, p.duration_source, p.bits_per_sample), (88200, DurationSource::Container, Some(16)));
        let p = probe_path(&fixture("library/Sigur Rós - Ágætis byrjun/02 Starálfur.mp3")).unwrap();
        assert_eq!((p.frames, p.duration_source), (88200, DurationSource::Counted), "LAME header gapless");
        let p = probe_path(&fixture("library/Mix Tape/01 Side A.m4a")).unwrap();
        assert_eq!((p.frames, p.priming), (88200, 1024), "edit list trims AAC priming");
        let p = probe_path(&fixture("library/Misc/opus.opus")).unwrap();
        assert_eq!((p.frames, p.sample_rate), (96000, 48000), "pre-skip removed");
        let p = probe_path(&fixture("library/Hi-Res/hires.flac")).unwrap();
        assert_eq!((p.frames, p.sample_rate, p.bits_per_sample), (96000, 192000, Some(24)));
    }

    #[test]
    fn bad_files_have_precise_errors() {
        let code = |rel: &str| probe_path(&fixture(rel)).err().map(|e| e.code());
        assert_eq!(code("bad/empty.flac"), Some("empty"));
        assert_eq!(code("bad/text.flac"), Some("not_audio"));
        assert_eq!(code("bad/random.m4a"), Some("not_audio"));
        assert_eq!(code("bad/jpeg.mp3"), Some("not_audio"));
        assert!(code("bad/truncated-header.flac").is_some());
        let p = probe_path(&fixture("damaged/truncated.flac")).unwrap();
        assert!(p.damage.as_deref().is_some_and(|d| d.starts_with("truncated")), "{:?}", p.damage);
        assert_eq!(p.duration_source, DurationSource::Counted);
        assert!(p.frames < 88200 && p.frames > 20000, "{}", p.frames);
    }
}
