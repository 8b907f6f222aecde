#!/usr/bin/env bash
# Scale-out figures, side by side in one run, on a throwaway PostgreSQL and radosgw:
#   1. catalog queries on 20,000 tracks, SQLite vs PostgreSQL (criterion, in process);
#   2. over HTTP (scripts/bench-scaleout.py): upload MB/s and cold first segments with the
#      originals on disk vs in S3 (cache empty, then warm), album/track pages on each;
#   3. two nodes against one behind nginx (scripts/bench-cluster.py): cold and warm
#      segments/s with a CPU quota per node, and import files/s, SQLite + disk vs PG + S3.
# Needs root for the per-node cgroups (else the nodes are pinned to cores), wrk and nginx.
# Needs ffmpeg; builds the release binary.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d "${TMPDIR:-/tmp}/tonearm-scaleout.XXXXXX")
chmod 755 "$work"  # the PostgreSQL server runs as its own user
trap 'bash scripts/postgres.sh down "$work/pg"; bash scripts/s3.sh down "$work/s3"; rm -rf "$work"' EXIT
url=$(bash scripts/postgres.sh up "$work/pg")
bash scripts/s3.sh up "$work/s3" >/dev/null
. "$work/s3/env"
cargo build --release --locked -q
echo "## catalog_20k (criterion; SQLite, then PostgreSQL)"
TONEARM_BENCH_POSTGRES=$url cargo bench --locked --bench library -- 'catalog_20k' --warm-up-time 1 --measurement-time 3 2>/dev/null |
  grep -E '^catalog_20k|time:' | paste - - | sed -E 's/ +/ /g'
psql "$url" -qAtc "CREATE DATABASE http_bench" >/dev/null
export BENCH_POSTGRES_URL="${url%/*}/http_bench"
export TONEARM_STORE__URL="s3://$S3_BUCKET/bench" TONEARM_STORE__ENDPOINT=$S3_ENDPOINT TONEARM_STORE__REGION=$S3_REGION \
  TONEARM_STORE__ACCESS_KEY_ID=$S3_ACCESS_KEY TONEARM_STORE__SECRET_ACCESS_KEY=$S3_SECRET_KEY TONEARM_STORE__ALLOW_HTTP=true
echo "## over HTTP"
python3 scripts/bench-scaleout.py
psql "$url" -qAtc "CREATE DATABASE cluster_bench" >/dev/null
echo "## two nodes against one"
BENCH_POSTGRES_URL="${url%/*}/cluster_bench" python3 scripts/bench-cluster.py
