#!/usr/bin/env python3
"""p50/p99 latency of /api/v1/search and /api/v1/albums over one keep-alive connection.
    python3 scripts/http-latency.py HOST:PORT USER PASSWORD"""
import http.client, json, random, sys, time

host, user, pw = sys.argv[1:4]
c = http.client.HTTPConnection(host)
c.request("POST", "/api/v1/auth/login", json.dumps({"username": user, "password": pw}))
token = json.loads(c.getresponse().read())["token"]
h = {"Authorization": "Bearer " + token}
words = ["bjork", "sigur ros", "track 1234", "album 77", "artist 3", "ros", "track", "zzz"]

def measure(label, paths, n=2000):
    for p in paths[:50]:  # warm-up
        c.request("GET", p, headers=h); c.getresponse().read()
    times = []
    for i in range(n):
        p = paths[i % len(paths)]
        t0 = time.perf_counter(); c.request("GET", p, headers=h); r = c.getresponse(); r.read()
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status == 200, (p, r.status)
    times.sort()
    print(f"{label:<44} {times[len(times)//2]:7.2f} ms p50 {times[int(len(times)*0.99)]:6.2f} ms p99   aim p50<=1")

random.seed(1)
measure("GET /healthz (client + HTTP floor)", ["/healthz"])
measure("GET /api/v1/me (+ token check)", ["/api/v1/me"])
measure("GET /api/v1/search?q=... (limit 20)", ["/api/v1/search?q=" + w.replace(" ", "%20") for w in words])
measure("GET /api/v1/albums?limit=50&offset=rand", [f"/api/v1/albums?limit=50&offset={random.randrange(0, 1950)}" for _ in range(64)])
measure("GET /api/v1/albums (default limit 100)", ["/api/v1/albums"])
