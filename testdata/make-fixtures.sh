#!/usr/bin/env bash
# Regenerates the test fixtures in testdata/ (committed; under 2 MB in all).
# Needs ffmpeg (Debian's 5.1 was used) and python3. Run from anywhere:
#   bash testdata/make-fixtures.sh
# Output is bit-exact where ffmpeg allows (-bitexact), so regenerating should give the
# same bytes; tests only rely on properties (tags, durations, codecs), not on hashes.
set -euo pipefail
cd "$(dirname "$0")"
rm -rf library bad damaged
mkdir -p "library/Björk - Homogenic" "library/Sigur Rós - Ágætis byrjun" "library/Mix Tape" \
         "library/Hi-Res" "library/Misc" bad damaged
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
FF="ffmpeg -hide_banner -loglevel error -y"
BX="-fflags +bitexact -flags:a +bitexact"
tone() { # tone DURATION RATE FILE: a two-voice stereo chord, easy to hear clicks in
  $FF -f lavfi -i "aevalsrc=0.35*sin(2*PI*440*t)+0.15*sin(2*PI*660*t)|0.35*sin(2*PI*550*t)+0.15*sin(2*PI*880*t):s=$2:d=$1" "$3"
}
tone 2 44100 "$T/tone44.wav"
tone 2 48000 "$T/tone48.wav"
$FF -f lavfi -i "color=c=0x3366aa:s=320x320" -frames:v 1 "library/Björk - Homogenic/cover.jpg"
$FF -f lavfi -i "color=c=0xaa3322:s=200x200" -frames:v 1 "$T/embedded.jpg"

# FLAC 16-bit, album artist set, side-car cover.jpg, ReplayGain and MusicBrainz ids.
$FF -i "$T/tone44.wav" $BX -c:a flac -sample_fmt s16 \
  -metadata title="Hunter" -metadata artist="Björk" -metadata album_artist="Björk" -metadata album="Homogenic" \
  -metadata track="1/10" -metadata disc="1/1" -metadata date="1997-09-22" -metadata genre="Electronic" \
  -metadata REPLAYGAIN_TRACK_GAIN="-6.54 dB" -metadata REPLAYGAIN_TRACK_PEAK="0.988" \
  -metadata MUSICBRAINZ_TRACKID="9f3c6b2a-1b8e-4f77-9a43-7d2a3e3c0a11" \
  "library/Björk - Homogenic/01 Hunter.flac"
$FF -i "$T/tone44.wav" -t 1.5 $BX -c:a flac -sample_fmt s16 \
  -metadata title="Jóga" -metadata artist="Björk" -metadata album_artist="Björk" -metadata album="Homogenic" \
  -metadata track="2/10" -metadata date="1997" "library/Björk - Homogenic/02 Jóga.flac"

# MP3: CBR with ID3v2.3 and an embedded cover; VBR with a LAME header and ID3v2.4;
# VBR without any Xing/LAME header; ID3v1 only.
$FF -i "$T/tone44.wav" -i "$T/embedded.jpg" -map 0:a -map 1:v $BX -c:a libmp3lame -b:a 128k -c:v copy \
  -disposition:v attached_pic -id3v2_version 3 -metadata:s:v comment="Cover (front)" \
  -metadata title="Svefn-g-englar" -metadata artist="Sigur Rós" -metadata album="Ágætis byrjun" \
  -metadata track="1" -metadata date="1999" "library/Sigur Rós - Ágætis byrjun/01 Svefn-g-englar.mp3"
$FF -i "$T/tone44.wav" $BX -c:a libmp3lame -q:a 4 -id3v2_version 4 \
  -metadata title="Starálfur" -metadata artist="Sigur Rós" -metadata album="Ágætis byrjun" -metadata track="2" \
  "library/Sigur Rós - Ágætis byrjun/02 Starálfur.mp3"
$FF -i "$T/tone44.wav" -t 1.7 $BX -c:a libmp3lame -q:a 2 -write_xing 0 -id3v2_version 3 \
  -metadata title="Flugufrelsarinn" -metadata artist="Sigur Rós" -metadata album="Ágætis byrjun" -metadata track="3" \
  "library/Sigur Rós - Ágætis byrjun/03 Flugufrelsarinn.mp3"
