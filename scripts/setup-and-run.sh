#!/usr/bin/env bash
# Set up pqaccel on a fresh Debian machine (Python >= 3.11) and run the main job on the default
# configuration: generate the engine's Verilog and co-simulate it against the golden model.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! command -v iverilog >/dev/null || ! command -v ccache >/dev/null; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq iverilog ccache
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e ".[test,train]"   # the package, its test tools and the training extra (JAX, CPU)
.venv/bin/pqaccel generate --preset default --out rtl_out/default
.venv/bin/pqaccel cosim --preset default --sim icarus --rows 200
