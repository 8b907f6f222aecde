#!/usr/bin/env python3
"""Two nodes against one behind nginx, side by side in one run (called by
scripts/bench-scaleout.sh, which starts PostgreSQL and radosgw and passes their settings in
the environment; it can also run alone with BENCH_POSTGRES_URL and TONEARM_STORE__* set).

Every node runs on the same PostgreSQL catalog and S3 bucket with a CPU quota of its own
(a cgroup, CPU_PER_NODE cores, default 0.25: little enough that the nodes, not nginx
or wrk on the machine's two cores, bound what two of them serve), so that one node and two nodes get the same
cores each and the load tools, nginx and the servers behind keep the rest of the machine:
the "same cores split" of the issue. nginx runs the repository's `config/nginx.conf` with
the nodes swapped in.

  - cold segments/s: PLAYERS (default 8) players at once, each playing a different track
    (never played before) from its first aac-96 segment to its last as fast as it can, by
    the URIs the media playlist gives; segments served per second of wall time;
  - warm segments/s: then wrk (64 connections, SECS seconds, default 10) over every one of
    those segments, all now in the nodes' hot caches, each through the balancer.

Also `tonearm import` of the same files, files/s, into SQLite + disk and into PostgreSQL +
S3 (the cluster's library). TRACKS (default 96) twenty-second FLACs. Needs ffmpeg, wrk, nginx, root (for the cgroup;
without it the nodes are pinned to cores with taskset instead, and the note says so).
"""
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

from benchaudio import noise_flacs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("TONEARM_BIN", os.path.join(ROOT, "target/release/tonearm"))
DIR = os.environ.get("BENCH_DIR", "/tmp/tonearm-cluster-bench")
TRACKS = int(os.environ.get("TRACKS", "96"))
PLAYERS = int(os.environ.get("PLAYERS", "8"))
SECS = int(os.environ.get("SECS", "10"))
CPU = float(os.environ.get("CPU_PER_NODE", "0.25"))
CGROUP = "/sys/fs/cgroup/cpu"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def flacs():
    return noise_flacs(f"{DIR}/src", TRACKS, 20, tone=lambda i: 200 + 10 * i)


def cgroup_ok():
    try:
        os.makedirs(f"{CGROUP}/tonearm-bench-probe", exist_ok=True)
        os.rmdir(f"{CGROUP}/tonearm-bench-probe")
        return True
    except OSError:
        return False


