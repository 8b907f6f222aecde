#!/usr/bin/env bash
# Runs the mutation fuzzer (tests/e2e/fuzz.rs) for SECS seconds (default 600) in a release
# build, round after round with new seeds. An input that aborted the process (a stack
# overflow, which no test can catch) or panicked is copied into testdata/fuzz-regressions/,
# which tests/e2e/hostile.rs then uploads through the real server on every CI run.
#
#   scripts/fuzz.sh [SECS] [ROUND_SECS]
set -uo pipefail
cd "$(dirname "$0")/.."
total="${1:-600}"; round="${2:-120}"
mkdir -p testdata/fuzz-regressions target/fuzz
end=$(( $(date +%s) + total ))
seed=$(date +%s)
while [ "$(date +%s)" -lt "$end" ]; do
  left=$(( end - $(date +%s) )); [ "$left" -lt "$round" ] && round="$left"
  seed=$(( seed + 1 ))
  if ! FUZZ_SECS="$round" FUZZ_SEED="$seed" cargo test --release --test e2e fuzz:: -- --nocapture 2>target/fuzz/last.log; then
    f="target/fuzz/current"
    keep="testdata/fuzz-regressions/$(sha256sum "$f" | cut -c1-16).bin"
    cp "$f" "$keep"
    echo "fuzz: seed $seed crashed on an input, kept as $keep" >&2
    tail -5 target/fuzz/last.log >&2
    for c in target/fuzz/crashes/*; do [ -e "$c" ] && mv "$c" testdata/fuzz-regressions/; done
  else
    grep '^fuzz:' target/fuzz/last.log
  fi
done
