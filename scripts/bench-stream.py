#!/usr/bin/env python3
"""Streaming benchmarks: Tonearm and ffmpeg (and nginx) on the same input, in one run.

    python3 scripts/bench-stream.py            # needs ffmpeg; oha + nginx for the serving test

Prints medians and ratios for:
  1. cold time-to-first-segment over HTTP per rung, vs `ffmpeg -ss T -t 0.96` to fMP4 (what
     ffmpeg-based servers spawn per request), at the start and 60 s in;
  2. whole-track transcode per CPU-second: FLAC -> Opus 128 vs `ffmpeg -threads 1 -c:a libopus`,
     FLAC -> AAC-LC 192 vs ffmpeg's own `aac` encoder;
  3. warm segment serving at 64 connections vs nginx serving the same bytes from disk
     (scripts/bench-warm.py, which measures more: both tools, 512 connections, medians);
  4. peak RSS of the server while 50 cold segment requests arrive at once.
Set BENCH_DIR (default /tmp/tonearm-stream-bench), COPIES (cold samples per rung, default 12)
and TONEARM_BIN (default target/release/tonearm, built if missing).
"""
import http.client
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("TONEARM_BIN", os.path.join(ROOT, "target/release/tonearm"))
DIR = os.environ.get("BENCH_DIR", "/tmp/tonearm-stream-bench")
COPIES = int(os.environ.get("COPIES", "12"))
RUNGS = ["aac-96", "aac-192", "opus-64", "opus-128"]
FF = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y"]


def sh(args, **kw):
    return subprocess.run(args, check=True, **kw)


def make_inputs():
    os.makedirs(DIR, exist_ok=True)
    music = os.path.join(DIR, "music.flac")
    if not os.path.exists(music):
        # Music-like: chord voices with changing notes, a bass line and stereo pink noise,
        # through a limiter (as in crates-and-codecs.md).
        expr = ("0.12*sin(2*PI*(220+55*floor(mod(t,8)/2))*t)*exp(-2*mod(t,0.5))"
                "+0.10*sin(2*PI*(330+41*floor(mod(t,6)/1.5))*t)+0.08*sin(2*PI*(440+110*floor(mod(t,4)))*t)*exp(-3*mod(t,0.25))"
                "+0.15*sin(2*PI*(55+27.5*floor(mod(t,16)/4))*t)")
        left, right = expr.replace(",", "\\,"), expr.replace("330", "335").replace(",", "\\,")
        sh(FF + ["-f", "lavfi", "-i", f"aevalsrc={left}|{right}:s=44100:d=180",
                 "-f", "lavfi", "-i", "anoisesrc=c=pink:r=44100:a=0.08:d=180:seed=1",
                 "-f", "lavfi", "-i", "anoisesrc=c=pink:r=44100:a=0.08:d=180:seed=2",
                 "-filter_complex", "[1][2]join=inputs=2:channel_layout=stereo[n];[0][n]amix=inputs=2:normalize=0,alimiter=limit=0.8",
                 "-c:a", "flac", "-sample_fmt", "s16", music])
    lib = os.path.join(DIR, "library")
    if not os.path.isdir(lib):
        os.makedirs(lib)
        # Distinct audio (each copy cut half a second shorter; a copy differing only in
        # tags would share the cached segments): every copy starts cold.
        for i in range(COPIES):
            sh(FF + ["-i", music, "-t", str(90 - 0.5 * i), "-c", "copy", "-metadata", f"title=Copy {i}",
                     "-metadata", f"comment=cold copy {i}", os.path.join(lib, f"copy{i:02}.flac")])
    return music, lib


class Server:
    def __init__(self, data, env=None):
        e = dict(os.environ, RUST_LOG="warn,tonearm=info", **(env or {}))
        self.p = subprocess.Popen([BIN, "--data-dir", data, "--bind", "127.0.0.1:0", "serve"],
                                  stderr=subprocess.PIPE, text=True, env=e)
        for line in self.p.stderr:
            m = re.search(r"listening on http://(\S+)", line)
            if m:
                self.host, self.port = m.group(1).rsplit(":", 1)
                break
        threading.Thread(target=lambda: [None for _ in self.p.stderr], daemon=True).start()

    def conn(self):
        return http.client.HTTPConnection(self.host, int(self.port), timeout=60)

    def rss_peak_kb(self):
        with open(f"/proc/{self.p.pid}/status") as f:
            return {l.split(":")[0]: int(l.split()[1]) for l in f if l.startswith(("VmHWM", "VmRSS"))}

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=30)


def request(conn, path, token, method="GET"):
    conn.request(method, path, headers={"Authorization": f"Bearer {token}"})
    r = conn.getresponse()
    body = r.read()
    return r.status, body


def login(s):
    c = s.conn()
    c.request("POST", "/api/v1/auth/login", body=json.dumps({"username": "bench", "password": "benchbench"}))
    return json.loads(c.getresponse().read())["token"]


def timed(args):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def med(xs):
    return statistics.median(xs)


def p(label, ours, theirs, unit="ms", scale=1000.0):
    print(f"  {label:<38} tonearm {med(ours) * scale:8.1f} {unit}   ffmpeg {med(theirs) * scale:8.1f} {unit}   ratio {med(ours) / med(theirs):.2f}x")


