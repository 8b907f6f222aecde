#!/usr/bin/env python3
"""MPEG-TS against fMP4 segments, side by side in one run, on one server (SQLite + disk).

    python3 scripts/bench-ts.py        # needs ffmpeg; builds nothing: target/release/tonearm

TRACKS (default 24) twenty-second FLACs are imported; for each track, segment 2 of aac-96
is fetched cold, as fMP4 for even tracks and as TS for odd ones (a TS segment is the fMP4
segment re-wrapped, so a cold .ts pays the encode and the re-wrap), then again warm (both
now cached: a warm .ts is the re-wrap alone). Prints the medians, request to last byte.
"""
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time

from benchaudio import noise_flacs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("TONEARM_BIN", os.path.join(ROOT, "target/release/tonearm"))
DIR = os.environ.get("BENCH_DIR", "/tmp/tonearm-ts-bench")
TRACKS = int(os.environ.get("TRACKS", "24"))


def main():
    noise_flacs(f"{DIR}/src", TRACKS, 20)
    data = f"{DIR}/data"
    shutil.rmtree(data, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TONEARM_")}
    subprocess.run([BIN, "--data-dir", data, "user", "add", "bench", "--password-stdin"], input=b"bench password\n", env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([BIN, "--data-dir", data, "import", "--user", "bench", "--quiet", f"{DIR}/src"], env=env, check=True, stdout=subprocess.DEVNULL)
    proc = subprocess.Popen([BIN, "--data-dir", data, "--bind", "127.0.0.1:0", "serve"], env=dict(env, RUST_LOG="info"), stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        m = re.search(r"listening on http://(\S+)", line)
        if m:
            host, port = m.group(1).split(":")
            break
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()

    def get(path, token=None, body=None):
        c = http.client.HTTPConnection(host, int(port), timeout=60)
        t = time.perf_counter()
        c.request("POST" if body else "GET", path, body=body, headers={"Authorization": f"Bearer {token}"} if token else {})
        r = c.getresponse()
        data = r.read()
        ms = (time.perf_counter() - t) * 1000
        c.close()
        assert r.status == 200, (path, r.status, data[:200])
        return data, ms

    try:
        token = json.loads(get("/api/v1/auth/login", body=json.dumps({"username": "bench", "password": "bench password"}).encode())[0])["token"]
        ids = [t["id"] for t in json.loads(get(f"/api/v1/tracks?limit={TRACKS}", token)[0])["items"]]
        time.sleep(float(os.environ.get("SETTLE_SECS", "8")))  # the background verification reads each file once
        cold = {"m4s": [], "ts": []}
        warm = {"m4s": [], "ts": []}
        for i, track in enumerate(ids):
            ext = "m4s" if i % 2 == 0 else "ts"
            path = f"/hls/{track}/aac-96/2.{ext}"
            cold[ext].append(get(path, token)[1])
            time.sleep(0.3)  # the prefetch of the next segments settles
            warm[ext].extend(get(path, token)[1] for _ in range(20))
        print(f"| aac-96 segment 2, {TRACKS} tracks of 20 s, SQLite + disk | fMP4 (.m4s) | MPEG-TS (.ts) | TS / fMP4 |")
        print("|---|---|---|---|")
        for label, d in (("cold, ms", cold), ("warm, ms", warm)):
            a, b = statistics.median(d["m4s"]), statistics.median(d["ts"])
            print(f"| {label} | {a:.2f} | {b:.2f} | {b / a:.2f} |")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    sys.exit(main())
