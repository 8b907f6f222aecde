#!/usr/bin/env python3
"""Subsonic calls side by side with their JSON API equivalents, p50/p99 over one keep-alive
connection each, interleaved in rounds so that both see the same machine:
  - getAlbumList2 type=random size=50      vs /api/v1/albums?sort=title&limit=50&offset=random
    (the JSON API has no random order: the nearest page of 50 albums);
  - getAlbumList2 type=alphabeticalByName  vs /api/v1/albums?sort=title (same page, same offset);
  - search3 query=<word>                   vs /api/v1/search?q=<word>;
  - search3 query="" songCount=500         vs /api/v1/tracks?limit=500 (same offsets).
    python3 scripts/subsonic-latency.py HOST:PORT USER PASSWORD [ALBUMS] [TRACKS]"""
import http.client, json, random, sys, time

host, user, pw = sys.argv[1:4]
albums = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
tracks = int(sys.argv[5]) if len(sys.argv) > 5 else 20000
api, sub = http.client.HTTPConnection(host), http.client.HTTPConnection(host)
api.request("POST", "/api/v1/auth/login", json.dumps({"username": user, "password": pw}))
token = json.loads(api.getresponse().read())["token"]
H = {"Authorization": "Bearer " + token}
# Subsonic with an API key, as apps do after the first sign-in (no per-call password hash).
api.request("POST", "/api/v1/me/api-keys", json.dumps({"label": "bench"}), headers=H)
key = json.loads(api.getresponse().read())["key"]
S = f"apiKey={key}&v=1.16.1&c=bench&f=json"
words = ["bjork", "sigur ros", "track 1234", "album 77", "artist 3", "ros", "track", "zzz"]


def get(conn, path, headers):
    t0 = time.perf_counter()
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    body = r.read()
    dt = (time.perf_counter() - t0) * 1000
    assert r.status == 200, (path, r.status, body[:200])
    if path.startswith("/rest/"):
        assert json.loads(body)["subsonic-response"]["status"] == "ok", body[:300]
    return dt


def pair(label, sub_paths, api_paths, n=1000, rounds=4):
    for sp, ap in list(zip(sub_paths, api_paths))[:20]:  # warm-up
        get(sub, sp, {}), get(api, ap, H)
    ts, ta = [], []
    for r in range(rounds):
        for i in range(n // rounds):
            k = (r * n + i) % len(sub_paths)
            ts.append(get(sub, sub_paths[k], {}))
            ta.append(get(api, api_paths[k], H))
    ts.sort(), ta.sort()
    q = lambda xs, f: xs[min(len(xs) - 1, int(len(xs) * f))]
    print(f"{label:<40} subsonic {q(ts, .5):6.2f}/{q(ts, .99):6.2f} ms   json {q(ta, .5):6.2f}/{q(ta, .99):6.2f} ms"
          f"   p50 ratio {q(ts, .5) / q(ta, .5):4.2f}  p99 ratio {q(ts, .99) / q(ta, .99):4.2f}")


random.seed(1)
offs = [random.randrange(0, max(1, albums - 50)) for _ in range(64)]
print(f"{'call (p50/p99)':<40} {'':>8} {'':>16}")
pair("getAlbumList2 random 50 | albums page",
     [f"/rest/getAlbumList2?{S}&type=random&size=50" for _ in offs],
     [f"/api/v1/albums?sort=title&limit=50&offset={o}" for o in offs])
pair("getAlbumList2 alphabetical 50 | albums",
     [f"/rest/getAlbumList2?{S}&type=alphabeticalByName&size=50&offset={o}" for o in offs],
     [f"/api/v1/albums?sort=title&limit=50&offset={o}" for o in offs])
pair("search3 word | search",
     [f"/rest/search3?{S}&query={w.replace(' ', '%20')}" for w in words],
     [f"/api/v1/search?q={w.replace(' ', '%20')}" for w in words])
toffs = [random.randrange(0, max(1, tracks - 500)) for _ in range(32)]
pair("search3 empty, 500 songs | tracks 500",
     [f"/rest/search3?{S}&query=%22%22&artistCount=0&albumCount=0&songCount=500&songOffset={o}" for o in toffs],
     [f"/api/v1/tracks?limit=500&offset={o}" for o in toffs], n=200)