class Node:
    """A node on the shared catalog and bucket, in a CPU cgroup of its own (or on a core)."""

    def __init__(self, name, env, core):
        self.data = f"{DIR}/{name}"
        shutil.rmtree(self.data, ignore_errors=True)
        self.group = f"{CGROUP}/tonearm-bench-{name}"
        if cgroup_ok():
            os.makedirs(self.group, exist_ok=True)
            with open(f"{self.group}/cpu.cfs_period_us", "w") as f:
                f.write("100000")
            with open(f"{self.group}/cpu.cfs_quota_us", "w") as f:
                f.write(str(int(CPU * 100000)))
            prefix = ["sh", "-c", f'echo $$ > {self.group}/cgroup.procs; exec "$0" "$@"']
        else:
            self.group = None
            prefix = ["taskset", "-c", str(core)]
        self.proc = subprocess.Popen(prefix + [BIN, "--data-dir", self.data, "--bind", "127.0.0.1:0", "serve"],
                                     env=dict(env, RUST_LOG="info"), stderr=subprocess.PIPE, text=True)
        for line in self.proc.stderr:
            m = re.search(r"listening on http://(\S+)", line)
            if m:
                self.addr = m.group(1)
                break
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()

    def cpu_s(self):
        """CPU seconds this node has used (all threads, user + system)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def throttled_s(self):
        """Seconds the quota held this node back so far (0 without a cgroup)."""
        if not self.group:
            return 0.0
        with open(f"{self.group}/cpu.stat") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("throttled_time")) / 1e9

    def metric(self, name):
        c = http.client.HTTPConnection(*self.addr.split(":"), timeout=10)
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
        return next((float(l.split()[1]) for l in text.splitlines() if l.startswith(name + " ")), 0.0)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        if self.group:
            for _ in range(50):
                try:
                    os.rmdir(self.group)
                    break
                except OSError:
                    time.sleep(0.1)


class Nginx:
    def __init__(self, nodes):
        d = f"{DIR}/nginx"
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        conf = open(os.path.join(ROOT, "config/nginx.conf")).read()
        servers = "\n".join(f"    server {n.addr} max_fails=1 fail_timeout=3s;" for n in nodes)
        conf = re.sub(r"(    server 127\.0\.0\.1:808[12] max_fails=1 fail_timeout=3s;\n)+", servers + "\n", conf)
        conf = conf.replace("worker_processes auto;", f"worker_processes auto;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;")
        conf = conf.replace("http {", f"http {{\n  access_log off; keepalive_requests 1000000;\n  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n"
                                      f"  fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;")
        # Keep-alive to the nodes, as a deployment would.
        conf = conf.replace("    least_conn;", "    least_conn;\n    keepalive 64;").replace("    hash $tonearm_key consistent;", "    hash $tonearm_key consistent;\n    keepalive 64;")
        conf = conf.replace("listen 8080;", "listen 127.0.0.1:4793;")
        with open(f"{d}/nginx.conf", "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen([NGINX, "-p", d, "-c", f"{d}/nginx.conf"], stderr=subprocess.DEVNULL)
        self.host, self.port = "127.0.0.1", 4793
        for _ in range(100):
            try:
                http.client.HTTPConnection(self.host, self.port, timeout=1).connect()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def request(host, port, method, path, token=None, body=None):
    c = http.client.HTTPConnection(host, int(port), timeout=120)
    c.request(method, path, body=body, headers={"Authorization": f"Bearer {token}"} if token else {})
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status >= 300:
        raise RuntimeError(f"{method} {path}: {r.status} {data[:200]}")
    return data


def wrk(paths, token):
    script = f"{DIR}/paths.lua"
    with open(script, "w") as f:
        f.write("paths = {" + ",".join(json.dumps(p) for p in paths) + "}\n")
        f.write("i = 0\nrequest = function()\n  i = i + 1\n"
                f"  return wrk.format('GET', paths[(i % #paths) + 1], {{['Authorization'] = 'Bearer {token}'}})\nend\n")
    out = subprocess.run(["wrk", "-t2", "-c64", f"-d{SECS}s", "-s", script, "http://127.0.0.1:4793"], check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return rps, total, (int(non2xx.group(1)) if non2xx else 0) + (sum(int(x) for x in errs.groups()) if errs else 0)


def run(n, env, token, ids):
    nodes = [Node(f"node{i}", env, i) for i in range(n)]
    lb = Nginx(nodes)
    try:
        # Cold: PLAYERS players at once, each through a different never-played track.
        queue = list(ids)
        lock = threading.Lock()
        served, paths = [0], []

        def player():
            while True:
                with lock:
                    if not queue:
                        return
                    track = queue.pop()
                pl = request(lb.host, lb.port, "GET", f"/hls/{track}/aac-96/index.m3u8", token).decode()
                for uri in (l for l in pl.splitlines() if ".m4s" in l):
                    path = f"/hls/{track}/aac-96/{uri}"
                    request(lb.host, lb.port, "GET", path, token)
                    with lock:
                        served[0] += 1
                        paths.append(path)

        t = time.perf_counter()
        threads = [threading.Thread(target=player) for _ in range(PLAYERS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        cold = served[0] / (time.perf_counter() - t)
        encoded = [int(node.metric("tonearm_segments_encoded_total")) for node in nodes]
        held, cpu = [node.throttled_s() for node in nodes], sum(node.cpu_s() for node in nodes)
        warm, total, errors = wrk(paths, token)
        held = [round(node.throttled_s() - h, 1) for node, h in zip(nodes, held)]
        cost = (sum(node.cpu_s() for node in nodes) - cpu) / total * 1e6
        return {"cold": cold, "warm": warm, "errors": errors, "encoded": encoded, "segments": served[0], "held": held, "cost": cost}
    finally:
        lb.stop()
        for node in nodes:
            node.stop()


def main():
    for tool in ("wrk", "ffmpeg"):
        if not shutil.which(tool):
            sys.exit(f"needs {tool}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TONEARM_")}
    env.update({k: v for k, v in os.environ.items() if k.startswith("TONEARM_STORE__")})
    env["TONEARM_STORE__URL"] = os.environ["TONEARM_STORE__URL"] + "-cluster"
    env["TONEARM_CATALOG__URL"] = os.environ["BENCH_POSTGRES_URL"]
    files = flacs()

    def import_rate(data, env):
        """files/s of `tonearm import` of every file, into an empty library."""
        shutil.rmtree(data, ignore_errors=True)
        subprocess.run([BIN, "--data-dir", data, "user", "add", "bench", "--password-stdin"], input=b"bench password\n",
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t = time.perf_counter()
        subprocess.run([BIN, "--data-dir", data, "import", "--user", "bench", "--quiet", *files], env=env, check=True, stdout=subprocess.DEVNULL)
        return len(files) / (time.perf_counter() - t)

    local_env = {k: v for k, v in env.items() if not k.startswith("TONEARM_")}
    imports = (import_rate(f"{DIR}/local", local_env), import_rate(f"{DIR}/cli", env))
    # One node to sign in and list the tracks (sessions are in the catalog: every node knows them).
    probe = Node("probe", env, 0)
    host, port = probe.addr.split(":")
    token = json.loads(request(host, port, "POST", "/api/v1/auth/login", body=json.dumps({"username": "bench", "password": "bench password"}).encode()))["token"]
    ids = [t["id"] for t in json.loads(request(host, port, "GET", f"/api/v1/tracks?limit={TRACKS}", token))["items"]]
    probe.stop()
    one = run(1, env, token, ids)
    two = run(2, env, token, ids)
    how = f"a CPU quota of {CPU} core each (cgroup)" if cgroup_ok() else "one core each (taskset; no cgroup here)"
    print(f"| {TRACKS} tracks of 20 s, aac-96, PostgreSQL + S3, nodes with {how} | 1 node | 2 nodes | 2 / 1 |")
    print("|---|---|---|---|")
    print(f"| cold segments/s ({PLAYERS} players at once, each through a new track) | {one['cold']:.1f} | {two['cold']:.1f} | {two['cold'] / one['cold']:.2f} |")
    print(f"| warm segments/s through nginx (wrk, 64 connections, {SECS} s) | {one['warm']:.0f} | {two['warm']:.0f} | {two['warm'] / one['warm']:.2f} |")
    print(f"| node CPU per warm segment, µs (all nodes) | {one['cost']:.0f} | {two['cost']:.0f} | {two['cost'] / one['cost']:.2f} |")
    print(f"| errors (non-2xx, socket) | {one['errors']} | {two['errors']} | |")
    print(f"| segments encoded per node (cold pass of {one['segments']} segments) | {one['encoded']} | {two['encoded']} | |")
    print(f"| seconds each node was held back by its quota during the warm run | {one['held']} | {two['held']} | |")
    print()
    print(f"| `tonearm import` of the {TRACKS} FLACs (no CPU quota) | SQLite + disk | PostgreSQL + S3 | PG+S3 / disk |")
    print("|---|---|---|---|")
    print(f"| files/s | {imports[0]:.1f} | {imports[1]:.1f} | {imports[1] / imports[0]:.2f} |")


if __name__ == "__main__":
    sys.exit(main())