$FF -i "$T/tone44.wav" -t 1 $BX -c:a libmp3lame -b:a 96k -id3v2_version 0 "library/Misc/id3v1.mp3"
# ffmpeg's -bitexact drops ID3v1, so append an ID3v1.1 block by hand (track 7, genre 17 = Rock).
python3 - "library/Misc/id3v1.mp3" <<'PY'
import sys
f = lambda s, n: s.encode("latin-1").ljust(n, b"\0")
tag = b"TAG" + f("Old Tag", 30) + f("ID3v1 Band", 30) + f("Vintage", 30) + b"1987" + f("", 28) + bytes([0, 7, 17])
open(sys.argv[1], "ab").write(tag)
PY

# A compilation without album-artist tags: two artists in one folder, AAC-LC and ALAC in M4A.
$FF -i "$T/tone44.wav" $BX -c:a aac -b:a 96k -metadata title="Side A" -metadata artist="Ane Brun" \
  -metadata album="Mix Tape" -metadata track="1" "library/Mix Tape/01 Side A.m4a"
$FF -i "$T/tone44.wav" -t 1.2 $BX -c:a alac -sample_fmt s16p -metadata title="坂本龍一の歌" -metadata artist="坂本龍一" \
  -metadata album="Mix Tape" -metadata track="2" "library/Mix Tape/02 Side B.m4a"

# FLAC 24-bit at 192 kHz.
$FF -f lavfi -i "aevalsrc=0.3*sin(2*PI*1000*t)|0.3*sin(2*PI*1500*t):s=192000:d=0.5" $BX -c:a flac -sample_fmt s32 \
  -metadata title="Hi-Res Test" -metadata artist="Test Signals" -metadata album="Hi-Res" "library/Hi-Res/hires.flac"

# Ogg Vorbis, Ogg Opus, WAV.
$FF -i "$T/tone44.wav" $BX -c:a libvorbis -q:a 2 -metadata title="Vorbis Song" -metadata artist="Mötley Crüe" \
  -metadata album="Ogg Things" "library/Misc/vorbis.ogg"
$FF -i "$T/tone48.wav" $BX -c:a libopus -b:a 64k -metadata title="Opus Song" -metadata artist="Røyksopp" \
  -metadata album="Ogg Things" "library/Misc/opus.opus"
$FF -i "$T/tone44.wav" -t 1 $BX -c:a pcm_s16le "library/Misc/plain.wav"

# Lyrics (and an ISRC): LRC-synced in a Vorbis LYRICS comment (with [ar:]/[ti:]/[offset:]), plain in an
# ID3v2 USLT frame with its language. ffmpeg writes lyrics to neither, so mutagen does.
python3 - <<'PY'
from mutagen.flac import FLAC
from mutagen.id3 import ID3, USLT
f = FLAC("library/Björk - Homogenic/02 Jóga.flac")
f["LYRICS"] = "[ar:Björk]\n[ti:Jóga]\n[offset:+100]\n[00:00.50]All these accidents\n[00:01.00][00:01.80]that happen\n[00:01.40]follow the dot"
f["ISRC"] = "GB-AAA-97-00002"  # written with hyphens, as some taggers do
f.save()
t = ID3("library/Sigur Rós - Ágætis byrjun/02 Starálfur.mp3")
t.add(USLT(encoding=3, lang="isl", desc="", text="Blá nótt yfir mér\nog stjörnur"))
t.save()
PY

# Bad files: each must be rejected with its own reason.
: > bad/empty.flac
printf 'This is a text file pretending to be FLAC.\n' > bad/text.flac
head -c 60 "library/Björk - Homogenic/01 Hunter.flac" > bad/truncated-header.flac
python3 -c "import random,sys; r=random.Random(7); sys.stdout.buffer.write(bytes(r.getrandbits(8) for _ in range(20000)))" > bad/random.m4a
cp "library/Björk - Homogenic/cover.jpg" bad/jpeg.mp3

# Damaged but playable: the second half of the frames is missing while STREAMINFO still
# states the full length. Imported and flagged.
f="library/Björk - Homogenic/01 Hunter.flac"
head -c $(( $(stat -c %s "$f") / 2 )) "$f" > damaged/truncated.flac

du -sh library bad damaged