def main():
    if not os.path.exists(BIN):
        sh(["cargo", "build", "--release", "--locked"], cwd=ROOT)
    music, lib = make_inputs()
    data = os.path.join(DIR, "data")
    shutil.rmtree(data, ignore_errors=True)
    sh([BIN, "--data-dir", data, "user", "add", "bench", "--password-stdin"], input=b"benchbench\n", stdout=subprocess.DEVNULL)
    sh([BIN, "--data-dir", data, "import", "--user", "bench", "--quiet", lib], stdout=subprocess.DEVNULL)
    print(f"input: {music} (180 s, 44.1 kHz stereo FLAC); {COPIES} distinct 90 s copies for cold requests")
    print(f"machine: {os.cpu_count()} cores; `{' '.join(sys.argv)}`\n")

    # 1. Cold time to first segment.
    s = Server(data, {"TONEARM_STREAM__PREFETCH": "0"})
    token = login(s)
    c = s.conn()
    _, body = request(c, "/api/v1/tracks?limit=100", token)
    ids = [t["id"] for t in json.loads(body)["items"]]
    print("1. cold time to first segment (HTTP, keep-alive; median of %d never-played tracks)" % len(ids))
    for seg, at in [(0, 0.0), (16, 0.96 + 15 * 3.84)]:
        for rung in RUNGS:
            ours = []
            for tid in ids:
                t = time.perf_counter()
                st, b = request(c, f"/hls/{tid}/{rung}/{seg}.m4s", token)
                ours.append(time.perf_counter() - t)
                assert st == 200, (st, b[:200])
            enc = ["-c:a", "libopus", "-b:a", rung.split("-")[1] + "k"] if rung.startswith("opus") else ["-c:a", "aac", "-b:a", rung.split("-")[1] + "k"]
            length = "0.96" if seg == 0 else "3.84"
            theirs = [timed(FF + ["-ss", str(at), "-t", length, "-i", music] + enc +
                            ["-f", "mp4", "-movflags", "+frag_keyframe+empty_moov+default_base_moof", "pipe:1"])[0]
                      for _ in range(len(ids))]
            p(f"{rung} segment {seg} (at {at:.2f} s)", ours, theirs)
    s.stop()

    # 2. Whole-track transcode per CPU-second, interleaved runs.
    print("\n2. whole-track transcode of the 180 s FLAC, CPU seconds (user+sys), median of 5 interleaved runs")
    cases = [
        ("FLAC -> Opus 128 (libopus both)", [BIN, "transcode", music, "--format", "opus", "--kbps", "128", "-o", "/dev/null"],
         FF + ["-threads", "1", "-i", music, "-c:a", "libopus", "-b:a", "128k", "-threads", "1", "-f", "ogg", "/dev/null"]),
        ("FLAC -> AAC-LC 192 (FDK vs ffmpeg aac)", [BIN, "transcode", music, "--format", "aac", "--kbps", "192", "-o", "/dev/null"],
         FF + ["-threads", "1", "-i", music, "-c:a", "aac", "-b:a", "192k", "-threads", "1", "-f", "adts", "/dev/null"]),
        ("FLAC -> MP3 192 (LAME both)", [BIN, "transcode", music, "--format", "mp3", "--kbps", "192", "-o", "/dev/null"],
         FF + ["-threads", "1", "-i", music, "-c:a", "libmp3lame", "-b:a", "192k", "-threads", "1", "-f", "mp3", "/dev/null"]),
    ]
    for label, ours_cmd, ff_cmd in cases:
        ours, theirs = [], []
        for _ in range(5):
            ours.append(timed(ours_cmd))
            theirs.append(timed(ff_cmd))
        ow, oc = med([x[0] for x in ours]), med([x[1] for x in ours])
        fw, fc = med([x[0] for x in theirs]), med([x[1] for x in theirs])
        print(f"  {label:<40} tonearm {oc:5.2f} CPU-s ({180 / oc:5.0f}x realtime/core, wall {ow:.2f} s)"
              f"   ffmpeg {fc:5.2f} CPU-s ({180 / fc:5.0f}x)   speed ratio {fc / oc:.2f}x")

    # 3. Warm segment serving vs nginx: scripts/bench-warm.py, at 64 connections, one round.
    print("\n3. warm segment serving vs nginx (scripts/bench-warm.py, 64 connections, 1 round)")
    warm = os.path.join(ROOT, "scripts/bench-warm.py")
    subprocess.run([sys.executable, warm], env=dict(os.environ, CONNS="64", REPEAT="1"), check=False)

    # 4. Peak RSS with 50 cold requests at once.
    print("\n4. peak RSS while 50 cold segment requests arrive at once")
    for label, env in [("default admission (64 jobs per thread)", {}), ("max_jobs = 64 in all", {"TONEARM_STREAM__MAX_JOBS": "64"})]:
        s = Server(data, dict(env, TONEARM_STREAM__PREFETCH="0"))
        token = login(s)
        idle = s.rss_peak_kb()["VmRSS"]
        targets = [(tid, rung, seg) for seg in (0, 1) for tid in ids for rung in RUNGS][:50]
        results = []
        barrier = threading.Barrier(len(targets))

        def one(t):
            cc = s.conn()
            barrier.wait()
            results.append(request(cc, f"/hls/{t[0]}/{t[1]}/{t[2]}.m4s", token)[0])
        threads = [threading.Thread(target=one, args=(t,)) for t in targets]
        t0 = time.perf_counter()
        [t.start() for t in threads]
        [t.join() for t in threads]
        took = time.perf_counter() - t0
        peak = s.rss_peak_kb()["VmHWM"]
        print(f"  {label:<46} idle RSS {idle / 1024:5.1f} MB, peak {peak / 1024:5.1f} MB; "
              f"{results.count(200)} served, {results.count(429)} refused with 429, in {took:.2f} s")
        s.stop()


if __name__ == "__main__":
    main()
