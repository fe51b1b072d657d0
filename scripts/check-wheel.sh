#!/usr/bin/env bash
# Install pqaccel as a user does (a built wheel, not -e) into a fresh virtual environment and run
# its commands from there: every command's --help, generate, a short cosim, net convert, estimate
# and a tiny dse.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/pqaccel-wheel.XXXXXX")
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --upgrade pip
"$work/venv/bin/pip" wheel -q --no-deps -w "$work/dist" "$repo"
"$work/venv/bin/pip" install -q "$work"/dist/pqaccel-*.whl
cd "$work"                      # away from the source tree: only the installed package is found
pq="$work/venv/bin/pqaccel"
"$work/venv/bin/python" -c "import pqaccel, sys; assert '$repo' not in pqaccel.__file__, pqaccel.__file__"
"$pq" --help >/dev/null
for cmd in config model generate tables cosim synth pnr compare estimate dse build run; do
  "$pq" "$cmd" --help >/dev/null
done
for cmd in convert eval run resnet20 sweep; do
  "$pq" net "$cmd" --help >/dev/null
done
"$pq" config show --help >/dev/null
"$pq" generate --preset default --out "$work/rtl"
"$pq" cosim --preset default --sim icarus --rows 20
"$pq" net convert --onnx "$repo/models/digits_resnet.onnx" --dataset digits --keep first,last --out "$work/net"
"$pq" net eval --bundle "$work/net"
# the resource model ships in the wheel; a sweep runs on a local Dask cluster from the wheel alone
"$pq" estimate --preset resnet20-v9k8-net --target ecp5 >/dev/null
"$pq" dse --onnx "$repo/models/digits_resnet.onnx" --dataset digits --k 4 --v 3 --bits 8 --accuracy kmeans \
  --workers 1 --no-synth --cache "$work/dse-cache" --out "$work/dse" | tail -n 4
echo "wheel check: passed"
