#!/usr/bin/env bash
# The README's test command: installs what the build and the tests need, then runs the
# whole suite. Extra arguments go to `cargo test` (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.local/bin:$PATH"  # where a pip-installed cmake lands
bash scripts/bootstrap.sh --test
# The web player's pure modules (web/test/, Node's built-in runner): output only on failure.
out=$(node --test web/test/ 2>&1) || { printf '%s\n' "$out" >&2; echo "test.sh: node --test web/test/ failed" >&2; exit 1; }
# One throwaway PostgreSQL cluster and one S3 server (Ceph radosgw) for the run, on
# loopback: the catalog, coordination and store tests and the scale-out end-to-end tests
# each make their own database in the cluster and use a prefix of their own in the
# bucket. Both are stopped and removed on exit.
pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/tonearm-pg.XXXXXX")
s3_dir=$(mktemp -d "${TMPDIR:-/tmp}/tonearm-s3.XXXXXX")
trap 'bash scripts/postgres.sh down "$pg_dir"; bash scripts/s3.sh down "$s3_dir"' EXIT
TONEARM_TEST_POSTGRES=$(bash scripts/postgres.sh up "$pg_dir")
bash scripts/s3.sh up "$s3_dir" >/dev/null
# shellcheck disable=SC1091
. "$s3_dir/env"
TONEARM_TEST_S3="http://$S3_ACCESS_KEY:$S3_SECRET_KEY@${S3_ENDPOINT#http://}/$S3_BUCKET"
export TONEARM_TEST_POSTGRES TONEARM_TEST_S3
cargo test --locked "$@"
# The library, upload, HLS, service, crash, cluster, Subsonic and UPnP tests again with every catalog in
# PostgreSQL and every store in S3 (skipped when a filter was given). The two skipped
# tests edit tonearm.db directly to fake a damaged or an old file.
if [ $# -eq 0 ]; then
  TONEARM_TEST_CATALOG=postgres cargo test --locked --test e2e -- library:: uploads:: hls:: services:: durations:: cluster:: hostile:: subsonic:: \
    upnp::upnp_is_off upnp::a_control_point upnp::hostile_or_foreign \
    --skip stored_tracks_with_lying_headers --skip lyrics_of_files_stored_before
fi
