#!/usr/bin/env bash
# The README's test command: installs what the build and the tests need, then runs the
# whole suite. Extra arguments go to `cargo test` (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.local/bin:$PATH"  # where a pip-installed cmake lands
bash scripts/bootstrap.sh --test
# The web player's pure modules (web/test/, Node's built-in runner): output only on failure.
out=$(node --test web/test/ 2>&1) || { printf '%s\n' "$out" >&2; echo "test.sh: node --test web/test/ failed" >&2; exit 1; }
exec cargo test --locked "$@"
