#!/usr/bin/env bash
# Before/after in one run: `scripts/bench-compare.sh BEFORE_BIN [AFTER_BIN]` runs
# scripts/bench-stream.py (cold first segment per rung vs ffmpeg, transcode speed, warm
# segments vs nginx, RSS) and scripts/bench-import.sh (import vs cp, re-import, idle RSS,
# API latency) with each binary in turn, ROUNDS times, default 2 (B, A, B, A: drift on the machine shows as
# a difference between the two rounds of one binary), and keeps every output under
# $OUT (default /tmp/tonearm-compare). AFTER_BIN defaults to a fresh release build.
set -euo pipefail
cd "$(dirname "$0")/.."
before=$(realpath "$1")
if [ -n "${2:-}" ]; then after=$(realpath "$2"); else cargo build --release --locked -q; after=$(realpath target/release/tonearm); fi
out=${OUT:-/tmp/tonearm-compare}
mkdir -p "$out"
for round in $(seq 1 "${ROUNDS:-2}"); do
  for which in before after; do
    bin=$before; [ "$which" = after ] && bin=$after
    echo "== round $round: $which ($bin)" >&2
    TONEARM_BIN=$bin python3 scripts/bench-stream.py > "$out/stream-$which-$round.txt" 2>&1
    TONEARM_BIN=$bin bash scripts/bench-import.sh > "$out/import-$which-$round.txt" 2>&1
  done
done
for f in stream import; do
  for which in before after; do
    for round in $(seq 1 "${ROUNDS:-2}"); do
      echo "===== $f, $which, round $round"
      cat "$out/$f-$which-$round.txt"
    done
  done
done
