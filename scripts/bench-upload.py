#!/usr/bin/env python3
"""Upload benchmarks: ingest throughput against raw disk writes, in one run.

    python3 scripts/bench-upload.py          # needs ffmpeg and a release build

Prints, for large FLAC files (default 3 × ~10 minutes of music-like audio):
  1. raw disk write: the same bytes written to the data directory's filesystem with an
     fsync at the end (what any upload must at least cost), in MB/s;
  2. one-request upload (`POST /api/v1/tracks`) over loopback: send, hash, probe, store,
     catalog, answered 201, in MB/s, and its ratio to the raw write;
  3. the same through tus, in one PATCH per file (tus-js-client's default) and in 8 MiB
     chunks (each PATCH ends with an fdatasync, so the offset it reports is durable);
  4. instant upload round trip (ask + prove, no file sent): median of 30, in ms.
Set BENCH_DIR (default /tmp/tonearm-upload-bench), FILES, MINUTES.
"""
import hashlib
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import base64

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target/release/tonearm")
DIR = os.environ.get("BENCH_DIR", "/tmp/tonearm-upload-bench")
FILES = int(os.environ.get("FILES", "3"))
MINUTES = float(os.environ.get("MINUTES", "10"))
FF = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y"]


def make_inputs(n):
    os.makedirs(DIR, exist_ok=True)
    out = []
    for i in range(n):
        p = os.path.join(DIR, f"big{i}.flac")
        if not os.path.exists(p):
            secs = int(MINUTES * 60)
            subprocess.run(FF + ["-f", "lavfi", "-i", f"sine=f={220 + 30 * i}:r=44100:d={secs}",
                                 "-f", "lavfi", "-i", f"anoisesrc=c=pink:r=44100:a=0.2:d={secs}:seed={i}",
                                 "-filter_complex", "[0][1]amix=inputs=2,aformat=channel_layouts=stereo",
                                 "-c:a", "flac", "-sample_fmt", "s16", "-metadata", f"title=Big {i}", p], check=True)
        out.append(p)
    return out


