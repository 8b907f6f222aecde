#!/usr/bin/env bash
# UPnP/DLNA figures for the closing note of the devices issue, with the release binary:
# ContentDirectory Browse (album pages of 100, one album's tracks, artist pages) and Search
# p50/p99 on the 20,000-track generated library, side by side with minidlna (Debian's
# minidlnad, the media server people run beside Navidrome) serving the same files, in one
# run (scripts/upnp-latency.py). Both on loopback; minidlna's SSDP stays on this machine's
# interfaces as it always does. Needs ffmpeg, mutagen (the generator's) and minidlna
# (installed here with apt when missing). BENCH_DIR as scripts/bench-import.sh; N calls each.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BENCH_DIR:-/tmp/tonearm-bench}
N=${N:-300}
mkdir -p "$B"
T=${TONEARM_BIN:-target/release/tonearm}
[ -n "${TONEARM_BIN:-}" ] || cargo build --release --locked -q
command -v minidlnad >/dev/null || { apt-get install -y -qq minidlna >/dev/null; }
export RUST_LOG="warn,symphonia=error,lofty=error"
[ -d "$B/lib20k" ] || python3 scripts/gen-library.py "$B/lib20k" 20000
R="$B/upnp-$$"; mkdir -p "$R/minidlna"; pids=()
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null; done; rm -rf "$R"' EXIT
echo benchpassword | $T --data-dir "$R/data" user add bench --password-stdin > /dev/null
$T --data-dir "$R/data" import --quiet --user bench "$B/lib20k" > /dev/null
$T --data-dir "$R/data" user upnp bench on > /dev/null
ssdp=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
TONEARM_UPNP__ENABLED=true TONEARM_UPNP__SSDP_PORT=$ssdp RUST_LOG=info $T --data-dir "$R/data" --bind 127.0.0.1:0 serve 2> "$R/serve.log" & pids+=($!)
for _ in $(seq 100); do grep -q "listening on" "$R/serve.log" && break; sleep 0.1; done
addr=$(grep -o "listening on http://[0-9.:]*" "$R/serve.log" | head -1 | sed 's|listening on http://||')
# The device's location, from a unicast search.
location=$(python3 - "$ssdp" <<'PY'
import socket, sys, time
port = int(sys.argv[1]); s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
for _ in range(20):
    s.sendto(f'M-SEARCH * HTTP/1.1\r\nHOST: 127.0.0.1:{port}\r\nMAN: "ssdp:discover"\r\nST: urn:schemas-upnp-org:device:MediaServer:1\r\n\r\n'.encode(), ("127.0.0.1", port))
    try:
        a = s.recv(2048).decode()
        print([l.split(":", 1)[1].strip() for l in a.split("\r\n") if l.upper().startswith("LOCATION:")][0]); break
    except socket.timeout:
        time.sleep(0.5)
PY
)
control="${location%/description.xml}/control/ContentDirectory"
mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$R/minidlna.conf" <<CONF
media_dir=A,$B/lib20k
db_dir=$R/minidlna
log_dir=$R/minidlna
port=$mport
inotify=no
friendly_name=minidlna-bench
album_art_names=cover.jpg
CONF
start=$(date +%s)
minidlnad -f "$R/minidlna.conf" -P "$R/minidlna.pid" -S -R 2> "$R/minidlna.err" & pids+=($!)
# minidlna answers while it scans; wait until its database holds every file.
for _ in $(seq 1800); do
  n=$(python3 - "$R/minidlna/files.db" <<'PY' 2>/dev/null || echo 0
import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("select count(*) from DETAILS where MIME like 'audio/%'").fetchone()[0])
PY
)
  [ "$n" -ge 20000 ] && grep -q "finished" "$R/minidlna/minidlna.log" 2>/dev/null && break
  sleep 1
done
echo "minidlna scanned $n files in $(( $(date +%s) - start )) s" >&2
python3 scripts/upnp-latency.py "$N" "$control" "http://127.0.0.1:$mport/ctl/ContentDir"
