#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for the tests, without systemd:
#   scripts/postgres.sh up DIR [PORT]   starts it; prints its URL (also in DIR/url)
#   scripts/postgres.sh down DIR        stops it and removes DIR
#   scripts/postgres.sh stop|start DIR  stops it (fast: sessions are cut) or starts it again
# Debian's `postgresql` package (scripts/bootstrap.sh --test installs it). As root the
# server runs as the `postgres` user (initdb refuses root). Trust authentication on
# 127.0.0.1 and the socket in DIR only; fsync off: test data only.
set -euo pipefail
cmd=${1:?usage: postgres.sh up DIR [PORT] | down DIR}
DIR=${2:?usage: postgres.sh up DIR [PORT] | down DIR}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$BIN/initdb" ] || { echo "postgres.sh: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 2; }
trap 'echo "postgres.sh: failed at line $LINENO: $BASH_COMMAND (exit $?)" >&2' ERR
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
start() {
  as_pg "$BIN/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $2 -k $1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
    start >/dev/null
}
case "$cmd" in
stop) as_pg "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null ;;
start) start "$(cd "$DIR" && pwd)" "$(cat "$DIR/port")" ;;
up)
  PORT=${3:-0}
  if [ "$PORT" = 0 ]; then PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'); fi
  rm -rf "$DIR"; mkdir -p "$DIR"; DIR=$(cd "$DIR" && pwd)
  if [ "$(id -u)" = 0 ]; then chown postgres: "$DIR"; chmod 700 "$DIR"; fi
  as_pg "$BIN/initdb" -D "$DIR/data" -U tonearm -A trust --no-sync -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log"
  echo "$PORT" | as_pg tee "$DIR/port" >/dev/null
  start "$DIR" "$PORT"
  "$BIN/psql" -h "$DIR" -p "$PORT" -U tonearm -d postgres -qAtc "CREATE DATABASE tonearm" >/dev/null
  echo "postgres://tonearm@127.0.0.1:$PORT/tonearm" | as_pg tee "$DIR/url" >/dev/null
  cat "$DIR/url"
  ;;
down)
  [ -d "$DIR/data" ] && as_pg "$BIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$DIR"
  ;;
*) echo "usage: postgres.sh up DIR [PORT] | down|stop|start DIR" >&2; exit 2 ;;
esac
