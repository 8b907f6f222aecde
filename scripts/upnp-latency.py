#!/usr/bin/env python3
"""ContentDirectory latencies, side by side: the same SOAP Browse and Search calls (album
pages, one album, artist pages, pages of all 20,000 tracks by class, a title search) against
Tonearm's MediaServer and against minidlna, over one keep-alive connection each, on the
same 20,000-track library. Prints p50/p99 (ms) per call and server, and the ratios.

    upnp-latency.py N TONEARM_CONTROL_URL MINIDLNA_CONTROL_URL
"""
import http.client, json, random, re, sys, time, urllib.parse
from xml.sax.saxutils import escape

N = int(sys.argv[1])
SERVERS = {
    "tonearm": {"url": sys.argv[2], "albums": "albums", "artists": "artists"},
    "minidlna": {"url": sys.argv[3], "albums": "1$7", "artists": "1$6"},
}

def call(conn, path, action, args):
    body = ('<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
            's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
            f'<u:{action} xmlns:u="urn:schemas-upnp-org:service:ContentDirectory:1">'
            + "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in args.items()) + f"</u:{action}></s:Body></s:Envelope>")
    t = time.perf_counter()
    conn.request("POST", path, body.encode(), {"Content-Type": 'text/xml; charset="utf-8"',
                 "SOAPACTION": f'"urn:schemas-upnp-org:service:ContentDirectory:1#{action}"'})
    r = conn.getresponse()
    data = r.read().decode()
    dt = (time.perf_counter() - t) * 1000
    if r.status != 200:
        raise SystemExit(f"{action} {args}: HTTP {r.status}: {data[:300]}")
    total = int(re.search(r"<TotalMatches>(\d+)</TotalMatches>", data).group(1))
    result = re.search(r"<Result>(.*)</Result>", data, re.S).group(1)
    return dt, total, result

def browse(conn, path, oid, start, count):
    return call(conn, path, "Browse", {"ObjectID": oid, "BrowseFlag": "BrowseDirectChildren", "Filter": "*",
                                       "StartingIndex": start, "RequestedCount": count, "SortCriteria": ""})

def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]

random.seed(7)
results = {}
for name, srv in SERVERS.items():
    u = urllib.parse.urlsplit(srv["url"])
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    _, n_albums, first = browse(conn, u.path, srv["albums"], 0, 1000)
    # Quotes inside <Result> are escaped by Tonearm and left as they are by minidlna.
    ids = [i.replace("&amp;", "&") for i in re.findall(r'container id=(?:&quot;|")(.*?)(?:&quot;|")', first)]
    if not ids:
        raise SystemExit(f"{name}: no album ids in {first[:400]}")
    _, n_artists, _ = browse(conn, u.path, srv["artists"], 0, 1)
    ops = {
        "albums_page_100": lambda: browse(conn, u.path, srv["albums"], random.randrange(max(1, n_albums - 100)), 100),
        "album_tracks": lambda: browse(conn, u.path, random.choice(ids), 0, 0),
        "artists_page_100": lambda: browse(conn, u.path, srv["artists"], random.randrange(max(1, n_artists - 100)), 100),
        "all_tracks_page_100": lambda: call(conn, u.path, "Search", {"ContainerID": "0", "SearchCriteria":
            'upnp:class derivedfrom "object.item.audioItem"', "Filter": "*",
            "StartingIndex": random.randrange(19_900), "RequestedCount": 100, "SortCriteria": ""}),
        "search_title_100": lambda: call(conn, u.path, "Search", {"ContainerID": "0", "SearchCriteria":
            'upnp:class derivedfrom "object.item.audioItem" and dc:title contains "Sigur"', "Filter": "*",
            "StartingIndex": 0, "RequestedCount": 100, "SortCriteria": ""}),
    }
    out = {"albums": n_albums, "artists": n_artists}
    for op, f in ops.items():
        f()  # warm
        times, totals = [], set()
        for _ in range(N):
            dt, total, _ = f()
            times.append(dt)
            totals.add(total)
        out[op] = {"p50_ms": round(pct(times, 50), 2), "p99_ms": round(pct(times, 99), 2), "totals": sorted(totals)[:3]}
    results[name] = out
for op in ("albums_page_100", "album_tracks", "artists_page_100", "all_tracks_page_100", "search_title_100"):
    t, m = results["tonearm"][op], results["minidlna"][op]
    results.setdefault("ratio_tonearm_over_minidlna", {})[op] = {"p50": round(t["p50_ms"] / m["p50_ms"], 2), "p99": round(t["p99_ms"] / m["p99_ms"], 2)}
print(json.dumps(results, indent=1))
