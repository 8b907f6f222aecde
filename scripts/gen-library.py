#!/usr/bin/env python3
"""Generates a library of N short, distinctly tagged files (MP3, FLAC, M4A in turn) for
import benchmarks: 10 tracks per album, 5 albums per artist, unicode in a tenth of the
names, a cover.jpg in every album folder. Needs ffmpeg (for three one-second base files)
and mutagen (pip install mutagen).

    python3 scripts/gen-library.py OUT_DIR N
"""
import os, subprocess, sys, tempfile

from mutagen.flac import FLAC
from mutagen.id3 import ID3, TALB, TIT2, TPE1, TPE2, TRCK, TDRC, TCON
from mutagen.mp4 import MP4

out, n = sys.argv[1], int(sys.argv[2])
tmp = tempfile.mkdtemp()
ff = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
      "aevalsrc=0.3*sin(2*PI*440*t)|0.3*sin(2*PI*554*t):s=44100:d=1"]
bases = {}
for ext, codec in (("mp3", ["-c:a", "libmp3lame", "-b:a", "128k"]), ("flac", ["-c:a", "flac"]), ("m4a", ["-c:a", "aac", "-b:a", "96k"])):
    p = os.path.join(tmp, "base." + ext)
    subprocess.run(ff + codec + [p], check=True)
    bases[ext] = open(p, "rb").read()
subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "color=c=0x225588:s=300x300",
                "-frames:v", "1", os.path.join(tmp, "cover.jpg")], check=True)
cover = open(os.path.join(tmp, "cover.jpg"), "rb").read()

def name(kind, i):
    base = f"{kind} {i}"
    return base + " Björk Sigur Rós" if i % 10 == 3 else base

for i in range(n):
    ext = ("mp3", "flac", "m4a")[i % 3]
    album_no, artist_no = i // 10, i // 50
    artist, album, title = name("Artist", artist_no), name("Album", album_no), name("Track", i)
    d = os.path.join(out, artist, album)
    if i % 10 == 0:
        os.makedirs(d, exist_ok=True)
        open(os.path.join(d, "cover.jpg"), "wb").write(cover)
    path = os.path.join(d, f"{i % 10 + 1:02d} {title}.{ext}")
    open(path, "wb").write(bases[ext])
    track, year = str(i % 10 + 1), str(1970 + album_no % 50)
    if ext == "mp3":
        t = ID3()
        for frame in (TIT2(encoding=3, text=title), TPE1(encoding=3, text=artist), TPE2(encoding=3, text=artist),
                      TALB(encoding=3, text=album), TRCK(encoding=3, text=track), TDRC(encoding=3, text=year),
                      TCON(encoding=3, text="Rock")):
            t.add(frame)
        t.save(path)
    elif ext == "flac":
        t = FLAC(path)
        t.update({"title": title, "artist": artist, "albumartist": artist, "album": album, "tracknumber": track,
                  "date": year, "genre": "Rock"})
        t.save()
    else:
        t = MP4(path)
        t.update({"\xa9nam": title, "\xa9ART": artist, "aART": artist, "\xa9alb": album, "trkn": [(int(track), 10)],
                  "\xa9day": year, "\xa9gen": "Rock"})
        t.save()
    if i and i % 5000 == 0:
        print(f"{i} files", file=sys.stderr)
print(f"generated {n} files in {out}", file=sys.stderr)
