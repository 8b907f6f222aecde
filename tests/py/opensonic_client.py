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
check("formPost" in out["extensions"] and "apiKeyAuthentication" in out["extensions"], "extensions")
lic = conn.get_license()
check(lic.get("license", lic).get("valid") is True, "license")
me = conn.get_user(user)
out["user"] = me.username
check(me.username == user and me.admin_role, "getUser")

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
