#!/usr/bin/env python3
"""Subsonic `stream` time to first byte, side by side with what peers do per request
(`ffmpeg -i FILE -f mp3 pipe:` started as a subprocess), for never-played tracks:
  - format=mp3 maxBitRate=192 (a progressive transcode),
  - format=aac maxBitRate=192 (a ladder rung: cut from the segment cache, cold here),
  - format=raw (the original bytes),
  - ffmpeg to MP3 192k, from process start to its first byte on stdout.
Each track is asked for once per kind, interleaved, on a fresh connection; medians.
    python3 scripts/stream-ttfb.py HOST:PORT USER PASSWORD FILE...
FILEs must be imported for USER already, titled by their file name without extension."""
import hashlib, http.client, json, os, subprocess, sys, time, urllib.parse

host, user, pw, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
c = http.client.HTTPConnection(host)
c.request("POST", "/api/v1/auth/login", json.dumps({"username": user, "password": pw}))
token = json.loads(c.getresponse().read())["token"]
# Token auth, as most apps sign in (one salt for the run, as apps that keep one do).
SALT = "c19b2d7a4e8f"
S = f"u={urllib.parse.quote(user)}&t={hashlib.md5((pw + SALT).encode()).hexdigest()}&s={SALT}&v=1.16.1&c=bench"


def track_id(title):
    c.request("GET", "/api/v1/search?q=" + urllib.parse.quote(title), headers={"Authorization": "Bearer " + token})
    hits = [t for t in json.loads(c.getresponse().read())["tracks"] if t["title"] == title]
    assert hits, title
    return f"tr-{hits[0]['id']}"


def ttfb(query):
    conn = http.client.HTTPConnection(host)
    t0 = time.perf_counter()
    conn.request("GET", f"/rest/stream?{S}&{query}")
    r = conn.getresponse()
    first = r.read(1)
    dt = (time.perf_counter() - t0) * 1000
    assert r.status == 200 and first and not r.getheader("content-type", "").startswith(("application/json", "text/xml")), (query, r.status)
    conn.close()
    return dt


def ffmpeg_ttfb(path):
    t0 = time.perf_counter()
    p = subprocess.Popen(["ffmpeg", "-v", "error", "-i", path, "-f", "mp3", "-b:a", "192k", "pipe:1"], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    first = p.stdout.read(1)
    dt = (time.perf_counter() - t0) * 1000
    p.kill(), p.wait()
    assert first
    return dt


rows = {"mp3 192 (transcode)": [], "aac 192 (ladder rung, cold)": [], "raw (original)": [], "ffmpeg -f mp3 pipe: (subprocess)": []}
for f in files:
    tid = track_id(os.path.splitext(os.path.basename(f))[0])
    rows["mp3 192 (transcode)"].append(ttfb(f"id={tid}&format=mp3&maxBitRate=192"))
    rows["ffmpeg -f mp3 pipe: (subprocess)"].append(ffmpeg_ttfb(f))
    rows["aac 192 (ladder rung, cold)"].append(ttfb(f"id={tid}&format=aac&maxBitRate=192"))
    rows["raw (original)"].append(ttfb(f"id={tid}&format=raw"))
med = lambda xs: sorted(xs)[len(xs) // 2]
ff = med(rows["ffmpeg -f mp3 pipe: (subprocess)"])
print(f"{'stream time to first byte (' + str(len(files)) + ' tracks)':<40} {'median':>9} {'max':>9} {'/ ffmpeg':>9}")
for k, xs in rows.items():
    print(f"{k:<40} {med(xs):7.1f}ms {max(xs):7.1f}ms {med(xs) / ff:9.2f}")
