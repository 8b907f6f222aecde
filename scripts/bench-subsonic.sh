#!/usr/bin/env bash
# Subsonic figures for the closing note of the Subsonic issue, with the release binary:
#   - getAlbumList2 (random, alphabetical) and search3 (a word; the empty query, pages of 500)
#     p50/p99 on the 20,000-track generated library, side by side with the JSON API's
#     equivalents in one run (scripts/subsonic-latency.py);
#   - `stream` time to first byte for never-played 3-minute FLACs (MP3 and AAC transcodes,
#     raw), side by side with `ffmpeg -i FILE -f mp3 pipe:` as a subprocess
#     (scripts/stream-ttfb.py).
# Needs ffmpeg and mutagen (the generator's). BENCH_DIR as scripts/bench-import.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BENCH_DIR:-/tmp/tonearm-bench}
mkdir -p "$B"
T=${TONEARM_BIN:-target/release/tonearm}
[ -n "${TONEARM_BIN:-}" ] || cargo build --release --locked -q
export RUST_LOG="warn,symphonia=error,lofty=error"
[ -d "$B/lib20k" ] || python3 scripts/gen-library.py "$B/lib20k" 20000
if [ ! -d "$B/long" ]; then
  mkdir -p "$B/long"
  for i in 1 2 3 4 5 6 7 8 9; do # 3 minutes each, music-like (tones over noise), 44.1 kHz stereo
    ffmpeg -hide_banner -loglevel error -y -f lavfi -i "sine=f=$((200 + 50 * i)):d=180" -f lavfi -i "anoisesrc=d=180:c=pink:seed=$i:a=0.05" \
      -filter_complex "[0][1]amix=inputs=2,aformat=channel_layouts=stereo" -ar 44100 -c:a flac \
      -metadata title="Long $i" -metadata artist="Bench" -metadata album="Long Tracks" "$B/long/Long $i.flac"
  done
fi
R="$B/subsonic-$$"; mkdir -p "$R"; trap 'kill $pid 2>/dev/null; rm -rf "$R"' EXIT
echo benchpassword | $T --data-dir "$R/data" user add bench --password-stdin > /dev/null
$T --data-dir "$R/data" import --quiet --user bench "$B/lib20k" "$B/long" > /dev/null
RUST_LOG=info $T --data-dir "$R/data" --bind 127.0.0.1:0 serve 2> "$R/serve.log" & pid=$!
for _ in $(seq 100); do grep -q "listening on" "$R/serve.log" && break; sleep 0.1; done
addr=$(grep -o "listening on http://[0-9.:]*" "$R/serve.log" | head -1 | sed 's|listening on http://||')
albums=$(curl -s -H "Authorization: Bearer $(curl -s -d '{"username":"bench","password":"benchpassword"}' "http://$addr/api/v1/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')" "http://$addr/api/v1/albums?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
python3 scripts/subsonic-latency.py "$addr" bench benchpassword "$albums" 20009
python3 scripts/stream-ttfb.py "$addr" bench benchpassword "$B"/long/*.flac
