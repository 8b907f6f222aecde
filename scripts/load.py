#!/usr/bin/env python3
"""Listeners at playback pace against a real server on loopback: start-up time, stalls, 429s,
CPU and memory.

    python3 scripts/load.py [--players 200] [--listeners 200] [--tracks 24] [--secs 60]

Imports TRACKS distinct music-like 90 s FLACs (every track starts cold), starts the release
build, then runs at once:
  * PLAYERS simulated HLS players: master playlist, a rung (the ladder's four in turn), its
    media playlist and init, then segments in order, keeping up to 12 s buffered as hls.js
    does; playback starts when the first segment has arrived (start-up time) and a stall is
    counted whenever the buffer runs dry after that. A 429 waits its Retry-After.
  * LISTENERS progressive listeners (`/stream?format=aac|opus`, in turn), reading at
    playback pace after a 2 s buffer; start-up is the time to the first 2 s of audio, and a
    stall is the buffer running dry.
Players and listeners spread over the tracks (several per track, as when many people play
the same albums). Everything is bounded: the run lasts SECS seconds (plus start-up), then
the script stops the server. Prints start-up p50/p99, stalls, 429s, errors, the server's
CPU (cores busy on average) and peak RSS.
"""
import argparse
import asyncio
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("TONEARM_BIN", os.path.join(ROOT, "target/release/tonearm"))
DIR = os.environ.get("BENCH_DIR", "/tmp/tonearm-load")
FF = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y"]
RUNGS = ["aac-96", "aac-192", "opus-64", "opus-128"]
BUFFER_AHEAD = 12.0   # seconds an HLS player keeps buffered
LISTEN_BUFFER = 2.0   # seconds a progressive listener buffers before playing
KBPS = {"aac": 192, "opus": 128}


