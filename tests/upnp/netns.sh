#!/usr/bin/env bash
# Runs inside a network namespace of its own (`unshare --net`, by tests/e2e/upnp.rs): a
# private LAN of two namespaces joined by a veth pair, so SSDP multicast stays on it and
# nothing can leave the machine. This namespace holds Tonearm (10.77.0.1) and the control
# point; a second one holds gmediarender (10.77.0.2). The control point discovers both by
# SSDP multicast, browses Tonearm, pushes a track to gmediarender, seeks, and waits for the
# end; its JSON report goes to stdout, the logs to stderr.
#   netns.sh TONEARM_BIN DATA_DIR PYTHON CONTROL_SCRIPT
set -euo pipefail
bin=$1 data=$2 python=$3 script=$4
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for f in "$work"/*.log; do echo "== $(basename "$f")" >&2; tail -n 40 "$f" >&2 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

ip link set lo up
# The renderer's namespace: waits for its end of the pair, then starts gmediarender on it.
unshare --net bash -c '
  while ! ip link show veth1 >/dev/null 2>&1; do sleep 0.05; done
  ip link set lo up
  ip addr add 10.77.0.2/24 dev veth1
  ip link set veth1 up
  ip route add 239.0.0.0/8 dev veth1
  exec gmediarender -I veth1 -p 49494 -f gmediarender-test -u 6f1e2d3c-4b5a-4968-8776-655443322110 \
    --gstout-audiopipe "fakesink sync=true" --logfile stderr
' >"$work/gmediarender.log" 2>&1 &
renderer=$!
pids+=("$renderer")
for _ in $(seq 100); do [ -e "/proc/$renderer/ns/net" ] && [ "$(readlink /proc/$renderer/ns/net)" != "$(readlink /proc/self/ns/net)" ] && break; sleep 0.05; done
ip link add veth0 type veth peer name veth1 netns "$renderer"
ip addr add 10.77.0.1/24 dev veth0
ip link set veth0 up
ip route add 239.0.0.0/8 dev veth0

TONEARM_UPNP__ENABLED=true RUST_LOG=info "$bin" --data-dir "$data" --bind 10.77.0.1:4747 serve >"$work/tonearm.log" 2>&1 &
pids+=("$!")
for _ in $(seq 200); do grep -q "listening on" "$work/tonearm.log" && break; sleep 0.05; done
grep -q "listening on" "$work/tonearm.log" || { echo "tonearm did not start" >&2; exit 1; }
# The renderer announces itself once libupnp is up.
for _ in $(seq 100); do grep -qi "Ready for rendering\|Registered\|UPnP Initialized" "$work/gmediarender.log" && break; sleep 0.1; done
sleep 1

"$python" "$script" play 10.77.0.1 "Tonearm (alice)"
