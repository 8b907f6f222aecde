#!/usr/bin/env bash
# Installs what building Tonearm needs beyond a Rust toolchain and a C compiler: cmake,
# which the bundled libopus (opusic-sys) uses at build time. With --test it also installs
# what the tests need: ffmpeg/ffprobe, the independent decoder that judges our output, and
# Node.js with the real third-party clients the tests drive (tests/js: tus-js-client, and
# Playwright driving Debian's Chromium through the web player), nginx for the cluster test, PostgreSQL and Ceph's
# radosgw (S3) for the scale-out tests, curl and openssl for the HTTPS test, mpv, VLC and MPD
# for the radio and MPEG-TS player tests, gmediarender for the UPnP test.
# Idempotent and quiet when everything is present; called by the README's commands.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

apt_install() {
  if have apt-get && [ "$(id -u)" = 0 ]; then
    [ -n "${APT_UPDATED:-}" ] || { apt-get update -qq; APT_UPDATED=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  elif have apt-get && have sudo; then
    [ -n "${APT_UPDATED:-}" ] || { sudo apt-get update -qq; APT_UPDATED=1; }
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    return 1
  fi
}

if ! have cmake; then
  echo "bootstrap: cmake not found, installing it (needed to build the bundled libopus)" >&2
  if apt_install cmake; then
    :
  elif have pip3 || have pip; then
    # PyPI ships cmake as a wheel with the binary inside.
    "$(command -v pip3 || command -v pip)" install --user --quiet cmake
    export PATH="$HOME/.local/bin:$PATH"
  else
    echo "bootstrap: cannot install cmake (no apt-get or pip); install it and retry" >&2
    exit 1
  fi
fi
have cmake || { echo "bootstrap: cmake still missing after install" >&2; exit 1; }

if [ "${1:-}" = "--test" ] && ! have ffmpeg; then
  echo "bootstrap: installing ffmpeg (the independent decoder the tests judge output with)" >&2
  apt_install ffmpeg || { echo "bootstrap: cannot install ffmpeg; install it and retry" >&2; exit 1; }
fi

if [ "${1:-}" = "--test" ]; then
  if ! have node || ! have npm; then
    echo "bootstrap: installing Node.js (runs the real tus client in the tests)" >&2
    apt_install nodejs npm || { echo "bootstrap: cannot install Node.js; install it and retry" >&2; exit 1; }
  fi
  if ! have nginx && [ ! -x /usr/sbin/nginx ]; then
    echo "bootstrap: installing nginx (the load balancer the cluster test runs in front of two nodes)" >&2
    apt_install nginx || { echo "bootstrap: cannot install nginx; install it and retry" >&2; exit 1; }
  fi
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "bootstrap: installing PostgreSQL (the catalog tests run on it as well as on SQLite)" >&2
    apt_install postgresql || { echo "bootstrap: cannot install postgresql; install it and retry" >&2; exit 1; }
  fi
  if ! have radosgw || ! have ceph-mon || ! have ceph-osd; then
    echo "bootstrap: installing Ceph's radosgw (the S3 server the object-store tests run on)" >&2
    apt_install --no-install-recommends radosgw ceph-mon ceph-osd || { echo "bootstrap: cannot install radosgw; install it and retry" >&2; exit 1; }
  fi
  if ! have curl || ! have openssl; then
    echo "bootstrap: installing curl and openssl (the HTTPS test makes a certificate and verifies the server with them)" >&2
    apt_install curl openssl || { echo "bootstrap: cannot install curl and openssl; install them and retry" >&2; exit 1; }
  fi
  if ! have mpv || ! have cvlc || ! have mpd || ! have mpc; then
    echo "bootstrap: installing mpv, VLC and MPD (real players: ICY titles on radio streams, seeking in MPEG-TS HLS)" >&2
    apt_install --no-install-recommends mpv vlc-bin vlc-plugin-base mpd mpc || { echo "bootstrap: cannot install mpv, VLC and MPD; install them and retry" >&2; exit 1; }
  fi
  if ! have gmediarender; then
    echo "bootstrap: installing gmediarender (the UPnP renderer the DLNA media server test pushes tracks to)" >&2
    apt_install --no-install-recommends gmediarender gstreamer1.0-plugins-good gstreamer1.0-plugins-base gstreamer1.0-libav || { echo "bootstrap: cannot install gmediarender; install it and retry" >&2; exit 1; }
  fi
  if ! have chromium && [ ! -x /usr/bin/chromium ]; then
    echo "bootstrap: installing Chromium (the browser the web player's tests run in)" >&2
    apt_install chromium || { echo "bootstrap: cannot install Chromium; install it (or set CHROMIUM=/path) and retry" >&2; exit 1; }
  fi
  root="$(cd "$(dirname "$0")/.." && pwd)"
  # Reinstall when the lock file is newer than the installed tree.
  if [ ! -d "$root/tests/js/node_modules" ] || [ "$root/tests/js/package-lock.json" -nt "$root/tests/js/node_modules/.package-lock.json" ]; then
    echo "bootstrap: installing the test clients (npm ci in tests/js)" >&2
    (cd "$root/tests/js" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
  # Python Subsonic clients (tests/py), in a virtual environment of their own.
  venv="$root/tests/py/.venv"
  if [ ! -x "$venv/bin/python" ] || [ "$root/tests/py/requirements.txt" -nt "$venv/.installed" ]; then
    echo "bootstrap: installing the Python test clients (tests/py/requirements.txt)" >&2
    if ! have python3 || ! python3 -m venv --help >/dev/null 2>&1; then
      apt_install python3 python3-venv || { echo "bootstrap: cannot install python3-venv; install it and retry" >&2; exit 1; }
    fi
    rm -rf "$venv"
    python3 -m venv "$venv" 2>/dev/null || { rm -rf "$venv"; apt_install python3-venv && python3 -m venv "$venv"; }
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/tests/py/requirements.txt"
    touch "$venv/.installed"
  fi
fi
