#!/usr/bin/env python3
"""Warm segment serving: Tonearm against nginx on the same bytes, side by side in one run.

    python3 scripts/bench-warm.py          # needs wrk and nginx (apt-get install wrk nginx-light)
                                           # and oha (cargo install oha --locked)

For a first (0.96 s, ~11-15 kB) and a full (3.84 s, ~60-95 kB) segment of each codec, the
segment is fetched once from Tonearm (so it is in the hot cache), written to a directory
nginx serves with sendfile, and then both servers are loaded with wrk and with oha at 64
and at 512 connections. Tonearm is asked with a bearer token and with a signed URL. Prints
req/s and p99 per row with the ratios to nginx, errors, and the server's RSS before and
after the 512-connection runs.

Each row is the median of REPEAT (default 3) rounds, each round running nginx, Tonearm with
the bearer token and Tonearm with the signed URL back to back, so that the machine's drift
(two cores shared with the load tool) falls on all three alike.

Set SECS (seconds per run, default 5), REPEAT, CONNS (default "64,512") and BENCH_DIR.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("TONEARM_BIN", os.path.join(ROOT, "target/release/tonearm"))
DIR = os.environ.get("BENCH_DIR", "/tmp/tonearm-warm-bench")
SECS = int(os.environ.get("SECS", "5"))
REPEAT = int(os.environ.get("REPEAT", "3"))
CONNS = [int(c) for c in os.environ.get("CONNS", "64,512").split(",")]
SEGMENTS = [("aac-96", 0), ("aac-192", 1), ("opus-128", 0), ("opus-128", 1)]
NGINX_PORT = 4791


def sh(args, **kw):
    return subprocess.run(args, check=True, **kw)


class Server:
    def __init__(self, data):
        env = dict(os.environ, RUST_LOG="warn,tonearm=info")
        self.p = subprocess.Popen([BIN, "--data-dir", data, "--bind", "127.0.0.1:0", "serve"],
                                  stderr=subprocess.PIPE, text=True, env=env)
        for line in self.p.stderr:
            m = re.search(r"listening on http://(\S+)", line)
            if m:
                self.addr = m.group(1)
                break
        threading.Thread(target=lambda: [None for _ in self.p.stderr], daemon=True).start()

    def rss_mb(self):
        with open(f"/proc/{self.p.pid}/status") as f:
            v = {l.split(":")[0]: int(l.split()[1]) for l in f if l.startswith(("VmHWM", "VmRSS"))}
        return v["VmRSS"] / 1024, v["VmHWM"] / 1024

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=30)


def get(url, token=None):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(req) as r:
        return r.read()


def wrk(url, conns, headers):
    args = ["wrk", "-t2", f"-c{conns}", f"-d{SECS}s", "--latency", url]
    for h in headers:
        args += ["-H", h]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99 = float(p99.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    n_err = (sum(int(x) for x in errs.groups()) if errs else 0) + (int(non2xx.group(1)) if non2xx else 0)
    return rps, p99, n_err


def oha(url, conns, headers):
    exe = shutil.which("oha") or os.path.expanduser("~/.cargo/bin/oha")
    args = [exe, "-z", f"{SECS}s", "-c", str(conns), "--no-tui", "--output-format", "json", url]
    for h in headers:
        args += ["-H", h]
    out = json.loads(subprocess.run(args, check=True, capture_output=True).stdout)
    codes = out.get("statusCodeDistribution", {})
    # oha counts the requests it cut off when the run's time is up as errors; those are not.
    errors = {k: v for k, v in out.get("errorDistribution", {}).items() if "deadline" not in k}
    n_err = sum(v for k, v in codes.items() if not k.startswith("2")) + sum(errors.values())
    return out["summary"]["requestsPerSec"], out["latencyPercentiles"]["p99"] * 1000, n_err


def main():
    tools = [t for t in ("wrk", "oha") if shutil.which(t) or (t == "oha" and os.path.exists(os.path.expanduser("~/.cargo/bin/oha")))]
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not tools or not os.path.exists(nginx):
        sys.exit("needs nginx and wrk and/or oha: apt-get install nginx-light wrk; cargo install oha --locked")
    if not os.path.exists(BIN):
        sh(["cargo", "build", "--release", "--locked"], cwd=ROOT)
    os.makedirs(DIR, exist_ok=True)
    music = os.path.join(DIR, "music.flac")
    if not os.path.exists(music):
        # Music-like: a chord, a bass line and stereo pink noise through a limiter.
        sh(["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y",
            "-f", "lavfi", "-i", "aevalsrc=0.2*sin(2*PI*220*t)+0.1*sin(2*PI*331*t)+0.15*sin(2*PI*55*t)|0.2*sin(2*PI*221*t)+0.1*sin(2*PI*330*t)+0.15*sin(2*PI*55*t):s=44100:d=60",
            "-f", "lavfi", "-i", "anoisesrc=c=pink:r=44100:a=0.1:d=60:seed=3",
            "-filter_complex", "[1]asplit[a][b];[a][b]join=inputs=2:channel_layout=stereo[n];[0][n]amix=inputs=2:normalize=0,alimiter=limit=0.8",
            "-c:a", "flac", music])
    data = os.path.join(DIR, "data")
    shutil.rmtree(data, ignore_errors=True)
    sh([BIN, "--data-dir", data, "user", "add", "bench", "--password-stdin"], input=b"benchbench\n", stdout=subprocess.DEVNULL)
    sh([BIN, "--data-dir", data, "import", "--user", "bench", "--quiet", music], stdout=subprocess.DEVNULL)
    s = Server(data)
    base = f"http://{s.addr}"
    req = urllib.request.Request(base + "/api/v1/auth/login", data=json.dumps({"username": "bench", "password": "benchbench"}).encode())
    token = json.loads(urllib.request.urlopen(req).read())["token"]
    play = json.loads(get(base + "/api/v1/tracks/1/playback", token))
    signed = play["hls"].split("?", 1)[1]

    www = os.path.join(DIR, "www")
    shutil.rmtree(www, ignore_errors=True)
    os.makedirs(www)
    rows = []
    for rung, k in SEGMENTS:
        body = get(f"{base}/hls/1/{rung}/{k}.m4s", token)  # now in the hot cache
        name = f"{rung}-{k}.m4s"
        with open(os.path.join(www, name), "wb") as f:
            f.write(body)
        rows.append((rung, k, name, len(body)))
    conf = os.path.join(DIR, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"worker_processes auto; daemon off; pid {DIR}/nginx.pid; error_log {DIR}/nginx-error.log;\n"
                f"worker_rlimit_nofile 8192; events {{ worker_connections 4096; }}\n"
                f"http {{ access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;\n"
                f"  server {{ listen 127.0.0.1:{NGINX_PORT}; root {www}; }} }}\n")
    ng = subprocess.Popen([nginx, "-c", conf, "-p", DIR], stderr=subprocess.DEVNULL)
    time.sleep(0.5)

    print(f"machine: {os.cpu_count()} cores; {SECS} s per run, median of {REPEAT} interleaved rounds; tonearm {BIN}; nginx {nginx} (sendfile, {os.cpu_count()} workers)")
    print(f"`{' '.join(sys.argv)}`  (SECS={SECS} REPEAT={REPEAT} CONNS={','.join(map(str, CONNS))})\n")
    print(f"{'segment':<16}{'bytes':>7} {'tool':<4} {'conns':>5} {'auth':<7} {'tonearm req/s':>14} {'p99 ms':>7} "
          f"{'nginx req/s':>12} {'p99 ms':>7} {'req/s ratio':>11} {'p99 ratio':>9} {'errors':>7}")
    rss_before = s.rss_mb()
    worst = (9.9, 0.0)
    med = lambda xs: sorted(xs)[len(xs) // 2]
    for conns in CONNS:
        for rung, k, name, size in rows:
            for tool in tools:
                run = wrk if tool == "wrk" else oha
                rounds = {"nginx": [], "bearer": [], "signed": []}
                for _ in range(REPEAT):
                    rounds["nginx"].append(run(f"http://127.0.0.1:{NGINX_PORT}/{name}", conns, []))
                    rounds["bearer"].append(run(f"{base}/hls/1/{rung}/{k}.m4s", conns, [f"Authorization: Bearer {token}"]))
                    rounds["signed"].append(run(f"{base}/hls/1/{rung}/{k}.m4s?{signed}", conns, []))
                summary = {who: (med([r[0] for r in rs]), med([r[1] for r in rs]), sum(r[2] for r in rs)) for who, rs in rounds.items()}
                theirs = summary["nginx"]
                for auth in ("bearer", "signed"):
                    ours = summary[auth]
                    ratio, p99_ratio = ours[0] / theirs[0], ours[1] / max(theirs[1], 1e-6)
                    worst = (min(worst[0], ratio), max(worst[1], p99_ratio))
                    print(f"{rung + '/' + str(k) + '.m4s':<16}{size:>7} {tool:<4} {conns:>5} {auth:<7} {ours[0]:>14.0f} {ours[1]:>7.2f} "
                          f"{theirs[0]:>12.0f} {theirs[1]:>7.2f} {ratio:>10.2f}x {p99_ratio:>8.2f}x {ours[2] + theirs[2]:>7}", flush=True)
    rss_after = s.rss_mb()
    print(f"\ntonearm RSS: {rss_before[0]:.1f} MB before, {rss_after[0]:.1f} MB after, peak {rss_after[1]:.1f} MB")
    print(f"worst req/s ratio {worst[0]:.2f}x, worst p99 ratio {worst[1]:.2f}x")
    ng.terminate()
    ng.wait()
    s.stop()


if __name__ == "__main__":
    main()