class Conn:
    """A minimal keep-alive HTTP/1.1 client on asyncio streams."""

    def __init__(self, host, port):
        self.host, self.port, self.r, self.w = host, port, None, None

    async def request(self, path, headers=None, stream=False):
        for attempt in range(2):
            if self.w is None:
                self.r, self.w = await asyncio.open_connection(self.host, self.port)
            h = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
            self.w.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n{h}\r\n".encode())
            try:
                await self.w.drain()
                head = await asyncio.wait_for(self.r.readuntil(b"\r\n\r\n"), timeout=60)
                break
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt:
                    raise
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
        if stream:
            return status, hdrs, None
        if "content-length" in hdrs:
            body = await self.r.readexactly(int(hdrs["content-length"]))
        else:
            body = await self.read_chunked()
        return status, hdrs, body

    async def read_chunked(self):
        out = bytearray()
        while True:
            n = int((await self.r.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            if n == 0:
                await self.r.readuntil(b"\r\n")
                return bytes(out)
            out += await self.r.readexactly(n)
            await self.r.readexactly(2)

    def close(self):
        if self.w:
            self.w.close()
        self.r = self.w = None


class Stats:
    def __init__(self):
        self.startup, self.stalls, self.busy, self.errors, self.never = [], 0, 0, 0, 0


async def get_retrying(conn, path, headers, stats, deadline):
    while time.monotonic() < deadline:
        status, hdrs, body = await conn.request(path, headers)
        if status == 429:
            stats.busy += 1
            await asyncio.sleep(float(hdrs.get("retry-after", "1")))
            continue
        return status, body
    return None, None


async def player(i, host, port, token, track, stats, secs):
    conn = Conn(host, port)
    auth = {"Authorization": f"Bearer {token}"}
    rung = RUNGS[i % len(RUNGS)]
    t0 = time.monotonic()
    deadline = t0 + secs + 30
    try:
        st, _ = await get_retrying(conn, f"/hls/{track}/master.m3u8", auth, stats, deadline)
        st, pl = await get_retrying(conn, f"/hls/{track}/{rung}/index.m3u8", auth, stats, deadline)
        durations = [float(x) for x in re.findall(rb"#EXTINF:([\d.]+),", pl or b"")]
        st, _ = await get_retrying(conn, f"/hls/{track}/{rung}/init.mp4", auth, stats, deadline)
        buffered, started, play_start = 0.0, None, None
        for k, d in enumerate(durations):
            now = time.monotonic()
            if started is not None:
                # Keep at most BUFFER_AHEAD seconds ahead of the playhead.
                played = now - play_start
                if buffered - played > BUFFER_AHEAD:
                    await asyncio.sleep(buffered - played - BUFFER_AHEAD)
                if time.monotonic() - t0 > secs:
                    break
            st, body = await get_retrying(conn, f"/hls/{track}/{rung}/{k}.m4s", auth, stats, deadline)
            if st != 200:
                stats.errors += 1
                return
            now = time.monotonic()
            if started is None:
                started = now - t0
                stats.startup.append(started)
                play_start = now
            elif now - play_start > buffered:
                # The playhead caught up with the buffer: a stall; playback resumes now.
                stats.stalls += 1
                play_start = now - buffered
            buffered += d
    except Exception:
        stats.errors += 1
    finally:
        conn.close()
        if started is None:
            stats.never += 1


async def listener(i, host, port, token, track, stats, secs):
    conn = Conn(host, port)
    fmt = ["aac", "opus"][i % 2]
    rate = KBPS[fmt] * 1000 / 8  # bytes per second of playback (approximately)
    t0 = time.monotonic()
    started = None
    try:
        while True:
            status, hdrs, _ = await conn.request(f"/api/v1/tracks/{track}/stream?format={fmt}", {"Authorization": f"Bearer {token}"}, stream=True)
            if status == 429:
                stats.busy += 1
                await conn.read_chunked() if hdrs.get("transfer-encoding") == "chunked" else await conn.r.readexactly(int(hdrs.get("content-length", "0")))
                await asyncio.sleep(float(hdrs.get("retry-after", "1")))
                if time.monotonic() - t0 > secs:
                    return
                continue
            if status != 200:
                stats.errors += 1
                return
            break
        got = 0.0
        play_start = None
        while time.monotonic() - t0 < secs:
            line = await conn.r.readuntil(b"\r\n")
            n = int(line.strip().split(b";")[0], 16)
            if n == 0:
                break
            await conn.r.readexactly(n + 2)
            got += n / rate
            now = time.monotonic()
            if started is None and got >= LISTEN_BUFFER:
                started = now - t0
                stats.startup.append(started)
                play_start = now
            elif started is not None:
                played = now - play_start
                if played > got - n / rate + 0.25:
                    stats.stalls += 1
                    play_start = now - (got - n / rate)
                if got - played > 20:
                    await asyncio.sleep(got - played - 20)  # read at playback pace
    except Exception:
        stats.errors += 1
    finally:
        conn.close()
        if started is None:
            stats.never += 1


def cpu_secs(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def rss_peak_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def make_library(n):
    lib = os.path.join(DIR, f"library-{n}")
    if os.path.isdir(lib):
        return lib
    os.makedirs(DIR, exist_ok=True)
    music = os.path.join(DIR, "music.flac")
    if not os.path.exists(music):
        subprocess.run(FF + ["-f", "lavfi", "-i", "aevalsrc=0.2*sin(2*PI*(220+55*floor(mod(t\\,8)/2))*t)+0.1*sin(2*PI*331*t)+0.15*sin(2*PI*55*t):s=44100:d=120",
                             "-f", "lavfi", "-i", "anoisesrc=c=pink:r=44100:a=0.1:d=120:seed=5",
                             "-filter_complex", "[0][1]amix=inputs=2:normalize=0,alimiter=limit=0.8", "-ac", "2", "-c:a", "flac", music], check=True)
    os.makedirs(lib + ".tmp", exist_ok=True)
    for i in range(n):
        # Distinct audio (each cut a little shorter): every track starts cold.
        subprocess.run(FF + ["-i", music, "-t", str(90 - 0.25 * i), "-c", "copy", "-metadata", f"title=Load {i}", os.path.join(lib + ".tmp", f"t{i:03}.flac")], check=True)
    os.rename(lib + ".tmp", lib)
    return lib


async def run(args, host, port, token, tracks):
    players, listeners = Stats(), Stats()
    tasks = [player(i, host, port, token, tracks[i % len(tracks)], players, args.secs) for i in range(args.players)]
    tasks += [listener(i, host, port, token, tracks[(i + 7) % len(tracks)], listeners, args.secs) for i in range(args.listeners)]
    random.Random(1).shuffle(tasks)
    # Every task ends by its own deadline; this bounds the run if the server stops answering.
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=args.secs + 120)
    return players, listeners


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--players", type=int, default=200)
    ap.add_argument("--listeners", type=int, default=200)
    ap.add_argument("--tracks", type=int, default=24)
    ap.add_argument("--secs", type=float, default=60)
    args = ap.parse_args()
    if not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release", "--locked"], cwd=ROOT, check=True)
    lib = make_library(args.tracks)
    data = os.path.join(DIR, "data")
    shutil.rmtree(data, ignore_errors=True)
    subprocess.run([BIN, "--data-dir", data, "user", "add", "load", "--password-stdin"], input=b"loadload\n", check=True, stdout=subprocess.DEVNULL)
    subprocess.run([BIN, "--data-dir", data, "import", "--user", "load", "--quiet", lib], check=True, stdout=subprocess.DEVNULL)
    env = dict(os.environ, RUST_LOG="warn,tonearm=info")
    srv = subprocess.Popen([BIN, "--data-dir", data, "--bind", "127.0.0.1:0", "serve"], stderr=subprocess.PIPE, text=True, env=env)
    addr = None
    for line in srv.stderr:
        m = re.search(r"listening on http://(\S+)", line)
        if m:
            addr = m.group(1)
            break
    host, port = addr.rsplit(":", 1)
    import threading
    import urllib.request
    threading.Thread(target=lambda: [None for _ in srv.stderr], daemon=True).start()
    req = urllib.request.Request(f"http://{addr}/api/v1/auth/login", data=json.dumps({"username": "load", "password": "loadload"}).encode())
    token = json.loads(urllib.request.urlopen(req).read())["token"]
    req = urllib.request.Request(f"http://{addr}/api/v1/tracks?limit=1000", headers={"Authorization": f"Bearer {token}"})
    tracks = [t["id"] for t in json.loads(urllib.request.urlopen(req).read())["items"]]
    cpu0, t0 = cpu_secs(srv.pid), time.monotonic()
    try:
        players, listeners = asyncio.run(run(args, host, port, token, tracks))
    finally:
        wall = time.monotonic() - t0
        cpu = cpu_secs(srv.pid) - cpu0
        peak = rss_peak_mb(srv.pid)
        srv.terminate()
        srv.wait(timeout=30)
    print(f"{args.players} HLS players and {args.listeners} progressive listeners over {len(tracks)} cold tracks, "
          f"{args.secs:.0f} s, {os.cpu_count()} cores; `{' '.join(sys.argv)}`")
    print(f"{'who':<22}{'started':>8}{'start p50':>11}{'start p99':>11}{'stalls':>8}{'429s':>7}{'errors':>8}")
    for name, st, n in (("HLS players", players, args.players), ("progressive listeners", listeners, args.listeners)):
        print(f"{name:<22}{len(st.startup):>5}/{n:<3}{pct(st.startup, 50):>10.2f}s{pct(st.startup, 99):>10.2f}s{st.stalls:>8}{st.busy:>7}{st.errors:>8}")
    print(f"server: {cpu / wall:.2f} cores busy on average over {wall:.0f} s, peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