def raw_write(data_dir, files):
    best = 0
    total = sum(os.path.getsize(f) for f in files)
    t0 = time.perf_counter()
    for f in files:
        dst = os.path.join(data_dir, "rawcopy")
        with open(f, "rb") as src, open(dst, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.remove(dst)
    return total / (time.perf_counter() - t0) / 1e6


def start_server(data):
    env = dict(os.environ, RUST_LOG="warn")
    subprocess.run([BIN, "--data-dir", data, "user", "add", "bench", "--admin", "--password-stdin"], input=b"bench password\n", check=True, env=env, capture_output=True)
    subprocess.run([BIN, "--data-dir", data, "user", "add", "other", "--password-stdin"], input=b"other password\n", check=True, env=env, capture_output=True)
    p = subprocess.Popen([BIN, "--data-dir", data, "--bind", "127.0.0.1:0", "serve"], stderr=subprocess.PIPE, env=dict(env, RUST_LOG=os.environ.get("SERVER_LOG", "info")))
    for line in p.stderr:
        line = line.decode()
        if "listening on http://" in line:
            addr = line.split("listening on http://")[1].split()[0]
            host, port = addr.split(":")
            return p, host, int(port)
    raise SystemExit("server did not start")


def login(host, port, user, pw):
    c = http.client.HTTPConnection(host, port)
    c.request("POST", "/api/v1/auth/login", json.dumps({"username": user, "password": pw}))
    return json.loads(c.getresponse().read())["token"]


def post_file(host, port, tok, path):
    c = http.client.HTTPConnection(host, port, timeout=600, blocksize=1 << 20)
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        c.request("POST", f"/api/v1/tracks?filename={os.path.basename(path)}", body=f,
                  headers={"Authorization": f"Bearer {tok}", "Content-Length": str(size)})
        r = c.getresponse()
        body = r.read()
    assert r.status in (200, 201), (r.status, body)


def tus_file(host, port, tok, path, chunk=8 << 20):
    c = http.client.HTTPConnection(host, port, timeout=600)
    size = os.path.getsize(path)
    meta = "filename " + base64.b64encode(os.path.basename(path).encode()).decode()
    c.request("POST", "/api/v1/uploads", headers={"Authorization": f"Bearer {tok}", "Tus-Resumable": "1.0.0", "Upload-Length": str(size), "Upload-Metadata": meta})
    r = c.getresponse(); r.read()
    assert r.status == 201, r.status
    url = r.getheader("Location")
    off = 0
    with open(path, "rb") as f:
        while off < size:
            data = f.read(chunk)
            c.request("PATCH", url, body=data, headers={"Authorization": f"Bearer {tok}", "Tus-Resumable": "1.0.0", "Upload-Offset": str(off), "Content-Type": "application/offset+octet-stream"})
            r = c.getresponse(); r.read()
            assert r.status == 204, r.status
            off += len(data)


def instant(host, port, tok, path, sha, size):
    c = http.client.HTTPConnection(host, port)
    c.request("POST", "/api/v1/uploads/instant", json.dumps({"sha256": sha, "size": size, "filename": "x.flac"}), {"Authorization": f"Bearer {tok}"})
    ch = json.loads(c.getresponse().read())
    proofs = []
    with open(path, "rb") as f:
        for r in ch["ranges"]:
            f.seek(r["offset"])
            proofs.append(hashlib.sha256(f.read(r["length"])).hexdigest())
    c.request("POST", f"/api/v1/uploads/instant/{ch['challenge']}", json.dumps({"proofs": proofs}), {"Authorization": f"Bearer {tok}"})
    r = c.getresponse(); r.read()
    assert r.status in (200, 201), r.status


def main():
    if not os.path.exists(BIN):
        raise SystemExit("build first: cargo build --release")
    made = make_inputs(3 * FILES)
    files, fresh, chunked = made[:FILES], made[FILES:2 * FILES], made[2 * FILES:]
    total = sum(os.path.getsize(f) for f in files)
    print(f"inputs: {FILES} FLAC files, {total / 1e6:.0f} MB in all")
    data = os.path.join(DIR, "data")
    shutil.rmtree(data, ignore_errors=True)
    os.makedirs(data)
    raw = statistics.median(raw_write(data, files) for _ in range(3))
    server, host, port = start_server(data)
    try:
        tok = login(host, port, "bench", "bench password")
        t0 = time.perf_counter()
        for f in files:
            post_file(host, port, tok, f)
        one = total / (time.perf_counter() - t0) / 1e6
        other = login(host, port, "other", "other password")
        # tus: as many other new files, for another user.
        t0 = time.perf_counter()
        for g in fresh:
            tus_file(host, port, other, g, chunk=os.path.getsize(g))
        tus = sum(os.path.getsize(g) for g in fresh) / (time.perf_counter() - t0) / 1e6
        t0 = time.perf_counter()
        for g in chunked:
            tus_file(host, port, other, g)
        tus8 = sum(os.path.getsize(g) for g in chunked) / (time.perf_counter() - t0) / 1e6
        sha = hashlib.sha256(open(files[0], "rb").read()).hexdigest()
        size = os.path.getsize(files[0])
        rtts = []
        for _ in range(30):
            t0 = time.perf_counter()
            instant(host, port, other, files[0], sha, size)
            rtts.append((time.perf_counter() - t0) * 1e3)
    finally:
        server.terminate()
        server.wait()
    print(f"raw disk write (copy + fsync), median of 3:  {raw:8.0f} MB/s")
    print(f"one-request upload over loopback (201):      {one:8.0f} MB/s   {one / raw:.2f}x raw")
    print(f"tus upload, one PATCH per file:              {tus:8.0f} MB/s   {tus / raw:.2f}x raw")
    print(f"tus upload, 8 MiB chunks:                    {tus8:8.0f} MB/s   {tus8 / raw:.2f}x raw")
    print(f"instant upload round trip (ask + prove):     {statistics.median(rtts):8.1f} ms median, {max(rtts):.1f} ms max of 30")


if __name__ == "__main__":
    main()
