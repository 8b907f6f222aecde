#!/usr/bin/env bash
# Refreshes web/vendor/ from npm (the versions below), unchanged, and prints their SHA-256.
set -euo pipefail
cd "$(dirname "$0")/.."
HLS=1.7.4
TUS=4.3.1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "hls.js@$HLS" "tus-js-client@$TUS" >/dev/null && for f in *.tgz; do mkdir "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done)
cp "$tmp/hls.js-$HLS/package/dist/hls.light.min.js" web/vendor/
cp "$tmp/hls.js-$HLS/package/LICENSE" web/vendor/hls.js.LICENSE
cp "$tmp/tus-js-client-$TUS/package/dist/tus.min.js" web/vendor/
cp "$tmp/tus-js-client-$TUS/package/LICENSE" web/vendor/tus-js-client.LICENSE
sha256sum web/vendor/*.js
