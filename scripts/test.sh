#!/usr/bin/env bash
# The README's test command: installs what the build and the tests need, then runs the
# whole suite. Extra arguments go to `cargo test` (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.local/bin:$PATH"  # where a pip-installed cmake lands
bash scripts/bootstrap.sh --test
exec cargo test --locked "$@"
