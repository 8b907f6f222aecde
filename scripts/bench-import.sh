#!/usr/bin/env bash
# Side-by-side import benchmark for the closing note of the foundation issue. Generates
# libraries of 2,000 and 20,000 short tagged files and a few large FLACs under $BENCH_DIR
# (default /tmp/tonearm-bench), then measures, with the release binary:
#   - first import and re-import of each library (files/s);
#   - import of the large FLACs vs `cp` of the same files to the same disk plus `sync`;
#   - idle RSS of `serve` with the 20,000-file library;
#   - /api/v1/search and /api/v1/albums p50/p99 over HTTP (scripts/http-latency.py).
# Needs ffmpeg and mutagen (pip install mutagen). Prints a table of figures and ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BENCH_DIR:-/tmp/tonearm-bench}
mkdir -p "$B"
# TONEARM_BIN picks another build (scripts/bench-compare.sh runs two side by side).
T=${TONEARM_BIN:-target/release/tonearm}
[ -n "${TONEARM_BIN:-}" ] || cargo build --release --locked -q
export RUST_LOG="warn,symphonia=error,lofty=error"
[ -d "$B/lib2k" ] || python3 scripts/gen-library.py "$B/lib2k" 2000
[ -d "$B/lib20k" ] || python3 scripts/gen-library.py "$B/lib20k" 20000
if [ ! -d "$B/large" ]; then
  mkdir -p "$B/large"
  for i in 1 2 3; do # 4 minutes of stereo pink noise each: FLAC barely shrinks it, ~25 MB each
    ffmpeg -hide_banner -loglevel error -y -f lavfi -i "anoisesrc=d=240:c=pink:seed=$i:a=0.3" -ac 2 -ar 44100 \
      -c:a flac -metadata title="Large $i" -metadata artist="Noise" "$B/large/large$i.flac"
  done
fi
# Every run gets fresh directories and nothing is deleted until the end: mass deletion
# right before a run makes ext4's inode allocator crawl and halves both sides' speed.
R="$B/runs-$$"; mkdir -p "$R"; trap 'rm -rf "$R"' EXIT
now() { date +%s.%N; }
count() { find "$1" -type f \( -name '*.mp3' -o -name '*.flac' -o -name '*.m4a' \) | wc -l; }
import_run() { # DATA LIB -> seconds
  local t0 t1; find "$2" -type f -print0 | xargs -0 cat > /dev/null  # page-cached, as in the Polaris figure
  t0=$(now); $T --data-dir "$1" import --quiet --user bench "$2" > "$1.out"; t1=$(now)
  echo "$t1 - $t0" | bc -l
}
fresh() { echo benchpassword | $T --data-dir "$1" user add bench --password-stdin > /dev/null; sync; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
cp_run() { # SRC DEST -> seconds for cp -r + sync
  local t0 t1; sync; t0=$(now); cp -r "$1" "$2"; sync; t1=$(now); echo "$t1 - $t0" | bc -l
}
printf "%-44s %12s %12s\n" "measure" "value" "ratio/aim"
# Small files: three interleaved rounds of cp and import, so both see the same disk.
n=$(count "$B/lib2k"); imp=(); cps=()
for i in 1 2 3; do
  cps+=("$(cp_run "$B/lib2k" "$R/cp2k-$i")")
  D="$R/data-lib2k-$i"; fresh "$D"; imp+=("$(import_run "$D" "$B/lib2k")")
done
s_imp=$(printf "%s\n" "${imp[@]}" | median); s_cp=$(printf "%s\n" "${cps[@]}" | median)
s_re=$(import_run "$R/data-lib2k-3" "$B/lib2k")
printf "%-44s %9.0f/s %12s\n" "first import lib2k ($n files), median of 3" "$(echo "$n / $s_imp" | bc -l)" "aim >=5000"
printf "%-44s %9.0f/s %12s\n" "cp -r + sync of lib2k, median of 3" "$(echo "$n / $s_cp" | bc -l)" ""
printf "%-44s %12.2f %12s\n" "import / cp (small files)" "$(echo "$s_cp / $s_imp" | bc -l)" ""
printf "%-44s %9.0f/s %12s\n" "re-import unchanged lib2k" "$(echo "$n / $s_re" | bc -l)" "aim >=20000"
n=$(count "$B/lib20k"); D="$R/data-lib20k"; fresh "$D"
s1=$(import_run "$D" "$B/lib20k"); s2=$(import_run "$D" "$B/lib20k")
printf "%-44s %9.0f/s %12s\n" "first import lib20k ($n files)" "$(echo "$n / $s1" | bc -l)" "aim >=5000"
printf "%-44s %9.0f/s %12s\n" "re-import unchanged lib20k" "$(echo "$n / $s2" | bc -l)" "aim >=20000"
# Large files: three interleaved rounds of cp and import.
bytes=$(du -cb "$B"/large/*.flac | tail -1 | cut -f1); imp=(); cps=()
for i in 1 2 3; do
  cps+=("$(cp_run "$B/large" "$R/cplarge-$i")")
  D="$R/data-large-$i"; fresh "$D"; imp+=("$(import_run "$D" "$B/large")")
done
s_imp=$(printf "%s\n" "${imp[@]}" | median); s_cp=$(printf "%s\n" "${cps[@]}" | median)
mb_imp=$(echo "$bytes / 1048576 / $s_imp" | bc -l); mb_cp=$(echo "$bytes / 1048576 / $s_cp" | bc -l)
printf "%-44s %7.0f MB/s %12s\n" "import 3 large FLACs ($((bytes / 1048576)) MB), median of 3" "$mb_imp" ""
printf "%-44s %7.0f MB/s %12s\n" "cp + sync of the same files, median of 3" "$mb_cp" ""
printf "%-44s %12.2f %12s\n" "import / cp (large files)" "$(echo "$mb_imp / $mb_cp" | bc -l)" "aim >=0.8"
# Idle RSS and HTTP latency with the 20k library.
D="$R/data-lib20k"
RUST_LOG=info $T --data-dir "$D" --bind 127.0.0.1:0 serve 2> "$B/serve.log" & pid=$!
for _ in $(seq 100); do grep -q "listening on" "$B/serve.log" && break; sleep 0.1; done
addr=$(grep -o "listening on http://[0-9.:]*" "$B/serve.log" | head -1 | sed 's|listening on http://||')
python3 scripts/http-latency.py "$addr" bench benchpassword
sleep 1
printf "%-44s %9d MB %12s\n" "idle RSS of serve after the requests" "$(( $(awk '/VmRSS/{print $2}' /proc/$pid/status) / 1024 ))" "aim <=40"
kill $pid; wait $pid 2>/dev/null || true
