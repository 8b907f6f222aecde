#!/usr/bin/env bash
# A throwaway S3 server on loopback for the tests: Ceph's radosgw (Debian's packages; one
# monitor, one in-memory OSD, one gateway; no systemd), with one bucket, `tonearm`.
#   scripts/s3.sh up DIR [PORT]   starts it; prints KEY=VALUE lines (also in DIR/env):
#                                 S3_ENDPOINT S3_REGION S3_BUCKET S3_ACCESS_KEY S3_SECRET_KEY
#   scripts/s3.sh down DIR        stops every process it started and removes DIR
#   scripts/s3.sh stop-gateway|start-gateway DIR   stops radosgw only (the data stays in the
#                                 OSD) or starts it again
# scripts/bootstrap.sh --test installs radosgw, ceph-mon and ceph-osd.
set -euo pipefail
cmd=${1:?usage: s3.sh up DIR [PORT] | down DIR}
DIR=${2:?usage: s3.sh up DIR [PORT] | down DIR}
case "$cmd" in
down)
  if [ -f "$DIR/pids" ]; then
    while read -r pid; do kill "$pid" 2>/dev/null || true; done < "$DIR/pids"
    sleep 0.5
    while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done < "$DIR/pids"
  fi
  rm -rf "$DIR"
  exit 0
  ;;
stop-gateway)
  pid=$(cat "$DIR/run/client.rgw.a.pid")
  kill "$pid"; for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.1; done; kill -9 "$pid"; exit 0
  ;;
start-gateway)
  rm -f "$DIR/run/client.rgw.a.pid"
  radosgw -c "$DIR/ceph.conf" -n client.rgw.a
  for _ in $(seq 1 50); do [ -s "$DIR/run/client.rgw.a.pid" ] && break; sleep 0.1; done
  cat "$DIR/run/client.rgw.a.pid" >> "$DIR/pids"
  . "$DIR/env"; for _ in $(seq 1 300); do curl -s -o /dev/null "$S3_ENDPOINT/" && exit 0; sleep 0.1; done
  echo "s3.sh: the gateway did not come back" >&2; exit 1
  ;;
up) ;;
*) echo "usage: s3.sh up DIR [PORT] | down DIR" >&2; exit 2 ;;
esac
for b in radosgw ceph-mon ceph-osd ceph-authtool monmaptool; do
  command -v "$b" >/dev/null || { echo "s3.sh: $b not found (apt-get install radosgw ceph-mon ceph-osd)" >&2; exit 2; }
done
trap 'echo "s3.sh: failed at line $LINENO: $BASH_COMMAND (exit $?); logs in $DIR/log" >&2' ERR
# Two distinct free ports (the gateway's, the monitor's), held together while chosen.
read -r FREE MON < <(python3 -c 'import socket
a, b = socket.socket(), socket.socket()
a.bind(("127.0.0.1", 0)); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])')
PORT=${3:-$FREE}
rm -rf "$DIR"; mkdir -p "$DIR"/{mon,osd0,run,log,rgw}; DIR=$(cd "$DIR" && pwd)
: > "$DIR/pids"
REGION=us-east-1 BUCKET=tonearm AK=tonearmtest SK=tonearmtestsecret
EP="http://127.0.0.1:$PORT"
FSID=$(cat /proc/sys/kernel/random/uuid)
cat > "$DIR/ceph.conf" <<CONF
[global]
fsid = $FSID
mon host = v1:127.0.0.1:$MON
public network = 127.0.0.0/8
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
# A throwaway monitor whose data is a few megabytes: start and run whatever the disk's
# free share (by default it refuses below 5 % free, which a full build machine reaches).
mon data avail crit = 0
mon data avail warn = 0
osd objectstore = memstore
memstore device bytes = 2147483648
run dir = $DIR/run
log file = $DIR/log/\$name.log
admin socket = $DIR/run/\$name.asok
pid file = $DIR/run/\$name.pid
keyring = $DIR/keyring
mon data = $DIR/mon
osd data = $DIR/osd0
ms bind ipv4 = true
ms bind ipv6 = false
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$PORT tcp_nodelay=1
rgw data = $DIR/rgw
CONF
C="-c $DIR/ceph.conf"
# Runs a command until it succeeds (a monitor just started, or a busy machine, may refuse
# the first calls: "EPERM: problem getting command descriptions from mon").
retry() { for _ in $(seq 1 60); do "$@" && return 0; sleep 0.5; done; "$@"; }
ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
monmaptool --create --addv a "v1:127.0.0.1:$MON" --fsid "$FSID" "$DIR/monmap" >/dev/null
ceph-mon $C --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/keyring"
ceph-mon $C -i a; cat "$DIR/run/mon.a.pid" >> "$DIR/pids"
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
retry ceph $C osd create "$OSD_UUID" >/dev/null
ceph-osd $C -i 0 --mkfs --osd-uuid "$OSD_UUID" >"$DIR/log/osd-mkfs.out" 2>&1
# The OSD picks its ports at random (6800-7300); a start that lost a race for one exits
# non-zero: try again.
for try in 1 2 3; do
  if ceph-osd $C -i 0 2>"$DIR/log/osd.err"; then break; fi
  [ "$try" = 3 ] && { echo "s3.sh: ceph-osd did not start: $(tail -3 "$DIR/log/osd.err")" >&2; exit 1; }
  sleep 1
done
cat "$DIR/run/osd.0.pid" >> "$DIR/pids"
for _ in $(seq 1 120); do ceph $C osd stat 2>/dev/null | grep -q "1 up" && break; sleep 0.5; done
radosgw $C -n client.rgw.a
for _ in $(seq 1 50); do [ -s "$DIR/run/client.rgw.a.pid" ] && break; sleep 0.1; done
cat "$DIR/run/client.rgw.a.pid" >> "$DIR/pids"
for _ in $(seq 1 900); do curl -s -o /dev/null "$EP/" && break; sleep 0.1; done
retry radosgw-admin $C user create --uid=tonearm --display-name=tonearm --access-key=$AK --secret=$SK >/dev/null
# curl signs SigV4 but does not add x-amz-content-sha256, which radosgw requires.
code=$(curl -s -o "$DIR/mkbucket.out" -w '%{http_code}' --aws-sigv4 "aws:amz:$REGION:s3" --user "$AK:$SK" \
  -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" -X PUT "$EP/$BUCKET")
[ "$code" = 200 ] || { echo "s3.sh: creating the bucket: HTTP $code $(cat "$DIR/mkbucket.out")" >&2; exit 1; }
cat > "$DIR/env" <<ENV
S3_ENDPOINT=$EP
S3_REGION=$REGION
S3_BUCKET=$BUCKET
S3_ACCESS_KEY=$AK
S3_SECRET_KEY=$SK
ENV
cat "$DIR/env"
