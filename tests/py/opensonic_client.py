"""Drives py-opensonic (a published Subsonic client library) against a live Tonearm.

Usage: python opensonic_client.py BASE_URL PORT USER PASSWORD API_KEY
py-opensonic sends every call as a form POST to /rest/<method>.view with token auth (or
`p=enc:` in legacy mode). Prints one JSON line of what it saw; exits 1 on a failed check.
"""
import json
import sys

import libopensonic
from libopensonic.errors import SonicError

base, port, user, password, api_key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
out = {}


def check(cond, what):
    if not cond:
        print(json.dumps({"failed": what, **out}))
        sys.exit(1)


# Token auth (the default), form POST.
conn = libopensonic.Connection(base, user, password, port=port)
check(conn.ping(), "ping with token auth")
ext = conn.get_open_subsonic_extensions()
out["extensions"] = sorted(e.name for e in ext)
check({"formPost", "apiKeyAuthentication", "transcodeOffset"} <= set(out["extensions"]), "extensions")
lic = conn.get_license()
check(lic.get("license", lic).get("valid") is True, "license")
me = conn.get_user(user)
out["user"] = me.username
check(me.username == user and me.admin_role, "getUser")

# Browse with the library's own models (its parser refuses what the schema does not allow):
# artists by letter, an artist's albums, an album's songs; search, with and without accents,
# and the empty query paging through everything.
artists = conn.get_artists()
bjork = [a for i in artists.index for a in i.artist if a.name == "Björk"]
check(len(bjork) == 1, "Björk in getArtists")
artist = conn.get_artist(bjork[0].id)
out["albums"] = [al.name for al in artist.album]
check(out["albums"] == ["Homogenic"], "getArtist albums")
album = conn.get_album(artist.album[0].id)
out["songs"] = [s.title for s in album.song]
check(out["songs"] == ["Hunter", "Jóga"] and album.song[0].suffix == "flac", "getAlbum songs")
check(conn.get_song(album.song[1].id).title == "Jóga", "getSong")
check([s.title for s in (conn.search3("joga").song or [])] == ["Jóga"], "search3 folds accents")
seen = []
while True:
    page = conn.search3("", artist_count=0, album_count=0, song_count=5, song_offset=len(seen)).song or []
    if not page:
        break
    seen.extend(s.id for s in page)
out["songs_synced"] = len(seen)
check(len(seen) == len(set(seen)) and len(seen) >= 10, "empty search3 pages through every song once")

# Legacy auth: p=enc:hex.
legacy = libopensonic.Connection(base, user, password, port=port, legacy_auth=True)
check(legacy.ping(), "ping with enc: password")

# API key.
keyed = libopensonic.Connection(base, api_key=api_key, port=port)
check(keyed.ping(), "ping with apiKey")

# A wrong password is error 40, which the library raises (or reports as a failed ping).
wrong = libopensonic.Connection(base, user, "wrong password", port=port)
try:
    check(not wrong.ping(), "a wrong password must fail")
    out["wrong_password"] = "ping false"
except SonicError as e:
    out["wrong_password"] = f"{type(e).__name__}: {e}"[:100]

for c in (conn, legacy, keyed, wrong):
    c.cleanup()
print(json.dumps(out))
