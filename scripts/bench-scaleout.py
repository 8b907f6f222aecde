#!/usr/bin/env python3
"""Scale-out figures over HTTP, side by side in one run (called by scripts/bench-scaleout.sh,
which starts PostgreSQL and radosgw and passes their settings in the environment):

  1. upload MB/s (one-request POST /api/v1/tracks) into local disk vs into S3;
  2. cold first segment (aac-96 segment 0 of a never-played track, request to last byte)
     with the original on local disk, in S3 (the server's background decode of each new
     file has usually fetched it into the originals cache by then), in S3 with that cache
     off (every read a ranged GET), and in S3 once the cache surely holds the original
     (another rung's first segment);
  3. the same catalog on SQLite vs PostgreSQL: album page and track page over HTTP.

Needs ffmpeg and target/release/tonearm. FILES (default 8) three-minute FLACs.
"""
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

from benchaudio import noise_flacs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("TONEARM_BIN", os.path.join(ROOT, "target/release/tonearm"))
DIR = os.environ.get("BENCH_DIR", "/tmp/tonearm-scaleout-bench")
FILES = int(os.environ.get("FILES", "8"))


def flacs():
    return noise_flacs(f"{DIR}/src", FILES, 180, tone=lambda i: 220 + 20 * i)


class Node:
    def __init__(self, name, env):
        self.data = f"{DIR}/{name}"
        shutil.rmtree(self.data, ignore_errors=True)
        base = {k: v for k, v in os.environ.items() if not k.startswith("TONEARM_")}
        self.env = dict(base, RUST_LOG="warn", **env)
        subprocess.run([BIN, "--data-dir", self.data, "user", "add", "bench", "--password-stdin"], input=b"bench password\n",
                       env=self.env, check=True, stdout=subprocess.DEVNULL)
        self.proc = subprocess.Popen([BIN, "--data-dir", self.data, "--bind", "127.0.0.1:0", "serve"], env=dict(self.env, RUST_LOG="info"),
                                     stderr=subprocess.PIPE, text=True)
        for line in self.proc.stderr:
            if "listening on http://" in line:
                self.host, self.port = line.split("listening on http://")[1].split()[0].split(":")
                break
        self.token = json.loads(self.req("POST", "/api/v1/auth/login", json.dumps({"username": "bench", "password": "bench password"}).encode(), auth=False)[1])["token"]

    def req(self, method, path, body=None, auth=True):
        c = http.client.HTTPConnection(self.host, int(self.port), timeout=120)
        headers = {"Authorization": f"Bearer {self.token}"} if auth else {}
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        data = r.read()
        c.close()
        if r.status >= 300:
            raise RuntimeError(f"{method} {path}: {r.status} {data[:200]}")
        return r.status, data

    def timed(self, path):
        t = time.perf_counter()
        self.req("GET", path)
        return (time.perf_counter() - t) * 1000

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def segment0(node, track, rung):
    pl = node.req("GET", f"/hls/{track}/{rung}/index.m3u8")[1].decode()
    uri = next(l for l in pl.splitlines() if l.startswith("0.m4s"))
    return f"/hls/{track}/{rung}/{uri}"


def run(name, env, files):
    node = Node(name, env)
    try:
        total = sum(os.path.getsize(f) for f in files)
        t = time.perf_counter()
        ids = []
        for f in files:
            with open(f, "rb") as fh:
                ids.append(json.loads(node.req("POST", f"/api/v1/tracks?filename={os.path.basename(f)}", fh.read())[1])["id"])
        mbs = total / (time.perf_counter() - t) / 1e6
        # The server decodes every new file once in the background (damage check); let it
        # finish, so cold segments are measured against an idle store, not its reads.
        time.sleep(float(os.environ.get("SETTLE_SECS", "12")))
        cold = [node.timed(segment0(node, i, "aac-96")) for i in ids]
        for i in ids:  # playback goes on: a second open fetches the original into the cache
            node.timed(segment0(node, i, "aac-192"))
        time.sleep(3)
        warm = [node.timed(segment0(node, i, "opus-64")) for i in ids]
        albums = statistics.median(node.timed("/api/v1/albums?limit=50") for _ in range(50))
        tracks = statistics.median(node.timed("/api/v1/tracks?limit=100") for _ in range(50))
        return {"upload_mb_s": mbs, "cold_ms": statistics.median(cold), "cached_ms": statistics.median(warm), "albums_ms": albums, "tracks_ms": tracks}
    finally:
        node.stop()


def main():
    files = flacs()
    s3 = {k: os.environ[k] for k in os.environ if k.startswith("TONEARM_STORE__")}
    pg = {"TONEARM_CATALOG__URL": os.environ["BENCH_POSTGRES_URL"]}
    local = run("local", {}, files)
    run("s3_warmup", {**s3, "TONEARM_STORE__URL": s3["TONEARM_STORE__URL"] + "-warmup"}, files[:2])  # a fresh radosgw's first writes
    s3_only = run("s3", s3, files)
    # The server's background decode of each new file fetches it into the originals
    # cache: with the cache off, every read of a cold segment goes to the object store.
    uncached = run("s3_nocache", {**s3, "TONEARM_STORE__URL": s3["TONEARM_STORE__URL"] + "-nocache", "TONEARM_STORE__CACHE_BYTES": "1"}, files)
    both = run("pg_s3", {**s3, **pg, "TONEARM_STORE__URL": s3["TONEARM_STORE__URL"] + "-pg"}, files)
    rows = [
        ("upload MB/s (one request per file)", "upload_mb_s", "{:.1f}"),
        ("cold first segment, ms (aac-96 #0)", "cold_ms", "{:.1f}"),
        ("cold first segment, originals cache warm, ms (opus-64 #0)", "cached_ms", "{:.1f}"),
        ("GET /api/v1/albums?limit=50, ms", "albums_ms", "{:.2f}"),
        ("GET /api/v1/tracks?limit=100, ms", "tracks_ms", "{:.2f}"),
    ]
    print(f"| {FILES} three-minute FLACs | SQLite + disk | SQLite + S3 | S3, no originals cache | PostgreSQL + S3 | S3 / disk | no cache / disk | PG+S3 / disk |")
    print("|---|---|---|---|---|---|---|---|")
    for label, k, fmt in rows:
        a, b, u, c = local[k], s3_only[k], uncached[k], both[k]
        print(f"| {label} | {fmt.format(a)} | {fmt.format(b)} | {fmt.format(u)} | {fmt.format(c)} | {b / a:.2f} | {u / a:.2f} | {c / a:.2f} |")


if __name__ == "__main__":
    sys.exit(main())
