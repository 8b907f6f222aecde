#!/usr/bin/env bash
# The README's run command: installs what the build needs, builds in release mode and runs
# the server on its embedded defaults (./data, SQLite, 127.0.0.1:4747). Extra arguments go
# to `tonearm`, e.g. `scripts/run.sh --bind 0.0.0.0:4747 serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.local/bin:$PATH"  # where a pip-installed cmake lands
bash scripts/bootstrap.sh
if [ $# -eq 0 ]; then set -- serve; fi
exec cargo run --release --locked -- "$@"
